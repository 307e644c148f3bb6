//! From a dataset on disk to an evaluation report: decode and featurise every clip (through
//! the feature cache), split by the chosen protocol, fit per fold, score the held-out part.
//!
//! This is the one path the CLI's `eval` (and later `compare`, the web app's test jobs) use,
//! so feature extraction for training and scoring is always the code that prediction uses.
//!
//! Its parts, in the order data flows through them:
//! - `featurise`: every clip decoded and featurised once, with augmented copies;
//! - `samples`: the featurised clips as training and scoring see them;
//! - `cross_validation`: folds trained and scored, the report assembled;
//! - `train`: one model trained for keeping;
//! - `evaluate`: a trained bundle scored on a labelled dataset;
//! - `provenance`: what reports and bundles say about how they were made.

mod cross_validation;
mod evaluate;
mod featurise;
mod provenance;
mod samples;
mod train;

use std::path::PathBuf;

use crate::fit::FitError;
use crate::folds::FoldStoreError;
use crate::metrics::MetricsError;
use crate::report::ReportError;

pub use cross_validation::{CrossValidation, Experiment, FoldEvent, FoldPlan, cross_validate};
pub use evaluate::evaluate_bundle;
pub use featurise::{Augmentation, Featurised, featurise};
pub use provenance::{
    CORPORA, Difference, MEMBERS_ALONE, Setting, TRAINING, dataset_info, describe_corpora,
    evaluation_settings, model_info, report_differences, trained_on, trained_on_corpus,
    training_settings,
};
pub use train::{TrainRun, Trained, train};

/// Why an evaluation or a training run could not go on. [`PipelineError::is_internal`] tells
/// the errors a user can act on (the data, the request) from those of the software or the
/// machine.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The feature set cannot be computed as configured.
    #[error(transparent)]
    Features(#[from] ser_features::FeatureError),
    /// Every clip failed to decode or featurise.
    #[error("no clip of the dataset could be featurised ({failures} failed; first: {first})")]
    NothingFeaturised {
        /// Number of clips that failed.
        failures: usize,
        /// The first failure, as "path: why".
        first: String,
    },
    /// The dataset could not be split as the protocol or options ask.
    #[error(transparent)]
    Corpus(#[from] ser_corpus::CorpusError),
    /// The labels of the data leave fewer than two emotions to tell apart.
    #[error("{holds} {}; {needs} at least two", match found.as_slice() {
        [] => "no emotion".to_owned(),
        [only] => format!("one emotion only ({only})"),
        more => format!("the emotions {}", more.join(", ")),
    })]
    TooFewEmotions {
        /// The emotions found, in class order.
        found: Vec<String>,
        /// What holds them, e.g. "the dataset holds".
        holds: &'static str,
        /// What needs two, e.g. "training needs".
        needs: &'static str,
    },
    /// The emotions of the readable clips form no label set (none at all, or an empty name).
    #[error("the dataset has no usable labels")]
    NoUsableLabels,
    /// No clip of the dataset has an emotion among the model's labels.
    #[error("no clip of the dataset has an emotion the model knows ({})", known.join(", "))]
    NoKnownEmotion {
        /// The labels the model knows.
        known: Vec<String>,
    },
    /// A fold was asked for that the protocol does not have.
    #[error("there is no fold {fold}: {protocol} has folds 0 to {last}")]
    NoSuchFold {
        /// The fold asked for.
        fold: usize,
        /// The protocol, as its spec.
        protocol: String,
        /// Number of the protocol's last fold.
        last: usize,
    },
    /// A fold asked for by number is claimed by another live process.
    #[error("fold {fold} is being run by another process (see {})", store.display())]
    FoldTaken {
        /// The fold asked for.
        fold: usize,
        /// The fold store's folder.
        store: PathBuf,
    },
    /// Training a fold's model failed (fold 0 when training one model for keeping).
    #[error("fold {fold}: {source}")]
    Fit {
        /// The fold (0 when training one model for keeping).
        fold: usize,
        /// Why training failed.
        source: FitError,
    },
    /// A trained model could not score clips (fold 0 outside cross-validation).
    #[error("fold {fold}: {source}")]
    Predict {
        /// The fold (0 outside cross-validation).
        fold: usize,
        /// Why scoring failed.
        source: PredictError,
    },
    /// Metrics of the scored clips could not be computed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The evaluation report could not be built.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The fold store could not be read or written, or holds another run's folds.
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
    /// The bundle could not be turned into a predictor.
    #[error(transparent)]
    Load(#[from] ser_model::BundleError),
    /// A clip's features are not valid input for the model.
    #[error(transparent)]
    Input(#[from] ser_model::input::InputError),
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parallel_folds;
