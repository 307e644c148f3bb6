//! The shared RAVDESS copy read as a folder, through its manifest, and as a ZIP; splits
//! on it are speaker-independent.

mod common;

use std::collections::BTreeSet;

use ser_corpus::{
    Corpus, Dataset, ManifestColumns, OpenOptions, Protocol, SplitOptions, check_no_leakage,
    make_splits, open_dataset,
};

fn expect_ravdess_counts(data: &Dataset) {
    assert_eq!(
        data.len(),
        1440,
        "skipped: {:?}",
        &data.skipped[..data.skipped.len().min(5)]
    );
    assert!(data.skipped.is_empty(), "{:?}", data.skipped.first());
    assert_eq!(data.speakers().len(), 24);
    let counts = data.emotion_counts();
    let expected: Vec<(String, usize)> = [
        ("neutral", 96),
        ("calm", 192),
        ("happy", 192),
        ("sad", 192),
        ("angry", 192),
        ("fearful", 192),
        ("disgust", 192),
        ("surprised", 192),
    ]
    .iter()
    .map(|(l, n)| (l.to_string(), *n))
    .collect();
    assert_eq!(counts, expected);
    let speakers: BTreeSet<u32> = data.speakers().iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(speakers, (1..=24).collect());
}

#[test]
fn folder_reads_all_clips_with_scheme() {
    let data = open_dataset(&common::ravdess_dir(), &OpenOptions::default()).unwrap();
    expect_ravdess_counts(&data);
    assert_eq!(data.scheme, Some(Corpus::Ravdess));
    assert_eq!(data.non_audio, 1, "MANIFEST.csv is counted, not listed");
    let clip = &data.clips[0];
    assert_eq!(clip.recording_id, "03-01-01-01-01-01-01");
    assert_eq!(
        (clip.speaker.as_str(), clip.extra["gender"].as_str()),
        ("1", "male")
    );
    let summary = data.summary();
    assert_eq!(summary.unknown_speaker_clips, 0);
    let table = summary.to_string();
    assert!(table.contains("clips:      1440"), "{table}");
}

#[test]
fn manifest_with_actor_column() {
    let csv = common::ravdess_dir().join("MANIFEST.csv");
    let data = open_dataset(&csv, &OpenOptions::default()).unwrap();
    expect_ravdess_counts(&data);
    assert_eq!(data.clips[0].extra["intensity"], "normal");
    // An explicit mapping works the same.
    let explicit = OpenOptions {
        columns: ManifestColumns {
            speaker: Some("actor".into()),
            emotion: Some("emotion".into()),
            path: Some("path".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let again = open_dataset(&csv, &explicit).unwrap();
    let folder = open_dataset(&common::ravdess_dir(), &OpenOptions::default()).unwrap();
    for ((a, b), c) in again.clips.iter().zip(&data.clips).zip(&folder.clips) {
        assert_eq!((&a.speaker, &a.emotion), (&b.speaker, &b.emotion));
        assert_eq!(
            (&a.speaker, &a.emotion, &a.path, &a.recording_id),
            (&c.speaker, &c.emotion, &c.path, &c.recording_id)
        );
    }
}

#[test]
fn splits_on_ravdess_are_speaker_independent() {
    let data = open_dataset(&common::ravdess_dir(), &OpenOptions::default()).unwrap();
    for spec in ["speaker-kfold:5", "speaker-mod:5", "holdout:21,22,23,24"] {
        let protocol: Protocol = spec.parse().unwrap();
        let splits = make_splits(&data, &protocol, &SplitOptions::default()).unwrap();
        for split in &splits {
            check_no_leakage(&data, split).unwrap();
            assert_eq!(split.train.len() + split.val.len() + split.test.len(), 1440);
            assert!(!split.val.is_empty() && !split.test.is_empty());
        }
        if spec == "speaker-kfold:5" {
            // 24 actors over 5 folds: 4 or 5 actors (240 or 300 clips) per fold.
            for split in &splits {
                assert!(
                    [240, 300].contains(&split.test.len()),
                    "{}",
                    split.test.len()
                );
            }
        }
    }
    let holdout = &make_splits(
        &data,
        &"holdout:21,22,23,24".parse().unwrap(),
        &SplitOptions::default(),
    )
    .unwrap()[0];
    assert_eq!(holdout.test.len(), 240);
}

#[test]
fn zip_of_two_actors() {
    let dir = common::ravdess_dir();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for actor in ["Actor_01", "Actor_02"] {
        for file in std::fs::read_dir(dir.join(actor)).unwrap() {
            let path = file.unwrap().path();
            let name = format!(
                "upload/{actor}/{}",
                path.file_name().unwrap().to_str().unwrap()
            );
            entries.push((name, std::fs::read(&path).unwrap()));
        }
    }
    entries.push(("upload/readme.txt".into(), b"hello".to_vec()));
    entries.push(("__MACOSX/upload/._x.flac".into(), b"junk".to_vec()));
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("upload.zip");
    let borrowed: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    common::write_zip(&zip_path, &borrowed);
    let data = open_dataset(&zip_path, &OpenOptions::default()).unwrap();
    assert_eq!(data.len(), 120);
    assert_eq!(data.speakers().len(), 2);
    assert_eq!(data.scheme, Some(Corpus::Ravdess));
    let first = data.clips[0].path.clone();
    assert!(first.is_file());
    let copy = data.clone();
    drop(data);
    assert!(first.is_file(), "extracted files live while a clone does");
    drop(copy);
    assert!(
        !first.exists(),
        "temporary extraction is removed with the dataset"
    );
}
