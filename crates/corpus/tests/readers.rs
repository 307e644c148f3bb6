//! Folder trees, schemes detected from made-up names, manifests and their errors.

mod common;

use std::fs;

use ser_corpus::{Corpus, CorpusError, OpenOptions, SchemeChoice, UNKNOWN_SPEAKER, open_dataset};

#[test]
fn emotion_folders_at_any_depth() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(
        tmp.path(),
        &[
            "set/Actor_01/Angry/take1.wav",
            "set/Actor_01/sad/take2.mp3",
            "set/speaker_b/deep/fear/x/take3.ogg",
            "set/happiness/take4.webm",
            "set/misc/take5.wav",
            "set/readme.md",
            "set/.hidden/angry/take6.wav",
            "set/__MACOSX/angry/._take7.wav",
        ],
    );
    let data = open_dataset(tmp.path(), &OpenOptions::default()).unwrap();
    let got: Vec<(&str, &str)> = data
        .clips
        .iter()
        .map(|c| (c.speaker.as_str(), c.emotion.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("1", "angry"),
            ("1", "sad"),
            (UNKNOWN_SPEAKER, "happy"),
            ("b", "fearful")
        ]
    );
    assert_eq!(data.scheme, None);
    assert_eq!(data.skipped.len(), 1);
    assert!(data.skipped[0].path.ends_with("misc/take5.wav"));
    assert_eq!(data.non_audio, 1);
    let summary = data.summary();
    assert_eq!(summary.unknown_speaker_clips, 1);
    assert!(
        summary
            .to_string()
            .contains("speaker unknown for 1 of 4 clips")
    );
}

fn open_names(names: &[&str]) -> ser_corpus::Dataset {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), names);
    open_dataset(tmp.path(), &OpenOptions::default()).unwrap()
}

#[test]
fn schemes_are_detected_per_dataset() {
    let cases: &[(&[&str], Corpus, &str, &str)] = &[
        (
            &["1001_DFA_ANG_XX.wav", "1002_IEO_HAP_HI.wav"],
            Corpus::CremaD,
            "1001",
            "angry",
        ),
        (
            &[
                "TESS/OAF_angry/OAF_back_angry.wav",
                "TESS/YAF_ps/YAF_bath_ps.wav",
            ],
            Corpus::Tess,
            "OAF",
            "angry",
        ),
        (
            &["ALL/DC_a01.wav", "ALL/JK_sa02.wav"],
            Corpus::Savee,
            "DC",
            "angry",
        ),
        (
            &["wav/03a01Fa.wav", "wav/16b10Lb.wav"],
            Corpus::EmoDb,
            "03",
            "happy",
        ),
        (
            &[
                "CASIA/liuchanhg/angry/201.wav",
                "CASIA/wangzhe/surprise/202.wav",
            ],
            Corpus::Casia,
            "liuchanhg",
            "angry",
        ),
        (
            &[
                "Actor_01/03-01-05-02-01-01-01.wav",
                "Actor_02/03-01-04-01-01-01-02.wav",
            ],
            Corpus::Ravdess,
            "1",
            "angry",
        ),
    ];
    for (names, corpus, speaker, emotion) in cases {
        let data = open_names(names);
        assert_eq!(data.scheme, Some(*corpus), "{names:?}");
        assert_eq!(data.len(), names.len(), "{:?}", data.skipped);
        assert_eq!(
            (
                data.clips[0].speaker.as_str(),
                data.clips[0].emotion.as_str()
            ),
            (*speaker, *emotion),
            "{names:?}"
        );
    }
}

#[test]
fn short_codes_take_speaker_from_folder_or_unknown() {
    let data = open_names(&[
        "spk1/a_01.wav",
        "spk1/su_02.wav",
        "spk2/n_01.wav",
        "sa_09.wav",
    ]);
    assert_eq!(data.scheme, Some(Corpus::ShortCode));
    let got: Vec<(&str, &str)> = data
        .clips
        .iter()
        .map(|c| (c.speaker.as_str(), c.emotion.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (UNKNOWN_SPEAKER, "sad"),
            ("1", "angry"),
            ("1", "surprised"),
            ("2", "neutral")
        ]
    );
    // Names only unique within a folder: the recording id keeps the folder.
    assert_eq!(data.clips[1].recording_id, "spk1/a_01");
}

#[test]
fn forcing_a_scheme_skips_other_names() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["03a01Fa.wav", "angry/x.wav", "angry/y.wav"]);
    let auto = open_dataset(tmp.path(), &OpenOptions::default()).unwrap();
    assert_eq!(
        (auto.scheme, auto.len()),
        (None, 2),
        "no majority: folders only"
    );
    let forced = OpenOptions {
        scheme: SchemeChoice::Force(Corpus::EmoDb),
        ..Default::default()
    };
    let data = open_dataset(tmp.path(), &forced).unwrap();
    assert_eq!((data.len(), data.skipped.len()), (1, 2));
    assert_eq!(data.clips[0].corpus, Corpus::EmoDb);
}

#[test]
fn empty_and_unsupported_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["misc/a.wav", "b.txt"]);
    let err = open_dataset(tmp.path(), &OpenOptions::default()).unwrap_err();
    assert!(matches!(err, CorpusError::EmptyDataset { .. }), "{err}");
    assert!(err.to_string().contains("misc/a.wav"), "{err}");
    let txt = tmp.path().join("b.txt");
    assert!(matches!(
        open_dataset(&txt, &OpenOptions::default()),
        Err(CorpusError::UnsupportedInput { .. })
    ));
    assert!(matches!(
        open_dataset(&tmp.path().join("nope"), &OpenOptions::default()),
        Err(CorpusError::Io { .. })
    ));
}

fn manifest(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("list.csv");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn manifest_reads_rows_relative_to_csv() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["audio/1.wav", "audio/2.wav", "audio/3.wav"]);
    let csv = manifest(
        tmp.path(),
        "File,Speaker,Label,Split,note\naudio/1.wav,A,Anger,train,x\naudio/2.wav,B,fea,test,y\naudio/3.wav,,neu,dev,z\naudio/gone.wav,A,sad,train,w\n",
    );
    let data = open_dataset(&csv, &OpenOptions::default()).unwrap();
    assert_eq!(data.len(), 3);
    let c = &data.clips[0];
    assert_eq!(
        (
            c.speaker.as_str(),
            c.emotion.as_str(),
            c.extra["split"].as_str(),
            c.extra["note"].as_str()
        ),
        ("A", "angry", "train", "x")
    );
    assert_eq!(c.path, tmp.path().join("audio/1.wav"));
    assert_eq!(data.clips[2].speaker, UNKNOWN_SPEAKER);
    assert_eq!(data.clips[2].extra["split"], "val");
    assert_eq!(data.skipped.len(), 1);
    assert!(
        data.skipped[0].reason.contains("line 5"),
        "{}",
        data.skipped[0].reason
    );
}

#[test]
fn manifest_errors_name_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["a.wav", "b.wav"]);
    let cases = [
        (
            "path,emotion\na.wav,angry\nb.wav,banana\n",
            "line 3",
            "banana",
        ),
        ("path,emotion\na.wav,angry\n,sad\n", "line 3", "empty path"),
        ("path,emotion\na.wav,\n", "line 2", "empty emotion"),
        ("path,emotion,split\na.wav,sad,later\n", "line 2", "later"),
        (
            "path,emotion\na.wav,sad\na.wav,sad\n",
            "line 3",
            "first on line 2",
        ),
        ("path,emotion\na.wav,sad,extra\n", "line 2", ""),
        ("file_path_missing,emotion\na.wav,sad\n", "list.csv", "path"),
    ];
    for (text, line, detail) in cases {
        let csv = manifest(tmp.path(), text);
        let err = open_dataset(&csv, &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("list.csv") && err.contains(line) && err.contains(detail),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn manifest_accepts_windows_separators() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["Actor_01/03-01-05-02-01-01-01_noise.wav"]);
    let csv = manifest(
        tmp.path(),
        "path,emotion\nActor_01\\03-01-05-02-01-01-01_noise.wav,angry\n",
    );
    let data = open_dataset(&csv, &OpenOptions::default()).unwrap();
    assert_eq!(data.len(), 1, "{:?}", data.skipped);
    assert_eq!(data.clips[0].recording_id, "03-01-05-02-01-01-01");
}

#[test]
fn manifest_keeps_unknown_labels_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["a.wav"]);
    let csv = manifest(tmp.path(), "path,emotion\na.wav,Sarcastic\n");
    let opts = OpenOptions {
        keep_unknown_labels: true,
        ..Default::default()
    };
    assert_eq!(
        open_dataset(&csv, &opts).unwrap().clips[0].emotion,
        "sarcastic"
    );
}

#[test]
fn manifest_without_speaker_column_uses_scheme_names() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["03-01-05-02-01-01-12.wav", "x.wav"]);
    let csv = manifest(
        tmp.path(),
        "path,emotion\n03-01-05-02-01-01-12.wav,angry\nx.wav,sad\n",
    );
    let data = open_dataset(&csv, &OpenOptions::default()).unwrap();
    assert_eq!(data.clips[0].speaker, "12");
    assert_eq!(data.clips[1].speaker, UNKNOWN_SPEAKER);
}

#[cfg(unix)]
#[test]
fn linked_files_and_folders_are_followed() {
    let tmp = tempfile::tempdir().unwrap();
    common::touch_all(tmp.path(), &["pool/one.wav", "pool/two.wav"]);
    let data_dir = tmp.path().join("data");
    fs::create_dir_all(data_dir.join("sad")).unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("pool/one.wav"),
        data_dir.join("sad/one.wav"),
    )
    .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("pool"), data_dir.join("angry")).unwrap();
    let data = open_dataset(&data_dir, &OpenOptions::default()).unwrap();
    let labels: Vec<&str> = data.clips.iter().map(|c| c.emotion.as_str()).collect();
    assert_eq!(labels, ["angry", "angry", "sad"]);
}
