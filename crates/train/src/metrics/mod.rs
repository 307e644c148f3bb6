//! Classification metrics for speech emotion recognition.
//!
//! Conventions (stated once, used everywhere):
//! - **WA** (weighted accuracy) is plain accuracy: correct / total.
//! - **UA** (unweighted accuracy) is the mean per-class recall over the classes that occur in
//!   `y_true`; a class with no test samples has no recall and is left out.
//! - **Precision** of a class that is never predicted is defined as 0 (as scikit-learn's
//!   `zero_division=0`); F1 is 0 when precision + recall is 0.
//! - **Macro** precision/recall/F1 average over the same classes as UA (those present in
//!   `y_true`), so macro recall equals UA.
//! - Fold aggregates use the **sample** standard deviation (divisor n − 1).

mod confusion;
mod summary;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use confusion::{ConfusedPair, ConfusionMatrix};
pub use summary::{FoldSummary, MeanStd, summarise_folds};

use confusion::ratio;

/// Why metrics could not be computed. Every variant names the offending input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricsError {
    /// There are no samples: `y_true` is empty, or a confusion matrix counts nothing.
    #[error("there are no predictions to evaluate")]
    Empty,
    /// The label list is empty.
    #[error("no class labels were given")]
    NoLabels,
    /// An input that must have one entry per sample has a different length from `y_true`.
    #[error("{what} has {actual} entries but y_true has {expected}")]
    LengthMismatch {
        /// Name of the offending input (`y_pred`, `speakers`).
        what: &'static str,
        /// Length of `y_true`.
        expected: usize,
        /// Length of the offending input.
        actual: usize,
    },
    /// A true or predicted class index is not below the number of labels.
    #[error("{what}[{index}] is {value}, which is not a class index (there are {n_labels} labels)")]
    ClassOutOfRange {
        /// Name of the offending input (`y_true` or `y_pred`).
        what: &'static str,
        /// Position of the first bad entry.
        index: usize,
        /// The class index found there.
        value: usize,
        /// Number of labels, the exclusive upper bound for a class index.
        n_labels: usize,
    },
    /// Confusion counts are not a square matrix with one row and column per label.
    #[error("a confusion matrix over {n_labels} labels must be {n_labels} x {n_labels}")]
    ConfusionShape {
        /// Number of labels, so the expected number of rows and columns.
        n_labels: usize,
    },
    /// The probabilities are not one row of `classes` values per sample.
    #[error("probabilities must be {samples} x {classes} = {} values (row-major) but there are {actual}", .samples * .classes)]
    ProbabilityShape {
        /// Number of samples (length of `y_true`).
        samples: usize,
        /// Number of classes (length of the label list).
        classes: usize,
        /// Number of probabilities given.
        actual: usize,
    },
    /// A probability is NaN, infinite or negative.
    #[error("probability {index} is {value}; probabilities must be finite and not negative")]
    InvalidProbability {
        /// Position of the value in the row-major probabilities.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// Two confusion matrices to pool have different label lists (in order).
    #[error("label sets differ: expected {expected:?}, found {found:?}")]
    LabelMismatch {
        /// Labels of the matrix being added to.
        expected: Vec<String>,
        /// Labels of the matrix being added.
        found: Vec<String>,
    },
    /// A cross-validation summary was asked for with no folds.
    #[error("there are no folds to summarise")]
    NoFolds,
}

/// Precision, recall, F1 and support of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name, as in the label list.
    pub label: String,
    /// 0 when the class is never predicted.
    pub precision: f64,
    /// 0 when the class has no samples (such a class is excluded from UA and macro scores).
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Number of samples whose true class is this one.
    pub support: usize,
    /// Number of samples predicted as this class.
    pub predicted: usize,
}

/// Accuracy on the clips of one speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerAccuracy {
    /// Speaker id, as in the dataset.
    pub speaker: String,
    /// Clips of this speaker classified correctly.
    pub correct: usize,
    /// Clips of this speaker evaluated.
    pub total: usize,
    /// `correct / total` (0 to 1).
    pub accuracy: f64,
}

/// Scores that need class probabilities, not just the predicted class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilityMetrics {
    /// Mean cross-entropy (natural log) of the true class; probabilities are clamped at 1e-15.
    pub log_loss: f64,
    /// Share of samples whose true class is among the two most probable.
    pub top2_accuracy: f64,
    /// Expected calibration error over [`CALIBRATION_BINS`] equal-width confidence bins:
    /// the sample-weighted mean |accuracy - confidence| of the top class.
    #[serde(default)]
    pub ece: Option<f64>,
    /// Multi-class Brier score: mean over samples of sum_k (p_k - [k = truth])^2 (0 to 2).
    #[serde(default)]
    pub brier: Option<f64>,
    /// The reliability diagram's bins (empty bins left out).
    #[serde(default)]
    pub reliability: Vec<ReliabilityBin>,
}

/// The count-weighted mean gap between accuracy and confidence over reliability bins.
pub(crate) fn expected_calibration_error(bins: &[ReliabilityBin]) -> f64 {
    let total: usize = bins.iter().map(|b| b.count).sum();
    bins.iter()
        .map(|b| b.count as f64 / total.max(1) as f64 * (b.accuracy - b.confidence).abs())
        .sum()
}

/// Confidence bins of the expected calibration error (as in Guo et al. 2017).
pub const CALIBRATION_BINS: usize = 15;

/// One bin of a reliability diagram: predictions whose top probability fell in
/// `[lower, upper)` (the last bin includes 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin's top-probability range (inclusive).
    pub lower: f64,
    /// Upper edge of the range (exclusive, except 1 in the last bin).
    pub upper: f64,
    /// Number of predictions in the bin.
    pub count: usize,
    /// Mean top probability of the bin's predictions.
    pub confidence: f64,
    /// Share of the bin's predictions that were right.
    pub accuracy: f64,
}

/// Everything we report about one set of predictions (one fold, or folds pooled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of predictions evaluated.
    pub n_samples: usize,
    /// Weighted accuracy: correct / total.
    pub wa: f64,
    /// Unweighted accuracy: mean recall over classes present in `y_true`.
    pub ua: f64,
    /// Mean precision over the classes present in `y_true`.
    pub macro_precision: f64,
    /// Equal to `ua` by construction (same classes, same recalls).
    pub macro_recall: f64,
    /// Mean F1 over the classes present in `y_true`.
    pub macro_f1: f64,
    /// Scores of every class, in label order (classes without samples included).
    pub per_class: Vec<ClassMetrics>,
    /// Counts of (true class, predicted class) pairs.
    pub confusion: ConfusionMatrix,
    /// `confusion` with each row divided by its sum (kept for JSON readers and plots).
    pub confusion_normalised: Vec<Vec<f64>>,
    /// Non-zero off-diagonal cells, most frequent first.
    pub most_confused: Vec<ConfusedPair>,
    /// Empty when speakers were not given.
    #[serde(default)]
    pub per_speaker: Vec<SpeakerAccuracy>,
    /// Scores from class probabilities; `None` when none were given.
    #[serde(default)]
    pub probability: Option<ProbabilityMetrics>,
}

/// Predictions to evaluate, with optional per-sample speakers and class probabilities.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    /// True class index of each sample, into `labels`.
    pub y_true: &'a [usize],
    /// Predicted class index of each sample, into `labels`; as long as `y_true`.
    pub y_pred: &'a [usize],
    /// Class names; the class indices refer to this list.
    pub labels: &'a [String],
    /// One speaker id per sample.
    pub speakers: Option<&'a [String]>,
    /// Row-major `n_samples x labels.len()` class probabilities.
    pub probabilities: Option<&'a [f32]>,
}

impl<'a> EvalInput<'a> {
    /// Predictions to evaluate, without speakers or probabilities.
    pub fn new(y_true: &'a [usize], y_pred: &'a [usize], labels: &'a [String]) -> Self {
        Self {
            y_true,
            y_pred,
            labels,
            speakers: None,
            probabilities: None,
        }
    }

    /// Adds one speaker id per sample, for per-speaker accuracy.
    pub fn with_speakers(mut self, speakers: &'a [String]) -> Self {
        self.speakers = Some(speakers);
        self
    }

    /// Adds row-major `n_samples x labels.len()` class probabilities, for the probability scores.
    pub fn with_probabilities(mut self, probabilities: &'a [f32]) -> Self {
        self.probabilities = Some(probabilities);
        self
    }

    /// Computes all metrics; errors on empty, mismatched or out-of-range input.
    pub fn evaluate(&self) -> Result<Metrics, MetricsError> {
        let confusion = ConfusionMatrix::from_predictions(self.y_true, self.y_pred, self.labels)?;
        let mut metrics = Metrics::from_confusion(confusion)?;
        if let Some(speakers) = self.speakers {
            metrics.per_speaker = per_speaker_accuracy(self.y_true, self.y_pred, speakers)?;
        }
        if let Some(probabilities) = self.probabilities {
            metrics.probability = Some(probability_metrics(
                self.y_true,
                probabilities,
                self.labels.len(),
            )?);
        }
        Ok(metrics)
    }
}

/// Shorthand for [`EvalInput::evaluate`] without speakers or probabilities.
pub fn evaluate(
    y_true: &[usize],
    y_pred: &[usize],
    labels: &[String],
) -> Result<Metrics, MetricsError> {
    EvalInput::new(y_true, y_pred, labels).evaluate()
}

impl Metrics {
    /// Derives every count-based metric from a confusion matrix (no speakers, no probabilities).
    pub fn from_confusion(confusion: ConfusionMatrix) -> Result<Self, MetricsError> {
        let n_samples = confusion.total();
        if n_samples == 0 {
            return Err(MetricsError::Empty);
        }
        let per_class = class_metrics(&confusion);
        let present: Vec<&ClassMetrics> = per_class.iter().filter(|c| c.support > 0).collect();
        let mean_of = |f: fn(&ClassMetrics) -> f64| {
            present.iter().map(|c| f(c)).sum::<f64>() / present.len() as f64
        };
        let ua = mean_of(|c| c.recall);
        Ok(Self {
            n_samples,
            wa: ratio(confusion.correct(), n_samples),
            ua,
            macro_precision: mean_of(|c| c.precision),
            macro_recall: ua,
            macro_f1: mean_of(|c| c.f1),
            per_class,
            confusion_normalised: confusion.row_normalised(),
            most_confused: confusion.most_confused(),
            confusion,
            per_speaker: Vec::new(),
            probability: None,
        })
    }

    /// Class names, in the order of the confusion matrix rows.
    pub fn labels(&self) -> &[String] {
        self.confusion.labels()
    }
}

fn class_metrics(confusion: &ConfusionMatrix) -> Vec<ClassMetrics> {
    (0..confusion.n_classes())
        .map(|class| {
            let hits = confusion.counts()[class][class];
            let support = confusion.support(class);
            let predicted = confusion.predicted(class);
            let precision = ratio(hits, predicted);
            let recall = ratio(hits, support);
            ClassMetrics {
                label: confusion.labels()[class].clone(),
                precision,
                recall,
                f1: f1_score(precision, recall),
                support,
                predicted,
            }
        })
        .collect()
}

fn f1_score(precision: f64, recall: f64) -> f64 {
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

fn per_speaker_accuracy(
    y_true: &[usize],
    y_pred: &[usize],
    speakers: &[String],
) -> Result<Vec<SpeakerAccuracy>, MetricsError> {
    if speakers.len() != y_true.len() {
        return Err(MetricsError::LengthMismatch {
            what: "speakers",
            expected: y_true.len(),
            actual: speakers.len(),
        });
    }
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for ((t, p), speaker) in y_true.iter().zip(y_pred).zip(speakers) {
        let entry = tally.entry(speaker).or_default();
        entry.0 += usize::from(t == p);
        entry.1 += 1;
    }
    let tallies = tally.into_iter().map(|(s, (c, n))| (s.to_string(), c, n));
    Ok(speaker_rows(tallies))
}

/// Builds sorted per-speaker rows from `(speaker, correct, total)` tallies.
pub(crate) fn speaker_rows(
    tallies: impl Iterator<Item = (String, usize, usize)>,
) -> Vec<SpeakerAccuracy> {
    let mut rows: Vec<SpeakerAccuracy> = tallies
        .map(|(speaker, correct, total)| SpeakerAccuracy {
            speaker,
            correct,
            total,
            accuracy: ratio(correct, total),
        })
        .collect();
    rows.sort_by(|a, b| natural_cmp(&a.speaker, &b.speaker));
    rows
}

/// Orders numeric speaker ids numerically ("2" before "10"), anything else as text.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

fn probability_metrics(
    y_true: &[usize],
    probabilities: &[f32],
    n_classes: usize,
) -> Result<ProbabilityMetrics, MetricsError> {
    check_probabilities(probabilities, y_true.len(), n_classes)?;
    let mut log_loss = 0.0;
    let mut top2_hits = 0;
    let mut brier = 0.0;
    // Per bin: count, sum of confidences, hits.
    let mut bins = vec![(0usize, 0f64, 0usize); CALIBRATION_BINS];
    for (row, &truth) in probabilities.chunks_exact(n_classes).zip(y_true) {
        let p_true = row[truth];
        log_loss -= f64::from(p_true).clamp(1e-15, 1.0).ln();
        // The true class is in the top two when at most one class beats it.
        let beaten_by = row.iter().filter(|&&p| p > p_true).count();
        top2_hits += usize::from(beaten_by < 2);
        brier += row
            .iter()
            .enumerate()
            .map(|(k, &p)| (f64::from(p) - f64::from(u8::from(k == truth))).powi(2))
            .sum::<f64>();
        let top = crate::fit::argmax(row);
        let confidence = f64::from(row[top]);
        let bin = ((confidence * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += 1;
        bins[bin].1 += confidence;
        bins[bin].2 += usize::from(top == truth);
    }
    let n = y_true.len() as f64;
    let reliability: Vec<ReliabilityBin> = bins
        .iter()
        .enumerate()
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(b, &(count, confidence, hits))| ReliabilityBin {
            lower: b as f64 / CALIBRATION_BINS as f64,
            upper: (b + 1) as f64 / CALIBRATION_BINS as f64,
            count,
            confidence: confidence / count as f64,
            accuracy: ratio(hits, count),
        })
        .collect();
    let ece = expected_calibration_error(&reliability);
    Ok(ProbabilityMetrics {
        log_loss: log_loss / n,
        top2_accuracy: ratio(top2_hits, y_true.len()),
        ece: Some(ece),
        brier: Some(brier / n),
        reliability,
    })
}

fn check_probabilities(
    probabilities: &[f32],
    samples: usize,
    classes: usize,
) -> Result<(), MetricsError> {
    if probabilities.len() != samples * classes {
        return Err(MetricsError::ProbabilityShape {
            samples,
            classes,
            actual: probabilities.len(),
        });
    }
    match probabilities
        .iter()
        .position(|p| !p.is_finite() || *p < 0.0)
    {
        Some(index) => Err(MetricsError::InvalidProbability {
            index,
            value: probabilities[index],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
