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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod parallel_folds;
