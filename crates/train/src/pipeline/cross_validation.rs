//! Cross-validation: per split, fit on the training speakers, score the test speakers, keep
//! each finished fold, and assemble the report once every fold is done.

use std::sync::Mutex;
use std::time::Instant;

use ser_corpus::{Dataset, Split, SplitOptions};
use ser_features::FeatureConfig;
use ser_model::Predictor;
use ser_model::bundle::ModelSpec;

use crate::fit::{EpochReport, FitConfig, argmax, fit};
use crate::folds::{FoldResult, FoldStore, TestPredictions};
use crate::metrics::EvalInput;
use crate::report::{EvalReport, FoldReport, Protocol, UnseenCorpusCalibration};

use super::PipelineError;
use super::featurise::Featurised;
use super::provenance::{
    MEMBERS_ALONE, TRAINING, dataset_info, describe_members, git_commit, model_info,
    training_settings,
};
use super::samples::{Samples, protocol_labels};

/// What to cross-validate: a model, the features it sees, its training settings.
pub struct Experiment {
    /// Features extracted from each clip for the model.
    pub features: FeatureConfig,
    /// How each fold's model is trained.
    pub fit: FitConfig,
    /// How test speakers (or corpora) are chosen per fold.
    pub protocol: ser_corpus::Protocol,
    /// Seed and validation share of the splits.
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
    /// Every fold is finished: the evaluation report.
    Report(Box<EvalReport>),
    /// This run's folds are stored; these are still to run.
    Unfinished {
        /// The folds still to run, ascending.
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
pub(super) fn kept_fold(
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
pub(super) fn run_fold(
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
pub(super) fn assemble_report(
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
pub(super) fn unseen_corpus_calibration(
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
