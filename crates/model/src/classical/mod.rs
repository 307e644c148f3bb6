//! Classical models on pooled (standardised) vectors: SVM (linear and RBF kernels,
//! one-vs-rest) and a random forest.
//!
//! Written here rather than taken from smartcore 0.7: its multiclass SVC cannot be
//! serialised (the kernel is skipped and parameters are borrowed) and neither its SVC nor
//! its forest gives class probabilities, which predictions need for their confidence.
//! Standardisation is the bundle's [`Normalisation`](crate::input::Normalisation), applied
//! before `fit` and `predict_proba` by the trainer and the predictor alike.

mod forest;
mod svm;

use serde::{Deserialize, Serialize};

pub use forest::{ForestConfig, RandomForest};
pub use svm::{Kernel, Svm, SvmConfig};

/// A classical model's kind and hyper-parameters; serialised with a kebab-case `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name")]
pub enum ClassicalConfig {
    /// One-vs-rest SVM with a linear kernel (`gamma` is not used).
    #[serde(rename = "svm-linear")]
    SvmLinear(SvmConfig),
    /// One-vs-rest SVM with an RBF kernel.
    #[serde(rename = "svm-rbf")]
    SvmRbf(SvmConfig),
    /// Random forest of CART trees.
    #[serde(rename = "random-forest")]
    RandomForest(ForestConfig),
}

/// A fitted classical model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ClassicalModel {
    /// A fitted SVM, linear or RBF.
    Svm(Svm),
    /// A fitted random forest.
    Forest(RandomForest),
}

/// Why a classical model could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassicalError {
    /// No rows, rows without values, or not one label per row.
    #[error("no training rows")]
    Empty,
    /// A row's length differs from the first row's.
    #[error("row {row} has {found} values, expected {expected}")]
    Ragged {
        /// Index of the row.
        row: usize,
        /// Length of the first row.
        expected: usize,
        /// Length of this row.
        found: usize,
    },
    /// A label is not a class index.
    #[error("label {label} at row {row} is not below the class count {classes}")]
    Label {
        /// Index of the row.
        row: usize,
        /// Its label.
        label: usize,
        /// The number of classes.
        classes: usize,
    },
}

impl ClassicalConfig {
    /// The names of the classical models, as in bundles and `--arch`.
    pub const NAMES: [&'static str; 3] = ["svm-linear", "svm-rbf", "random-forest"];

    /// The model `name` with default hyper-parameters; `None` if it is not a classical model.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "svm-linear" => Some(Self::SvmLinear(SvmConfig::default())),
            "svm-rbf" => Some(Self::SvmRbf(SvmConfig::default())),
            "random-forest" => Some(Self::RandomForest(ForestConfig::default())),
            _ => None,
        }
    }

    /// The model's name (one of [`Self::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SvmLinear(_) => "svm-linear",
            Self::SvmRbf(_) => "svm-rbf",
            Self::RandomForest(_) => "random-forest",
        }
    }

    /// Fits on standardised rows `x` with labels `y < n_classes`; `seed` drives the forest.
    pub fn fit(
        &self,
        x: &[Vec<f32>],
        y: &[usize],
        n_classes: usize,
        seed: u64,
    ) -> Result<ClassicalModel, ClassicalError> {
        check_rows(x, y, n_classes)?;
        Ok(match self {
            Self::SvmLinear(c) => ClassicalModel::Svm(Svm::fit(c, Kernel::Linear, x, y, n_classes)),
            Self::SvmRbf(c) => {
                let gamma = c.gamma.unwrap_or(1.0 / x[0].len() as f32);
                ClassicalModel::Svm(Svm::fit(c, Kernel::Rbf { gamma }, x, y, n_classes))
            }
            Self::RandomForest(c) => {
                ClassicalModel::Forest(RandomForest::fit(c, x, y, n_classes, seed))
            }
        })
    }
}

fn check_rows(x: &[Vec<f32>], y: &[usize], n_classes: usize) -> Result<(), ClassicalError> {
    let expected = x.first().map(Vec::len).ok_or(ClassicalError::Empty)?;
    if expected == 0 || x.len() != y.len() {
        return Err(ClassicalError::Empty);
    }
    for (row, (xi, &label)) in x.iter().zip(y).enumerate() {
        if xi.len() != expected {
            let found = xi.len();
            return Err(ClassicalError::Ragged {
                row,
                expected,
                found,
            });
        }
        if label >= n_classes {
            return Err(ClassicalError::Label {
                row,
                label,
                classes: n_classes,
            });
        }
    }
    Ok(())
}

impl ClassicalModel {
    /// Class probabilities for one standardised vector.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        match self {
            Self::Svm(m) => m.predict_proba(x),
            Self::Forest(m) => m.predict_proba(x),
        }
    }

    /// Input length and class count, to check a bundle's consistency.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            Self::Svm(m) => m.dims(),
            Self::Forest(m) => m.dims(),
        }
    }
}

/// Numerically stable softmax.
pub(crate) fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}
