//! Every clip of a dataset decoded and featurised once (through the feature cache), with
//! its augmented copies and, for `+spk` features, normalised by its speaker.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ser_corpus::{CacheKey, Dataset, FeatureCache};
use ser_features::{Extractor, FeatureConfig, FeatureMatrix, SpeakerMeans, UtteranceNorm};

use super::PipelineError;

/// Features of a dataset's clips, aligned with `dataset.clips` (`None` where a clip failed).
pub struct Featurised {
    /// Each clip's feature matrix, or `None` where it could not be decoded or featurised.
    pub matrices: Vec<Option<FeatureMatrix>>,
    /// Features of augmented copies of each clip; used only while the clip is in a training
    /// part, so augmentation never crosses a split.
    pub augmented: Vec<Vec<FeatureMatrix>>,
    /// Each clip that failed, with why.
    pub failures: Vec<(PathBuf, String)>,
    /// The augmented copies went through simulated rooms and devices.
    pub channel_simulation: bool,
    /// Per-speaker normalised sets only: each clip as it is normalised when it comes alone
    /// (`ser predict` on one file), so that reports can score that case too.
    pub alone: Vec<Option<FeatureMatrix>>,
    /// Training parts also hold each clip normalised alone (per-speaker sets), so that the
    /// model learns the single-file case too.
    pub train_alone: bool,
}

impl Featurised {
    /// Whether training parts hold clips normalised alone (see [`Featurised::train_alone`]).
    pub fn trains_alone(&self) -> bool {
        self.train_alone && !self.alone.is_empty()
    }

    /// Augmented copies per clip (0 without waveform augmentation).
    pub fn augmented_copies(&self) -> usize {
        self.augmented.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// Waveform augmentation: `copies` random draws of `spec` per clip, seeded per clip.
#[derive(Debug, Clone)]
pub struct Augmentation {
    /// The waveform augmentations to draw from.
    pub spec: ser_audio::augment::AugmentSpec,
    /// Augmented copies per clip (0: none).
    pub copies: usize,
    /// Seeds the draws; each copy's seed also depends on its clip and copy number.
    pub seed: u64,
}

type ClipFeatures = (FeatureMatrix, Vec<FeatureMatrix>);

/// Decodes and featurises every clip in parallel (one extractor per worker thread), plus
/// augmented copies when asked, reading and filling `cache` for both (a copy's entry is keyed
/// by its clip, the augmentation and its seed). A clip that cannot be decoded is
/// recorded in `failures`, not fatal. Raising `stop` ends the work at the next clip.
pub fn featurise(
    dataset: &Dataset,
    config: &FeatureConfig,
    cache: &FeatureCache,
    augmentation: Option<&Augmentation>,
    progress: &(dyn Fn() + Sync),
    stop: Option<&AtomicBool>,
) -> Result<Featurised, PipelineError> {
    let stopped = || stop.is_some_and(|s| s.load(Ordering::Relaxed));
    let config_key = serde_json::to_string(config).expect("a feature config serialises");
    Extractor::new(config)?;
    let results: Vec<Result<ClipFeatures, String>> = dataset
        .clips
        .par_iter()
        .enumerate()
        .map_init(
            || Extractor::new(config).expect("config validated above"),
            |extractor, (index, clip)| {
                if stopped() {
                    return Err(PipelineError::Stopped.to_string());
                }
                let clip_key = CacheKey::for_file(&clip.path, &config_key);
                let result = clip_key.map_err(|e| e.to_string()).and_then(|key| {
                    let m = featurise_clip(extractor, config, cache, &key, &clip.path)?;
                    let copy = CopyOf {
                        index,
                        path: &clip.path,
                        key: &key,
                    };
                    let copies = augmented_copies(extractor, config, cache, augmentation, copy)?;
                    Ok((m, copies))
                });
                progress();
                result
            },
        )
        .collect();

    if stopped() {
        return Err(PipelineError::Stopped);
    }
    let mut featurised = Featurised {
        matrices: Vec::new(),
        augmented: Vec::new(),
        failures: Vec::new(),
        channel_simulation: augmentation
            .is_some_and(|a| a.copies > 0 && a.spec.simulates_channels()),
        alone: Vec::new(),
        train_alone: false,
    };
    for (clip, result) in dataset.clips.iter().zip(results) {
        match result {
            Ok((m, copies)) => {
                featurised.matrices.push(Some(m));
                featurised.augmented.push(copies);
            }
            Err(why) => {
                featurised.matrices.push(None);
                featurised.augmented.push(Vec::new());
                featurised.failures.push((clip.path.clone(), why));
            }
        }
    }
    if featurised.matrices.iter().all(Option::is_none) {
        let first = featurised.failures.first();
        return Err(PipelineError::NothingFeaturised {
            failures: featurised.failures.len(),
            first: first.map_or(String::new(), |(path, why)| {
                format!("{}: {why}", path.display())
            }),
        });
    }
    if config.utterance_norm == UtteranceNorm::Speaker {
        normalise_by_speaker(dataset, config, &mut featurised);
    }
    Ok(featurised)
}

/// Subtracts from every clip (and its augmented copies) the band means of all of its
/// speaker's clips: what a speaker and a recording set-up add to every clip goes, the
/// differences between one speaker's clips stay. Unlabelled audio of each test speaker is
/// used (no labels), as speaker normalisation in the literature does. Clips of an unknown
/// speaker get their own mean removed, as prediction of a single clip does. Augmented copies
/// keep their original's offset from the speaker's means but lose the simulated channel.
pub(super) fn normalise_by_speaker(
    dataset: &Dataset,
    config: &FeatureConfig,
    featurised: &mut Featurised,
) {
    let mut speakers: std::collections::HashMap<&str, SpeakerMeans> = Default::default();
    for (clip, matrix) in dataset.clips.iter().zip(&featurised.matrices) {
        if let Some(m) = matrix
            && clip.speaker != ser_corpus::UNKNOWN_SPEAKER
        {
            speakers
                .entry(clip.speaker.as_str())
                .or_default()
                .add(m, &config.frame_levels(m));
        }
    }
    featurised.alone = featurised
        .matrices
        .iter()
        .map(|m| {
            m.clone().map(|mut m| {
                config.normalise_alone(&mut m);
                m
            })
        })
        .collect();
    for (k, clip) in dataset.clips.iter().enumerate() {
        let Some(original) = featurised.matrices[k].as_mut() else {
            continue;
        };
        let Some(means) = speakers.get(clip.speaker.as_str()) else {
            let copies = featurised.augmented[k].iter_mut();
            for m in std::iter::once(original).chain(copies) {
                config.normalise_alone(m);
            }
            continue;
        };
        // Each augmented copy went through its own room or device: its speaker's means are
        // moved through that channel, as a test speaker's would be recorded there.
        let clean = SpeakerMeans::of_clip(original, &config.frame_levels(original));
        for copy in featurised.augmented[k].iter_mut() {
            let through = SpeakerMeans::of_clip(copy, &config.frame_levels(copy));
            means.through_channel(&clean, &through).subtract(copy);
        }
        means.subtract(original);
    }
}

/// The clip whose augmented copies are made: its place in the dataset (which seeds the
/// copies) and its file's cache key.
pub(super) struct CopyOf<'a> {
    pub(super) index: usize,
    pub(super) path: &'a std::path::Path,
    pub(super) key: &'a CacheKey,
}

/// Features of `augmentation.copies` augmented versions of one clip (none without
/// augmentation), from the cache when an earlier run made the same copies.
pub(super) fn augmented_copies(
    extractor: &mut Extractor,
    config: &FeatureConfig,
    cache: &FeatureCache,
    augmentation: Option<&Augmentation>,
    clip: CopyOf,
) -> Result<Vec<FeatureMatrix>, String> {
    let Some(augmentation) = augmentation.filter(|a| a.copies > 0) else {
        return Ok(Vec::new());
    };
    let spec = serde_json::to_string(&augmentation.spec).map_err(|e| e.to_string())?;
    let audio = std::cell::OnceCell::new();
    (0..augmentation.copies)
        .map(|copy| {
            let seed = augmentation.seed ^ (((clip.index as u64) << 16) | copy as u64);
            let key = clip.key.derive(&format!("augmented {spec} seed {seed}"));
            cache.get_or_compute(&key, || {
                if audio.get().is_none() {
                    let decoded = ser_audio::load(clip.path, &load_options(config))
                        .map_err(|e| e.to_string())?;
                    let _ = audio.set(decoded);
                }
                let samples = &audio.get().expect("decoded above").samples;
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let copy = ser_audio::augment::apply(
                    &augmentation.spec,
                    samples,
                    config.sample_rate,
                    &mut rng,
                );
                extractor
                    .extract(&copy)
                    .map_err(|e| format!("{}: augmented copy: {e}", clip.path.display()))
            })
        })
        .collect()
}

pub(super) fn load_options(config: &FeatureConfig) -> ser_audio::LoadOptions {
    ser_audio::LoadOptions {
        target_rate: Some(config.sample_rate),
        ..Default::default()
    }
}

pub(super) fn featurise_clip(
    extractor: &mut Extractor,
    config: &FeatureConfig,
    cache: &FeatureCache,
    key: &CacheKey,
    path: &std::path::Path,
) -> Result<FeatureMatrix, String> {
    cache.get_or_compute(key, || {
        let audio = ser_audio::load(path, &load_options(config)).map_err(|e| e.to_string())?;
        extractor
            .extract(&audio.samples)
            .map_err(|e| format!("{}: {e}", path.display()))
    })
}
