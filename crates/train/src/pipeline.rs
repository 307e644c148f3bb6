//! From a dataset on disk to an evaluation report: decode and featurise every clip (through
//! the feature cache), split by the chosen protocol, fit per fold, score the held-out part.
//!
//! This is the one path the CLI's `eval` (and later `compare`, the web app's test jobs) use,
//! so feature extraction for training and scoring is always the code that prediction uses.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use ser_corpus::{CacheKey, Clip, Dataset, FeatureCache, Split, SplitOptions};
use ser_features::{Extractor, FeatureConfig, FeatureMatrix, SpeakerMeans, UtteranceNorm};
use ser_model::Predictor;
use ser_model::bundle::ModelSpec;
use ser_model::input::FeatureView;

use crate::fit::{
    EpochReport, FitConfig, FitError, Nuisance, NuisanceKind, TrainData, argmax, fit,
};
use crate::folds::{FoldResult, FoldStore, FoldStoreError, TestPredictions};
use crate::metrics::{EvalInput, MetricsError};
use crate::report::{
    DatasetInfo, EvalReport, FoldReport, ModelInfo, Protocol, ReportError, UnseenCorpusCalibration,
};

/// Why an evaluation or a training run could not go on. [`PipelineError::is_internal`] tells
/// the errors a user can act on (the data, the request) from those of the software or the
/// machine.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The feature set cannot be computed as configured.
    #[error(transparent)]
    Features(#[from] ser_features::FeatureError),
    #[error("no clip of the dataset could be featurised ({failures} failed; first: {first})")]
    NothingFeaturised { failures: usize, first: String },
    #[error(transparent)]
    Corpus(#[from] ser_corpus::CorpusError),
    /// The labels of the data leave fewer than two emotions to tell apart.
    #[error("{holds} {}; {needs} at least two", match found.as_slice() {
        [] => "no emotion".to_owned(),
        [only] => format!("one emotion only ({only})"),
        more => format!("the emotions {}", more.join(", ")),
    })]
    TooFewEmotions {
        found: Vec<String>,
        /// What holds them, e.g. "the dataset holds".
        holds: &'static str,
        /// What needs two, e.g. "training needs".
        needs: &'static str,
    },
    #[error("the dataset has no usable labels")]
    NoUsableLabels,
    #[error("no clip of the dataset has an emotion the model knows ({})", known.join(", "))]
    NoKnownEmotion { known: Vec<String> },
    #[error("there is no fold {fold}: {protocol} has folds 0 to {last}")]
    NoSuchFold {
        fold: usize,
        protocol: String,
        last: usize,
    },
    #[error("fold {fold} is being run by another process (see {})", store.display())]
    FoldTaken { fold: usize, store: PathBuf },
    #[error("fold {fold}: {source}")]
    Fit { fold: usize, source: FitError },
    #[error("fold {fold}: {source}")]
    Predict { fold: usize, source: PredictError },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Folds(#[from] FoldStoreError),
    /// The caller's stop flag was raised.
    #[error("stopped")]
    Stopped,
}

impl PipelineError {
    /// True for a fault of the software or the machine (training, prediction or the report
    /// failed on valid input), false for a problem with the data or the request, which the
    /// user can mend.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            PipelineError::Fit { .. } | PipelineError::Predict { .. } | PipelineError::Report(_)
        )
    }

    fn predict(fold: usize, source: impl Into<PredictError>) -> PipelineError {
        PipelineError::Predict {
            fold,
            source: source.into(),
        }
    }
}

/// Why a trained model could not score clips.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Load(#[from] ser_model::BundleError),
    #[error(transparent)]
    Input(#[from] ser_model::input::InputError),
}

/// Features of a dataset's clips, aligned with `dataset.clips` (`None` where a clip failed).
pub struct Featurised {
    pub matrices: Vec<Option<FeatureMatrix>>,
    /// Features of augmented copies of each clip; used only while the clip is in a training
    /// part, so augmentation never crosses a split.
    pub augmented: Vec<Vec<FeatureMatrix>>,
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
    pub spec: ser_audio::augment::AugmentSpec,
    pub copies: usize,
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
fn normalise_by_speaker(dataset: &Dataset, config: &FeatureConfig, featurised: &mut Featurised) {
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
struct CopyOf<'a> {
    index: usize,
    path: &'a std::path::Path,
    key: &'a CacheKey,
}

/// Features of `augmentation.copies` augmented versions of one clip (none without
/// augmentation), from the cache when an earlier run made the same copies.
fn augmented_copies(
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

fn load_options(config: &FeatureConfig) -> ser_audio::LoadOptions {
    ser_audio::LoadOptions {
        target_rate: Some(config.sample_rate),
        ..Default::default()
    }
}

fn featurise_clip(
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

/// What to cross-validate: a model, the features it sees, its training settings.
pub struct Experiment {
    pub features: FeatureConfig,
    pub fit: FitConfig,
    pub protocol: ser_corpus::Protocol,
    pub split: SplitOptions,
}

/// Which folds a cross-validation runs and where it keeps them.
#[derive(Debug, Default)]
pub struct FoldPlan {
    /// Keeps finished folds and the running fold's checkpoints, and supplies the folds an
    /// earlier (or parallel) run finished.
    pub store: Option<FoldStore>,
    /// Run only these folds (numbered as in the report); the report waits for the others.
    pub only: Option<Vec<usize>>,
    /// Folds trained at once, each on its share of the threads (0: one per thread; 1: one
    /// after another). The figures are the same either way.
    pub jobs: usize,
}

/// What [`cross_validate`] reports while it runs.
#[derive(Debug, Clone, Copy)]
pub enum FoldEvent<'a> {
    /// An epoch of fold `.0` finished.
    Epoch(usize, &'a EpochReport),
    /// A fold finished training here (and was stored, with a store).
    Finished(&'a FoldResult),
}

/// The outcome of [`cross_validate`].
#[derive(Debug)]
pub enum CrossValidation {
    Report(Box<EvalReport>),
    /// This run's folds are stored; these are still to run.
    Unfinished {
        missing: Vec<usize>,
    },
}

/// Cross-validates `experiment` on `dataset`: per split, fit on the training speakers (early
/// stopping on the validation speakers), score the test speakers. Runs the folds `plan` asks
/// for (all by default) and reuses those its store holds; the report is made once every fold
/// is finished, here or in the store.
pub fn cross_validate(
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
    plan: &FoldPlan,
    progress: impl FnMut(FoldEvent) + Send,
) -> Result<CrossValidation, PipelineError> {
    let labels = protocol_labels(dataset, featurised, &experiment.protocol)?;
    let splits = ser_corpus::make_splits(dataset, &experiment.protocol, &experiment.split)?;
    if let Some(unknown) = plan.only.iter().flatten().find(|&&k| k >= splits.len()) {
        return Err(PipelineError::NoSuchFold {
            fold: *unknown,
            protocol: experiment.protocol.to_string(),
            last: splits.len() - 1,
        });
    }
    let samples = Samples {
        dataset,
        featurised,
        labels: &labels,
        merged_answers: Vec::new(),
    };
    let wanted: Vec<usize> = (0..splits.len())
        .filter(|fold| plan.only.as_ref().is_none_or(|only| only.contains(fold)))
        .collect();
    let progress = Mutex::new(progress);
    let report = |event: FoldEvent| (progress.lock().expect("progress lock"))(event);
    let outcomes = crate::parallel::run_each(&wanted, plan.jobs, |&fold| {
        let split = &splits[fold];
        match &plan.store {
            None => {
                let result = run_fold(&samples, &experiment.fit, split, fold, |r| {
                    report(FoldEvent::Epoch(fold, r))
                })?;
                report(FoldEvent::Finished(&result));
                Ok(Some(result))
            }
            Some(store) => {
                let explicit = plan.only.is_some();
                kept_fold(store, &samples, experiment, split, fold, explicit, &report)
            }
        }
    })?;
    let mut results = Vec::new();
    let mut missing: Vec<usize> = (0..splits.len()).filter(|k| !wanted.contains(k)).collect();
    for (fold, outcome) in wanted.into_iter().zip(outcomes) {
        match outcome {
            Some(result) => results.push(result),
            None => missing.push(fold),
        }
    }
    // Folds not run here that the store holds (from earlier or parallel runs).
    if let Some(store) = &plan.store {
        for fold in std::mem::take(&mut missing) {
            match store.finished(fold)? {
                Some(result) => results.push(result),
                None => missing.push(fold),
            }
        }
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        return Ok(CrossValidation::Unfinished { missing });
    }
    results.sort_by_key(|r| r.report.fold);
    let report = assemble_report(dataset, featurised, experiment, labels.len(), results)?;
    Ok(CrossValidation::Report(Box::new(report)))
}

/// Fold `fold` as `store` holds it, or trained (checkpoints in the store, resumed when there)
/// and stored; `None` while another process runs it, an error if that fold was asked for
/// explicitly.
fn kept_fold(
    store: &FoldStore,
    samples: &Samples,
    experiment: &Experiment,
    split: &Split,
    fold: usize,
    explicit: bool,
    progress: &(dyn Fn(FoldEvent) + Sync),
) -> Result<Option<FoldResult>, PipelineError> {
    if let Some(result) = store.finished(fold)? {
        return Ok(Some(result));
    }
    let Some(_claim) = store.claim(fold)? else {
        return match explicit {
            true => Err(PipelineError::FoldTaken {
                fold,
                store: store.dir().to_path_buf(),
            }),
            false => Ok(None),
        };
    };
    // Another process may have finished it just before the claim.
    if let Some(result) = store.finished(fold)? {
        return Ok(Some(result));
    }
    let mut fit = experiment.fit.clone();
    fit.checkpoint_dir = Some(store.checkpoint_dir(fold));
    fit.resume = true;
    let result = run_fold(samples, &fit, split, fold, |r| {
        progress(FoldEvent::Epoch(fold, r))
    })?;
    store.save(fold, &result)?;
    progress(FoldEvent::Finished(&result));
    Ok(Some(result))
}

/// Trains on one split and scores its test part (and, for an ensemble, each member alone).
fn run_fold(
    samples: &Samples,
    fit_config: &FitConfig,
    split: &Split,
    fold: usize,
    on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<FoldResult, PipelineError> {
    let started = Instant::now();
    let (train, val) = samples.fit_parts(split, fit_config)?;
    let outcome = fit(fit_config, &train, &val, samples.labels, on_epoch)
        .map_err(|source| PipelineError::Fit { fold, source })?;
    // Epochs trained before a resume count too.
    let train_seconds = if outcome.reports.is_empty() {
        started.elapsed().as_secs_f64()
    } else {
        outcome.reports.iter().map(|r| r.seconds).sum()
    };
    let mut bundle = outcome.bundle;
    let temperature = samples.calibrate(&mut bundle, &split.val, fold)?;
    let predictor = |bundle| Predictor::new(bundle).map_err(|e| PipelineError::predict(fold, e));
    let scoring = Instant::now();
    let scored = samples.score(&predictor(&bundle)?, split, fold)?;
    let inference_seconds = scoring.elapsed().as_secs_f64();
    let member_ua = outcome
        .members
        .iter()
        .map(|bundle| Ok(samples.score(&predictor(bundle)?, split, fold)?.metrics.ua))
        .collect::<Result<Vec<f64>, PipelineError>>()?;
    // A classical model fits in one step: it has no training curve worth drawing.
    let history = matches!(fit_config.model, ModelSpec::Network(_)).then_some(outcome.history);
    let calibration = temperature
        .zip(scored.ece_before)
        .map(|(temperature, ece_before)| crate::report::Calibration {
            temperature,
            ece_before,
        });
    Ok(FoldResult {
        scored_clips: scored.metrics.n_samples,
        report: FoldReport {
            fold,
            test_speakers: scored.test_speakers,
            metrics: scored.metrics,
            by_group: scored.by_group,
            calibration,
            unseen_corpus: None,
            history,
        },
        member_ua,
        train_seconds,
        inference_seconds,
        test: Some(scored.raw),
    })
}

/// The report over every fold's result, with timings and provenance.
fn assemble_report(
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
    n_classes: usize,
    results: Vec<FoldResult>,
) -> Result<EvalReport, PipelineError> {
    let train_seconds: f64 = results.iter().map(|r| r.train_seconds).sum();
    let inference_seconds: f64 = results.iter().map(|r| r.inference_seconds).sum();
    let scored_clips: usize = results.iter().map(|r| r.scored_clips).sum();
    let (unseen_corpus, unseen_corpus_temperature) = match experiment.protocol {
        ser_corpus::Protocol::CorpusOut => unseen_corpus_calibration(&results, n_classes)?,
        _ => (vec![None; results.len()], None),
    };
    // UA of each ensemble member alone, per fold: what the ensemble adds over one model.
    let mut member_ua: Vec<Vec<f64>> = Vec::new();
    for result in &results {
        for (member, &ua) in result.member_ua.iter().enumerate() {
            member_ua.resize(member_ua.len().max(member + 1), Vec::new());
            member_ua[member].push(ua);
        }
    }
    let folds = results
        .into_iter()
        .zip(unseen_corpus)
        .map(|(r, unseen_corpus)| FoldReport {
            unseen_corpus,
            ..r.report
        })
        .collect();
    let mut report = EvalReport::new(
        model_info(experiment, featurised, n_classes),
        dataset_info(dataset),
        Protocol {
            id: experiment.protocol.to_string(),
            description: experiment.protocol.describe(),
        },
        folds,
    )?;
    report.unseen_corpus_temperature = unseen_corpus_temperature;
    report.timing.train_seconds = Some(train_seconds);
    report.timing.inference_ms_per_clip =
        Some(1000.0 * inference_seconds / scored_clips.max(1) as f64);
    let provenance = &mut report.provenance;
    provenance.insert("features".into(), experiment.features.name.clone());
    provenance.insert("seed".into(), experiment.split.seed.to_string());
    provenance.insert("epochs".into(), experiment.fit.epochs.to_string());
    provenance.insert(
        TRAINING.into(),
        training_settings(&experiment.fit, featurised),
    );
    if let Some(commit) = git_commit() {
        provenance.insert("commit".into(), commit);
    }
    if !member_ua.is_empty() {
        provenance.insert(MEMBERS_ALONE.into(), describe_members(&member_ua));
    }
    if !featurised.failures.is_empty() {
        let note = format!(
            "{} clips could not be decoded and were left out",
            featurised.failures.len()
        );
        provenance.insert("failures".into(), note);
    }
    Ok(report)
}

/// Calibration for corpora nobody has seen, from corpus-out folds (each tests a corpus its
/// model never heard): each fold's test ECE under the temperature fitted on the other folds'
/// test predictions, and the temperature fitted on all of them (for a model trained on every
/// corpus). Nothing without two folds that kept their predictions.
fn unseen_corpus_calibration(
    results: &[FoldResult],
    n_classes: usize,
) -> Result<(Vec<Option<UnseenCorpusCalibration>>, Option<f32>), PipelineError> {
    let tests: Option<Vec<&TestPredictions>> = results.iter().map(|r| r.test.as_ref()).collect();
    let Some(tests) = tests.filter(|t| t.len() >= 2) else {
        return Ok((vec![None; results.len()], None));
    };
    let parts: Vec<(&[Vec<f32>], &[usize])> = tests
        .iter()
        .map(|t| (&t.probabilities[..], &t.truth[..]))
        .collect();
    let (each, all) = crate::calibration::leave_one_out(&parts);
    let labels: Vec<String> = (0..n_classes).map(|c| c.to_string()).collect();
    let mut folds = Vec::new();
    for (test, temperature) in tests.iter().zip(each) {
        let scaled = crate::calibration::calibrated(&test.probabilities, temperature);
        let predicted: Vec<usize> = scaled.iter().map(|p| argmax(p)).collect();
        let flat: Vec<f32> = scaled.concat();
        let metrics = EvalInput::new(&test.truth, &predicted, &labels)
            .with_probabilities(&flat)
            .evaluate()?;
        let ece = metrics.probability.and_then(|p| p.ece);
        folds.push(ece.map(|ece| UnseenCorpusCalibration { temperature, ece }));
    }
    Ok((folds, Some(all)))
}

/// What a fold store checks before mixing folds: everything that shapes the figures (the
/// training settings as separate keys, so a refusal can name the one that differs).
pub fn evaluation_settings(
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
) -> serde_json::Value {
    let mut settings = match serde_json::to_value(&experiment.fit) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    settings.remove("checkpoint_dir");
    settings.remove("resume");
    let extra = serde_json::json!({
        "features": experiment.features,
        "augmented_copies": featurised.augmented_copies(),
        "protocol": experiment.protocol.to_string(),
        "split": { "seed": experiment.split.seed, "val_fraction": experiment.split.val_fraction },
        "data": dataset_info(dataset).description,
        "labels": dataset.label_set().map(|l| l.names().to_vec()),
    });
    if let serde_json::Value::Object(extra) = extra {
        settings.extend(extra);
    }
    // Only when on, so that stores of earlier runs still match.
    if featurised.channel_simulation {
        settings.insert("channel_simulation".into(), true.into());
    }
    if featurised.trains_alone() {
        settings.insert("train_alone".into(), true.into());
    }
    serde_json::Value::Object(settings)
}

/// What [`report_differences`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Model,
    Protocol,
    Seed,
    Epochs,
    Training,
    Data,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Setting::Model => "model",
            Setting::Protocol => "protocol",
            Setting::Seed => "seed",
            Setting::Epochs => "epochs",
            Setting::Training => "training settings",
            Setting::Data => "data",
        })
    }
}

/// One way an earlier report differs from what an experiment evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub what: Setting,
    /// The report's value; `None` when it does not record it.
    pub theirs: Option<String>,
    pub ours: String,
}

/// How `report` differs from what `experiment` evaluates on `dataset`: model (with ensemble
/// size and features), protocol, seed, epochs, training settings and data.
pub fn report_differences(
    report: &EvalReport,
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
) -> Vec<Difference> {
    let recorded = |key: &str| report.provenance.get(key).cloned();
    let checks = [
        (
            Setting::Model,
            Some(report.model.name.clone()),
            model_info(experiment, featurised, report.labels.len()).name,
        ),
        (
            Setting::Protocol,
            Some(report.protocol.id.clone()),
            experiment.protocol.to_string(),
        ),
        (
            Setting::Seed,
            recorded("seed"),
            experiment.split.seed.to_string(),
        ),
        (
            Setting::Epochs,
            recorded("epochs"),
            experiment.fit.epochs.to_string(),
        ),
        (
            Setting::Training,
            recorded(TRAINING),
            training_settings(&experiment.fit, featurised),
        ),
        (
            Setting::Data,
            Some(report.dataset.description.clone()),
            dataset_info(dataset).description,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, theirs, ours)| theirs.as_ref() != Some(ours))
        .map(|(what, theirs, ours)| Difference { what, theirs, ours })
        .collect()
}

/// Provenance key of the training settings beyond model, features, seed and epochs.
pub const TRAINING: &str = "training";

/// The training settings in one line, e.g. "300-frame crops, batch 32, AdamW lr 0.001 weight
/// decay 0.0001, cosine schedule, patience 30, SpecAugment, 2 augmented copies"; reports and
/// bundles keep it so that `train --evaluated` can check a report against a run.
pub fn training_settings(fit: &FitConfig, featurised: &Featurised) -> String {
    let augmented_copies = featurised.augmented_copies();
    let mut parts = vec![
        format!("{}-frame crops", fit.frames),
        format!("batch {}", fit.batch_size),
        format!("AdamW lr {} weight decay {}", fit.lr, fit.weight_decay),
        fit.schedule.describe(),
        match (fit.keep_last, fit.patience) {
            (true, _) => "no early stopping, keeps the last epoch".into(),
            (false, None) => "no early stopping".into(),
            (false, Some(p)) => format!("patience {p}"),
        },
    ];
    if fit.spec_augment.is_some() {
        parts.push("SpecAugment".into());
    }
    if let Some(warp) = &fit.freq_warp {
        parts.push(format!("frequency warp {}", warp.max));
    }
    if let Some(alpha) = fit.mixup {
        parts.push(format!("mixup {alpha}"));
    }
    if let Some(keep) = fit.weight_average {
        parts.push(format!("weight average {keep}"));
    }
    if fit.label_smoothing > 0.0 {
        parts.push(format!("label smoothing {}", fit.label_smoothing));
    }
    if fit.class_balanced {
        parts.push("class-balanced loss".into());
    }
    if let Some(adversary) = &fit.adversary {
        parts.push(format!(
            "{}-adversarial head (reversal up to {})",
            adversary.target.name(),
            adversary.weight
        ));
    }
    if augmented_copies > 0 {
        parts.push(format!("{augmented_copies} augmented copies"));
        if featurised.channel_simulation {
            parts.push("room and device simulation".into());
        }
    }
    if featurised.trains_alone() {
        parts.push("clips also normalised alone".into());
    }
    parts.join(", ")
}

/// Provenance key of a bundle's training corpora, e.g. "ravdess (English): 1440 clips, 24
/// speakers".
pub const CORPORA: &str = "corpora";

/// "ravdess (English): 1440 clips, 24 speakers; ased (Amharic): 2474 clips, 65 speakers"
/// (a language only for corpora [`ser_corpus::known_language`] knows).
pub fn describe_corpora(dataset: &Dataset) -> String {
    let single = [ser_corpus::corpus_name_of(&dataset.root)];
    let names = dataset.corpus_names();
    let names: Vec<String> = if names.is_empty() {
        single.to_vec()
    } else {
        names
    };
    names
        .iter()
        .map(|name| {
            let clips: Vec<&ser_corpus::Clip> = dataset
                .clips
                .iter()
                .filter(|c| c.corpus_name().is_none_or(|n| n == name))
                .collect();
            let speakers: std::collections::BTreeSet<&str> =
                clips.iter().map(|c| c.speaker.as_str()).collect();
            let language = ser_corpus::known_language(name)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            format!(
                "{name}{language}: {} clips, {} speakers",
                clips.len(),
                speakers.len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a bundle says it was trained on: its corpora, or for bundles made before corpora
/// were recorded, its dataset's name and clip count ("ravdess: 1440 clips").
pub fn trained_on(meta: &ser_model::BundleMeta) -> String {
    let provenance = &meta.provenance;
    match (provenance.get(CORPORA), provenance.get("dataset")) {
        (Some(corpora), _) => corpora.clone(),
        (None, Some(dataset)) => {
            let data = provenance.get("data").map_or("", String::as_str);
            let clips = data.split_whitespace().next().unwrap_or("?");
            let name = ser_corpus::corpus_name_of(std::path::Path::new(dataset));
            format!("{name}: {clips} clips")
        }
        (None, None) => "unknown data".to_string(),
    }
}

/// Whether the bundle was trained on the corpus named `corpus` (as [`describe_corpora`] or,
/// for bundles made before corpora were recorded, the training dataset's name says).
pub fn trained_on_corpus(meta: &ser_model::BundleMeta, corpus: &str) -> bool {
    let provenance = &meta.provenance;
    match provenance.get(CORPORA) {
        Some(corpora) => corpora
            .split("; ")
            .any(|entry| entry.split([' ', ':']).next() == Some(corpus)),
        None => provenance
            .get("dataset")
            .is_some_and(|d| ser_corpus::corpus_name_of(std::path::Path::new(d)) == corpus),
    }
}

/// Provenance key of an ensemble report: how its members scored alone.
pub const MEMBERS_ALONE: &str = "members alone";

/// "UA 52.1 % on average (51.0, 53.2, 52.1)": each member's UA averaged over folds.
fn describe_members(member_ua: &[Vec<f64>]) -> String {
    let means: Vec<f64> = member_ua
        .iter()
        .map(|folds| folds.iter().sum::<f64>() / folds.len().max(1) as f64)
        .collect();
    let overall = means.iter().sum::<f64>() / means.len().max(1) as f64;
    let each: Vec<String> = means.iter().map(|m| format!("{:.1}", 100.0 * m)).collect();
    format!(
        "UA {:.1} % on average ({}), each member scored alone over the same folds",
        100.0 * overall,
        each.join(", ")
    )
}

/// What to train for keeping: a model, its features, its training settings and the share of
/// speakers held out for early stopping.
pub struct TrainRun {
    pub features: FeatureConfig,
    pub fit: FitConfig,
    pub split: SplitOptions,
}

/// A trained model ready to save, with its training record.
pub struct Trained {
    /// Carries the feature settings, labels, normalisation, provenance and, under
    /// `metrics.validation`, the validation scores.
    pub bundle: ser_model::Bundle,
    pub history: crate::history::TrainingHistory,
    pub reports: Vec<EpochReport>,
    /// Scores on the held-out validation speakers (they chose the epoch, so this is an
    /// optimistic figure; honest figures come from [`cross_validate`]).
    pub validation: Option<crate::metrics::Metrics>,
    pub train_clips: usize,
    pub val_clips: usize,
}

/// Trains one model on the whole dataset except a validation part of whole speakers (early
/// stopping), and fills in the bundle's feature settings and provenance.
pub fn train(
    dataset: &Dataset,
    featurised: &Featurised,
    run: &TrainRun,
    on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<Trained, PipelineError> {
    let labels = dataset_labels(dataset, featurised)?;
    let split = ser_corpus::training_split(dataset, &run.split)?;
    let samples = Samples {
        dataset,
        featurised,
        labels: &labels,
        merged_answers: Vec::new(),
    };
    let (train, val) = samples.fit_parts(&split, &run.fit)?;
    let outcome = fit(&run.fit, &train, &val, &labels, on_epoch)
        .map_err(|source| PipelineError::Fit { fold: 0, source })?;
    let mut bundle = outcome.bundle;
    bundle.meta.features = Some(run.features.clone());
    samples.calibrate(&mut bundle, &split.val, 0)?;

    let validation = if split.val.is_empty() {
        None
    } else {
        let predictor = Predictor::new(&bundle).map_err(|e| PipelineError::predict(0, e))?;
        let as_test = Split {
            test: split.val.clone(),
            ..split.clone()
        };
        Some(samples.score(&predictor, &as_test, 0)?.metrics)
    };
    let provenance = &mut bundle.meta.provenance;
    provenance.insert("data".into(), dataset_info(dataset).description);
    provenance.insert("dataset".into(), dataset.root.display().to_string());
    provenance.insert(CORPORA.into(), describe_corpora(dataset));
    provenance.insert("protocol".into(), split.protocol.clone());
    provenance.insert("features".into(), run.features.name.clone());
    provenance.insert("epochs".into(), run.fit.epochs.to_string());
    provenance.insert(TRAINING.into(), training_settings(&run.fit, featurised));
    // "seed" comes from the fit (a range for an ensemble).
    if let Some(commit) = git_commit() {
        provenance.insert("commit".into(), commit);
    }
    if let Some(metrics) = &validation {
        bundle.meta.metrics = serde_json::json!({ "validation": metrics });
    }
    Ok(Trained {
        bundle,
        history: outcome.history,
        reports: outcome.reports,
        validation,
        train_clips: split.train.len(),
        val_clips: split.val.len(),
    })
}

/// Scores a trained bundle on every clip of `dataset` whose emotion the model knows (features
/// computed with the bundle's own settings): classes of the dataset the model cannot say are
/// not charged to it. Clips with other emotions are left out and counted in the report's
/// provenance. `merges` (`from`, `to`) counts the model's answer `from` as `to` (the dataset's
/// labels are expected merged the same way). The caller is responsible for the test speakers
/// being unseen in training: `provenance["dataset"]` of the bundle says what it was trained on.
pub fn evaluate_bundle(
    dataset: &Dataset,
    featurised: &Featurised,
    bundle: &ser_model::Bundle,
    merges: &[(String, String)],
) -> Result<EvalReport, PipelineError> {
    let labels = bundle.meta.labels.clone();
    let index = |name: &str| {
        let name = ser_corpus::canonical_label(name);
        labels.iter().position(|l| *l == name)
    };
    let merged_answers: Vec<(usize, usize)> = merges
        .iter()
        .filter_map(|(from, to)| index(from).zip(index(to)))
        .collect();
    let known: Vec<usize> = (0..dataset.clips.len())
        .filter(|&i| labels.contains(&dataset.clips[i].emotion))
        .collect();
    if known.is_empty() {
        return Err(PipelineError::NoKnownEmotion {
            known: labels.to_vec(),
        });
    }
    let predictor = Predictor::new(bundle).map_err(|e| PipelineError::predict(0, e))?;
    let samples = Samples {
        dataset,
        featurised,
        labels: &labels,
        merged_answers,
    };
    let split = Split {
        train: Vec::new(),
        val: Vec::new(),
        test: known.clone(),
        protocol: "trained-model".into(),
        fold: None,
        seed: 0,
    };
    let scoring = Instant::now();
    let scored = samples.score(&predictor, &split, 0)?;
    let seconds = scoring.elapsed().as_secs_f64();
    let n_scored = scored.metrics.n_samples;
    let features = bundle
        .meta
        .features
        .as_ref()
        .map_or("features", |f| f.name.as_str());
    let meta = &bundle.meta;
    let mut report = EvalReport::new(
        ModelInfo::new(
            &meta.model,
            meta.members,
            features,
            meta.input.features,
            labels.len(),
        ),
        dataset_info(dataset),
        Protocol {
            id: "trained-model".into(),
            description: "a trained model scored on every clip of the dataset; held-out only if \
                          the model never saw these speakers"
                .into(),
        },
        vec![FoldReport {
            fold: 0,
            test_speakers: scored.test_speakers,
            metrics: scored.metrics,
            by_group: scored.by_group,
            calibration: None,
            unseen_corpus: None,
            history: None,
        }],
    )?;
    report.timing.inference_ms_per_clip = Some(1000.0 * seconds / n_scored.max(1) as f64);
    for (key, value) in &bundle.meta.provenance {
        report
            .provenance
            .insert(format!("model {key}"), value.clone());
    }
    let unknown = dataset.clips.len() - known.len();
    if unknown > 0 {
        report.provenance.insert(
            "left out".into(),
            format!("{unknown} clips with emotions the model does not know"),
        );
    }
    Ok(report)
}

/// The classes a protocol's models learn: the emotions every corpus has under corpus-out,
/// else all of the dataset's.
fn protocol_labels(
    dataset: &Dataset,
    featurised: &Featurised,
    protocol: &ser_corpus::Protocol,
) -> Result<Vec<String>, PipelineError> {
    if protocol.is_corpus_out() {
        at_least_two(
            dataset.shared_labels(),
            "the corpora share",
            "corpus-out needs",
        )
    } else {
        dataset_labels(dataset, featurised)
    }
}

/// The label names of the clips that could be read, in the order models number their
/// classes (at least two): a clip that failed adds no class.
fn dataset_labels(
    dataset: &Dataset,
    featurised: &Featurised,
) -> Result<Vec<String>, PipelineError> {
    let read = dataset
        .clips
        .iter()
        .zip(&featurised.matrices)
        .filter(|(_, m)| m.is_some())
        .map(|(clip, _)| clip.emotion.as_str());
    let labels =
        ser_corpus::LabelSet::from_labels(read).map_err(|_| PipelineError::NoUsableLabels)?;
    at_least_two(
        labels.names().to_vec(),
        "the dataset holds",
        "training needs",
    )
}

/// `labels`, or an error a user can act on when there are fewer than two to tell apart.
fn at_least_two(
    labels: Vec<String>,
    holds: &'static str,
    needs: &'static str,
) -> Result<Vec<String>, PipelineError> {
    if labels.len() < 2 {
        return Err(PipelineError::TooFewEmotions {
            found: labels,
            holds,
            needs,
        });
    }
    Ok(labels)
}

/// The (group, class) an adversarial head tells `clip` apart by (see
/// [`crate::fit::Adversary`]); `None` where the clip does not say (no sentence number).
fn nuisance_key(clip: &Clip, kind: NuisanceKind) -> Option<(String, String)> {
    let corpus = ser_corpus::corpus_of_speaker(&clip.speaker).unwrap_or_default();
    match kind {
        NuisanceKind::Sentence => {
            let sentence = ["sentence", "statement", "text"]
                .iter()
                .find_map(|field| clip.extra.get(*field))?;
            Some((format!("{corpus}/{}", clip.emotion), sentence.clone()))
        }
        NuisanceKind::Speaker => Some((String::new(), clip.speaker.clone())),
        NuisanceKind::Corpus => Some((String::new(), corpus.to_string())),
    }
}

/// The featurised clips of one dataset, indexed like `dataset.clips`.
struct Samples<'a> {
    dataset: &'a Dataset,
    featurised: &'a Featurised,
    labels: &'a [String],
    /// Model classes counted as others (`from`, `to` label indices): the probability of
    /// `from` is added to `to` (e.g. a RAVDESS model's calm scored as neutral).
    merged_answers: Vec<(usize, usize)>,
}

impl Samples<'_> {
    /// The usable clips among `indices` (those that were featurised).
    fn usable<'b>(
        &'b self,
        indices: &'b [usize],
    ) -> impl Iterator<Item = (usize, &'b FeatureMatrix)> + 'b {
        Self::usable_in(&self.featurised.matrices, indices)
    }

    fn usable_in<'b>(
        matrices: &'b [Option<FeatureMatrix>],
        indices: &'b [usize],
    ) -> impl Iterator<Item = (usize, &'b FeatureMatrix)> + 'b {
        indices
            .iter()
            .filter_map(|&i| matrices[i].as_ref().map(|m| (i, m)))
    }

    fn label_index(&self, clip: usize) -> usize {
        let emotion = &self.dataset.clips[clip].emotion;
        self.labels
            .iter()
            .position(|l| l == emotion)
            .expect("labels come from the dataset")
    }

    /// The training part of `split` (augmented copies and, when `fit` has an adversary, its
    /// nuisance included) and its validation part.
    fn fit_parts(
        &self,
        split: &Split,
        fit: &FitConfig,
    ) -> Result<(TrainData, TrainData), PipelineError> {
        let nuisance = fit.adversary.map(|a| a.target);
        let train = self.train_data(&split.train, true, nuisance)?;
        Ok((train, self.train_data(&split.val, false, None)?))
    }

    /// The clips at `indices` as training data, with their augmented copies when
    /// `with_augmented` (the training part only: validation and test see originals). With
    /// `nuisance`, each sample also carries that nuisance of its clip (for an adversarial
    /// head).
    fn train_data(
        &self,
        indices: &[usize],
        with_augmented: bool,
        nuisance: Option<NuisanceKind>,
    ) -> Result<TrainData, PipelineError> {
        let mut rows = 0;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut keys = Vec::new();
        for (i, m) in self.usable(indices) {
            rows = m.rows;
            let (copies, alone) = match with_augmented {
                true => (
                    &self.featurised.augmented[i][..],
                    self.featurised.alone.get(i).and_then(Option::as_ref),
                ),
                false => (&[][..], None),
            };
            let alone = alone.filter(|_| self.featurised.train_alone);
            let key = nuisance.and_then(|kind| nuisance_key(&self.dataset.clips[i], kind));
            for matrix in std::iter::once(m).chain(copies).chain(alone) {
                x.push(matrix.data.clone());
                y.push(self.label_index(i));
                keys.push(key.clone());
            }
        }
        let fit_error = |source| PipelineError::Fit { fold: 0, source };
        let data = TrainData::new(rows, x, y).map_err(fit_error)?;
        match nuisance {
            None => Ok(data),
            Some(_) => {
                let keys = keys
                    .iter()
                    .map(|k| k.as_ref().map(|(g, c)| (&g[..], &c[..])));
                data.with_nuisance(Nuisance::from_keys(keys))
                    .map_err(fit_error)
            }
        }
    }

    /// Predicts the test part of `split`: its metrics (with calibration), per corpus and
    /// named subset, and the test speakers.
    fn score(
        &self,
        predictor: &Predictor,
        split: &Split,
        fold: usize,
    ) -> Result<Scored, PipelineError> {
        let (indices, raw) = self.predict(predictor, &split.test, fold)?;
        let temperature = predictor.meta().temperature;
        let scaled = |raw: &[Vec<f32>]| match temperature {
            Some(t) => crate::calibration::calibrated(raw, t),
            None => raw.to_vec(),
        };
        let probabilities = scaled(&raw);
        let truth: Vec<usize> = indices.iter().map(|&i| self.label_index(i)).collect();
        let evaluate = |members: &[usize], probabilities: &[Vec<f32>]| {
            let y_true: Vec<usize> = members.iter().map(|&k| truth[k]).collect();
            let y_pred: Vec<usize> = members.iter().map(|&k| argmax(&probabilities[k])).collect();
            let flat: Vec<f32> = members
                .iter()
                .flat_map(|&k| probabilities[k].iter().copied())
                .collect();
            let speakers: Vec<String> = members
                .iter()
                .map(|&k| self.dataset.clips[indices[k]].speaker.clone())
                .collect();
            EvalInput::new(&y_true, &y_pred, self.labels)
                .with_speakers(&speakers)
                .with_probabilities(&flat)
                .evaluate()
        };
        let everyone: Vec<usize> = (0..indices.len()).collect();
        let metrics = evaluate(&everyone, &probabilities)?;
        let ece_before = match temperature {
            Some(_) => evaluate(&everyone, &raw)?.probability.and_then(|p| p.ece),
            None => None,
        };
        let mut by_group = std::collections::BTreeMap::new();
        for (group, members) in self.groups(&indices) {
            by_group.insert(group, evaluate(&members, &probabilities)?);
        }
        if !self.featurised.alone.is_empty() {
            let (_, raw) = self.predict_in(&self.featurised.alone, predictor, &split.test, fold)?;
            let alone = scaled(&raw);
            for (group, members) in self.corpus_groups(&indices) {
                by_group.insert(
                    format!("{group}, {}", crate::report::ALONE),
                    evaluate(&members, &alone)?,
                );
            }
        }
        let mut test_speakers: Vec<String> = indices
            .iter()
            .map(|&i| self.dataset.clips[i].speaker.clone())
            .collect();
        test_speakers.sort();
        test_speakers.dedup();
        Ok(Scored {
            metrics,
            by_group,
            test_speakers,
            ece_before,
            raw: TestPredictions {
                probabilities: raw,
                truth,
            },
        })
    }

    /// The usable clips among `indices` and the predictor's probabilities for each (before
    /// temperature scaling).
    fn predict(
        &self,
        predictor: &Predictor,
        indices: &[usize],
        fold: usize,
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), PipelineError> {
        self.predict_in(&self.featurised.matrices, predictor, indices, fold)
    }

    /// [`Samples::predict`] of `matrices` (the clips' features or another version of them).
    fn predict_in(
        &self,
        matrices: &[Option<FeatureMatrix>],
        predictor: &Predictor,
        indices: &[usize],
        fold: usize,
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), PipelineError> {
        let mut used = Vec::new();
        let mut probabilities = Vec::new();
        for (i, m) in Self::usable_in(matrices, indices) {
            let view = FeatureView::new(m.rows, m.cols, &m.data)
                .map_err(|e| PipelineError::predict(fold, e))?;
            let mut probs = predictor
                .predict_batch_raw(&[view])
                .map_err(|e| PipelineError::predict(fold, e))?
                .remove(0);
            for &(from, to) in &self.merged_answers {
                probs[to] += probs[from];
                probs[from] = 0.0;
            }
            used.push(i);
            probabilities.push(probs);
        }
        Ok((used, probabilities))
    }

    /// Positions in `indices` per corpus and named subset, for a dataset of several corpora
    /// or with a subset (one corpus alone would only repeat the whole).
    fn groups(&self, indices: &[usize]) -> std::collections::BTreeMap<String, Vec<usize>> {
        let mut groups = self.corpus_groups(indices);
        let merged = self.dataset.clips.iter().any(|c| c.corpus_name().is_some());
        if groups.len() == 1 && !merged {
            groups.clear();
        }
        groups
    }

    /// Positions in `indices` per corpus and named subset, even for one corpus alone.
    fn corpus_groups(&self, indices: &[usize]) -> std::collections::BTreeMap<String, Vec<usize>> {
        let corpus = ser_corpus::corpus_name_of(&self.dataset.root);
        let mut groups: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (k, &i) in indices.iter().enumerate() {
            for group in ser_corpus::evaluation_groups(&self.dataset.clips[i], &corpus) {
                groups.entry(group).or_default().push(k);
            }
        }
        groups
    }

    /// Fits the bundle's temperature on the validation clips (none without them); returns it.
    fn calibrate(
        &self,
        bundle: &mut ser_model::Bundle,
        val: &[usize],
        fold: usize,
    ) -> Result<Option<f32>, PipelineError> {
        if val.is_empty() {
            return Ok(None);
        }
        let predictor = Predictor::new(bundle).map_err(|e| PipelineError::predict(fold, e))?;
        let (indices, raw) = self.predict(&predictor, val, fold)?;
        let truth: Vec<usize> = indices.iter().map(|&i| self.label_index(i)).collect();
        let temperature = crate::calibration::fit_temperature(&raw, &truth);
        bundle.meta.temperature = Some(temperature);
        Ok(Some(temperature))
    }
}

/// One scored test part.
struct Scored {
    metrics: crate::metrics::Metrics,
    by_group: std::collections::BTreeMap<String, crate::metrics::Metrics>,
    test_speakers: Vec<String>,
    /// ECE before temperature scaling, when the predictor has a temperature.
    ece_before: Option<f64>,
    /// The probabilities before temperature scaling.
    raw: TestPredictions,
}

/// What a report says was evaluated: the model, its ensemble size and its features.
pub fn model_info(experiment: &Experiment, featurised: &Featurised, n_classes: usize) -> ModelInfo {
    let n_in = featurised
        .matrices
        .iter()
        .flatten()
        .next()
        .map_or(0, |m| m.rows);
    ModelInfo::new(
        &experiment.fit.model,
        experiment.fit.members,
        &experiment.features.name,
        n_in,
        n_classes,
    )
}

impl ModelInfo {
    /// "cnn4 on logmel64-frames", or "cnn4 x3 on ..." for an ensemble (parameters of all
    /// members together).
    fn new(
        model: &ModelSpec,
        members: usize,
        features: &str,
        n_in: usize,
        n_classes: usize,
    ) -> Self {
        let parameters = match model {
            ModelSpec::Network(arch) => arch
                .parameter_count(n_in, n_classes)
                .ok()
                .map(|n| (n * members) as u64),
            ModelSpec::Classical(_) => None,
        };
        ModelInfo {
            name: format!("{} on {features}", model.label(members)),
            kind: model.name().to_string(),
            parameters,
        }
    }
}

/// What a report says it was evaluated on.
pub fn dataset_info(dataset: &Dataset) -> DatasetInfo {
    let name = dataset.root.file_name().map_or_else(
        || dataset.root.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let scheme = dataset
        .scheme
        .map_or("folders".to_string(), |s| s.to_string());
    DatasetInfo {
        name,
        description: match dataset.corpus_names() {
            names if names.len() > 1 => {
                let counts = dataset.corpus_counts();
                let parts: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n} {}", counts[n].values().sum::<usize>()))
                    .collect();
                format!(
                    "{} clips from {} corpora ({})",
                    dataset.clips.len(),
                    names.len(),
                    parts.join(", ")
                )
            }
            _ => format!("{} clips, naming scheme {scheme}", dataset.clips.len()),
        },
        clips: Some(dataset.clips.len()),
        speakers: Some(dataset.speakers().len()),
    }
}

/// The commit this build was made from (see build.rs).
fn git_commit() -> Option<String> {
    option_env!("SER_BUILD_COMMIT").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let run =
            || featurise(&dataset, &config, &cache, Some(&augmentation), &|| {}, None).unwrap();
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
}

#[cfg(test)]
mod parallel_folds {
    use super::*;
    use ser_corpus::Corpus;
    use ser_model::nets::Cnn4Config;

    /// Ten speakers, six clips each; class c raises rows 2c and 2c+1 of an 8 x 20 matrix.
    fn corpus() -> (Dataset, Featurised) {
        let mut rng = ser_model::rng::SplitMix64::new(3);
        let emotions = ["happy", "sad", "angry"];
        let (mut clips, mut matrices) = (Vec::new(), Vec::new());
        for speaker in 1..=10 {
            for k in 0..6 {
                let class = k % 3;
                let name = format!("{speaker}-{k}");
                clips.push(Clip {
                    path: PathBuf::from(&name),
                    speaker: speaker.to_string(),
                    emotion: emotions[class].to_string(),
                    recording_id: name,
                    corpus: Corpus::Folders,
                    extra: Default::default(),
                });
                let data = (0..8 * 20)
                    .map(|i| f32::from(u8::from(i / 20 / 2 == class)) + rng.unit() as f32)
                    .collect();
                matrices.push(Some(FeatureMatrix {
                    rows: 8,
                    cols: 20,
                    data,
                }));
            }
        }
        let featurised = Featurised {
            augmented: vec![Vec::new(); matrices.len()],
            matrices,
            failures: Vec::new(),
            channel_simulation: false,
            alone: Vec::new(),
            train_alone: false,
        };
        (Dataset::new("d", clips), featurised)
    }

    /// Folds side by side give the figures of folds one after another.
    #[test]
    fn folds_side_by_side_score_as_folds_in_turn() {
        let (dataset, featurised) = corpus();
        let arch = ser_model::Architecture::Cnn4(Cnn4Config {
            channels: vec![8, 8, 8, 8],
            ..Default::default()
        });
        let mut fit = FitConfig::new(ModelSpec::Network(arch));
        fit.frames = 16;
        fit.epochs = 2;
        fit.batch_size = 8;
        let experiment = Experiment {
            features: FeatureConfig::named("logmel64-frames").unwrap(),
            fit,
            protocol: "speaker-mod:5".parse().unwrap(),
            split: SplitOptions::default(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let run = |jobs| {
            let plan = FoldPlan {
                jobs,
                ..Default::default()
            };
            let outcome = pool.install(|| {
                cross_validate(&dataset, &featurised, &experiment, &plan, |_| {}).unwrap()
            });
            let CrossValidation::Report(report) = outcome else {
                panic!("every fold ran")
            };
            report
                .folds
                .iter()
                .map(|f| (f.fold, f.metrics.ua, f.metrics.wa))
                .collect::<Vec<_>>()
        };
        let in_turn = run(1);
        assert_eq!(in_turn.len(), 5);
        assert_eq!(run(2), in_turn);
    }
}
