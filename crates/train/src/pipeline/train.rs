//! One model trained for keeping, on the whole dataset but a validation part of whole
//! speakers.

use ser_corpus::{Dataset, Split, SplitOptions};
use ser_features::FeatureConfig;
use ser_model::Predictor;

use crate::fit::{EpochReport, FitConfig, fit};

use super::PipelineError;
use super::featurise::Featurised;
use super::provenance::{
    CORPORA, TRAINING, dataset_info, describe_corpora, git_commit, training_settings,
};
use super::samples::{Samples, dataset_labels};

/// What to train for keeping: a model, its features, its training settings and the share of
/// speakers held out for early stopping.
pub struct TrainRun {
    /// Features extracted from each clip for the model.
    pub features: FeatureConfig,
    /// How the model is trained.
    pub fit: FitConfig,
    /// Seed and share of the speakers held out for validation.
    pub split: SplitOptions,
}

impl TrainRun {
    /// Share of the clips (as whole speakers) a model trained for keeping holds out for
    /// validation, in `ser train` and on the web Training page. Cross-validation holds out
    /// less of each fold's training part ([`SplitOptions::default`], 10 %): there the test
    /// speakers are already out of a corpus.
    pub const DEFAULT_VAL_FRACTION: f64 = 0.15;
}

/// A trained model ready to save, with its training record.
pub struct Trained {
    /// Carries the feature settings, labels, normalisation, provenance and, under
    /// `metrics.validation`, the validation scores.
    pub bundle: ser_model::Bundle,
    /// The training curve (of the first member, for an ensemble).
    pub history: crate::history::TrainingHistory,
    /// Every epoch of every member.
    pub reports: Vec<EpochReport>,
    /// Scores on the held-out validation speakers (they chose the epoch, so this is an
    /// optimistic figure; honest figures come from [`cross_validate`](super::cross_validate)).
    pub validation: Option<crate::metrics::Metrics>,
    /// Clips in the training part (augmented copies not counted).
    pub train_clips: usize,
    /// Clips in the validation part.
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
