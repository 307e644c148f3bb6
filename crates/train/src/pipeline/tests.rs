use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use ser_corpus::{Clip, Dataset, FeatureCache};
use ser_features::{FeatureConfig, FeatureMatrix};

use super::featurise::normalise_by_speaker;
use super::samples::{Samples, at_least_two, nuisance_key};
use super::*;
use crate::fit::{FitError, NuisanceKind};
use ser_corpus::Corpus;

fn clip(name: &str, emotion: &str) -> Clip {
    Clip {
        path: PathBuf::from(name),
        speaker: name.to_string(),
        emotion: emotion.to_string(),
        recording_id: name.to_string(),
        corpus: Corpus::Folders,
        extra: Default::default(),
    }
}

fn matrix(value: f32) -> FeatureMatrix {
    FeatureMatrix {
        rows: 2,
        cols: 1,
        data: vec![value; 2],
    }
}

#[test]
fn too_few_emotions_are_the_users_to_mend_and_say_what_was_found() {
    let message = |found: &[&str]| {
        let found = found.iter().map(|s| s.to_string()).collect();
        let error = at_least_two(found, "the corpora share", "corpus-out needs").unwrap_err();
        assert!(!error.is_internal());
        error.to_string()
    };
    assert_eq!(
        message(&[]),
        "the corpora share no emotion; corpus-out needs at least two"
    );
    assert_eq!(
        message(&["sad"]),
        "the corpora share one emotion only (sad); corpus-out needs at least two"
    );
    assert_eq!(
        at_least_two(vec!["a".into(), "b".into()], "", "")
            .unwrap()
            .len(),
        2
    );
    let fit = PipelineError::Fit {
        fold: 2,
        source: FitError::Diverged(7),
    };
    assert!(fit.is_internal());
    assert_eq!(
        fit.to_string(),
        "fold 2: training diverged at epoch 7 (non-finite loss)"
    );
}

#[test]
fn sentences_are_told_apart_within_corpus_and_emotion_speakers_and_corpora_overall() {
    let mut ased = clip("ased/07", "sad");
    ased.extra.insert("sentence".into(), "03".into());
    let mut ravdess = clip("ravdess/1", "sad");
    ravdess.extra.insert("statement".into(), "02".into());
    let key = |c: &Clip, kind| nuisance_key(c, kind).unwrap();
    let pair = |g: &str, c: &str| (g.to_string(), c.to_string());
    assert_eq!(key(&ased, NuisanceKind::Sentence), pair("ased/sad", "03"));
    assert_eq!(
        key(&ravdess, NuisanceKind::Sentence),
        pair("ravdess/sad", "02")
    );
    assert_eq!(key(&ased, NuisanceKind::Speaker), pair("", "ased/07"));
    assert_eq!(key(&ravdess, NuisanceKind::Corpus), pair("", "ravdess"));
    assert_eq!(
        nuisance_key(&clip("x", "sad"), NuisanceKind::Sentence),
        None
    );
}

#[test]
fn speaker_normalisation_removes_each_speakers_mean_from_originals_and_copies() {
    let mut clips = vec![clip("a", "happy"), clip("b", "sad"), clip("c", "sad")];
    clips[1].speaker = "a".into();
    clips[2].speaker = ser_corpus::UNKNOWN_SPEAKER.into();
    let dataset = Dataset::new("d", clips);
    let config = FeatureConfig::named("logmel64-frames+spk").unwrap();
    let m = |v: &[f32]| FeatureMatrix::new(1, v.len(), v.to_vec()).unwrap();
    let mut featurised = Featurised {
        matrices: vec![
            Some(m(&[-10.0, -12.0])),
            Some(m(&[-20.0, -22.0])),
            Some(m(&[-5.0, -7.0])),
        ],
        augmented: vec![vec![m(&[-11.0, -13.0])], Vec::new(), Vec::new()],
        failures: Vec::new(),
        channel_simulation: false,
        alone: Vec::new(),
        train_alone: false,
    };
    normalise_by_speaker(&dataset, &config, &mut featurised);
    // Speaker "a": mean -16 over four frames. The copy, 1 dB down through its channel,
    // loses that dB as a speaker recorded through that channel would.
    assert_eq!(featurised.matrices[0].as_ref().unwrap().data, [6.0, 4.0]);
    assert_eq!(featurised.matrices[1].as_ref().unwrap().data, [-4.0, -6.0]);
    assert_eq!(featurised.augmented[0][0].data, [6.0, 4.0]);
    // Unknown speaker: its own mean.
    assert_eq!(featurised.matrices[2].as_ref().unwrap().data, [1.0, -1.0]);
    // Each clip as it would come alone: its own mean, whatever its speaker.
    let alone: Vec<Vec<f32>> = featurised
        .alone
        .iter()
        .map(|m| m.as_ref().unwrap().data.clone())
        .collect();
    assert_eq!(alone, [[1.0, -1.0]; 3]);
}

#[test]
fn augmented_copies_join_the_training_part_only() {
    let dataset = Dataset::new("d", vec![clip("a", "happy"), clip("b", "sad")]);
    let featurised = Featurised {
        matrices: vec![Some(matrix(1.0)), Some(matrix(2.0))],
        augmented: vec![
            vec![matrix(1.5), matrix(1.6)],
            vec![matrix(2.5), matrix(2.6)],
        ],
        failures: Vec::new(),
        channel_simulation: false,
        alone: Vec::new(),
        train_alone: false,
    };
    let labels = vec!["happy".to_string(), "sad".to_string()];
    let samples = Samples {
        dataset: &dataset,
        featurised: &featurised,
        labels: &labels,
        merged_answers: Vec::new(),
    };

    let train = samples.train_data(&[0, 1], true, None).unwrap();
    assert_eq!(train.len(), 6);
    assert_eq!(train.y, vec![0, 0, 0, 1, 1, 1]);
    assert_eq!(train.x[1], vec![1.5; 2]);

    let val = samples.train_data(&[0, 1], false, None).unwrap();
    assert_eq!(val.y, vec![0, 1]);
    assert_eq!(val.x, vec![vec![1.0; 2], vec![2.0; 2]]);
}

/// Raising the stop flag ends feature extraction at the next clip, not after all of them.
#[test]
fn featurising_stops_at_the_next_clip_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tone_clips(dir.path(), 40, |_| 0.1);
    let config = FeatureConfig::named("logmel64-frames").unwrap();
    let cache = FeatureCache::new(dir.path().join("cache"), ser_corpus::CacheMode::Off);
    let stop = AtomicBool::new(false);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let progress = || {
        done.fetch_add(1, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
    };
    let result = featurise(&dataset, &config, &cache, None, &progress, Some(&stop));
    assert!(matches!(result, Err(PipelineError::Stopped)));
    let done = done.load(Ordering::Relaxed);
    assert!(
        done <= rayon::current_num_threads(),
        "{done} clips featurised"
    );
}

/// `n` half-second tones as WAV files in `dir`, clip k at `step(k)` radians a sample.
fn tone_clips(dir: &std::path::Path, n: usize, step: impl Fn(usize) -> f32) -> Dataset {
    let clips = (0..n)
        .map(|k| {
            let tone = ser_audio::Audio {
                samples: (0..8000)
                    .map(|i| (i as f32 * step(k)).sin() * 0.3)
                    .collect(),
                sample_rate: 16_000,
            };
            let path = dir.join(format!("{k}.wav"));
            std::fs::write(&path, ser_audio::encode_wav_pcm16(&tone)).unwrap();
            let mut clip = clip(&k.to_string(), "happy");
            clip.path = path;
            clip
        })
        .collect();
    Dataset::new(dir, clips)
}

/// Augmented copies are cached like the clips: a second run reads all of them back.
#[test]
fn augmented_copies_come_back_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = tone_clips(dir.path(), 3, |k| 0.01 * (k + 1) as f32);
    let config = FeatureConfig::named("logmel64-frames").unwrap();
    let cache_dir = dir.path().join("cache");
    let cache = FeatureCache::new(&cache_dir, ser_corpus::CacheMode::ReadWrite);
    let augmentation = Augmentation {
        spec: Default::default(),
        copies: 2,
        seed: 5,
    };
    let run = || featurise(&dataset, &config, &cache, Some(&augmentation), &|| {}, None).unwrap();
    let first = run();
    // Each clip and each of its copies is an entry; a second run adds none.
    assert_eq!(walk(&cache_dir).len(), 3 * (1 + 2));
    let second = run();
    assert_eq!(walk(&cache_dir).len(), 3 * (1 + 2));
    assert_eq!(second.augmented, first.augmented);
    assert_ne!(first.augmented[0][0], first.augmented[0][1]);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn clips_normalised_alone_join_the_training_part_only_when_asked() {
    let dataset = Dataset::new("d", vec![clip("a", "happy"), clip("b", "sad")]);
    let mut featurised = Featurised {
        matrices: vec![Some(matrix(1.0)), Some(matrix(2.0))],
        augmented: vec![Vec::new(), Vec::new()],
        failures: Vec::new(),
        channel_simulation: false,
        alone: vec![Some(matrix(0.0)), None],
        train_alone: false,
    };
    let labels = vec!["happy".to_string(), "sad".to_string()];
    let train = |featurised: &Featurised, with_augmented| {
        let samples = Samples {
            dataset: &dataset,
            featurised,
            labels: &labels,
            merged_answers: Vec::new(),
        };
        samples.train_data(&[0, 1], with_augmented, None).unwrap().x
    };
    assert_eq!(train(&featurised, true).len(), 2);
    featurised.train_alone = true;
    assert_eq!(
        train(&featurised, true),
        vec![vec![1.0; 2], vec![0.0; 2], vec![2.0; 2]]
    );
    assert_eq!(
        train(&featurised, false).len(),
        2,
        "validation: originals only"
    );
}
