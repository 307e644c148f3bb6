//! Aggregation of per-fold metrics (cross-validation).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    CALIBRATION_BINS, ConfusionMatrix, Metrics, MetricsError, ProbabilityMetrics, ReliabilityBin,
    speaker_rows,
};

/// Mean and **sample** standard deviation (divisor n − 1) of a metric over folds.
/// With a single fold the spread is unknown and `std` is reported as 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    /// Mean of the values.
    pub mean: f64,
    /// Sample standard deviation; 0 when there is a single value.
    pub std: f64,
    /// Number of values (folds) behind the estimate.
    pub n: usize,
}

impl MeanStd {
    /// `None` for an empty slice.
    pub fn from_values(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n < 2 {
            0.0
        } else {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        };
        Some(Self { mean, std, n })
    }

    /// A fraction shown as percent, e.g. `71.3 ± 2.1` (no `%` sign, for tables); just `71.3`
    /// from a single fold, whose spread is unknown rather than zero.
    pub fn percent(&self) -> String {
        if self.has_spread() {
            format!("{:.1} ± {:.1}", self.mean * 100.0, self.std * 100.0)
        } else {
            format!("{:.1}", self.mean * 100.0)
        }
    }

    /// Whether `std` means anything (two or more folds).
    pub fn has_spread(&self) -> bool {
        self.n >= 2
    }
}

/// Cross-validation summary: mean ± std of the headline scores over folds, plus the metrics of
/// all folds pooled (summed confusion matrix, merged per-speaker tallies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldSummary {
    /// Number of folds summarised.
    pub n_folds: usize,
    /// Weighted accuracy over folds.
    pub wa: MeanStd,
    /// Unweighted accuracy over folds; the headline score.
    pub ua: MeanStd,
    /// Macro precision over folds.
    pub macro_precision: MeanStd,
    /// Macro recall over folds (equal to `ua`).
    pub macro_recall: MeanStd,
    /// Macro F1 over folds.
    pub macro_f1: MeanStd,
    /// Metrics of the summed confusion matrix; `pooled.confusion` is the summed confusion.
    /// Pooled WA equals the sample-weighted mean of fold WAs; pooled UA generally differs from
    /// `ua.mean`, which is the number to quote.
    pub pooled: Metrics,
}

/// Summarises folds that share one label list.
pub fn summarise_folds(folds: &[Metrics]) -> Result<FoldSummary, MetricsError> {
    let first = folds.first().ok_or(MetricsError::NoFolds)?;
    let stat = |f: fn(&Metrics) -> f64| {
        let values: Vec<f64> = folds.iter().map(f).collect();
        // Cannot fail: `folds` is not empty.
        MeanStd::from_values(&values).unwrap_or(MeanStd {
            mean: 0.0,
            std: 0.0,
            n: 0,
        })
    };
    let mut confusion = ConfusionMatrix::zeros(first.labels().to_vec());
    for fold in folds {
        confusion.add(&fold.confusion)?;
    }
    let mut pooled = Metrics::from_confusion(confusion)?;
    pooled.per_speaker = pooled_speakers(folds);
    pooled.probability = pooled_probability(folds);
    Ok(FoldSummary {
        n_folds: folds.len(),
        wa: stat(|m| m.wa),
        ua: stat(|m| m.ua),
        macro_precision: stat(|m| m.macro_precision),
        macro_recall: stat(|m| m.macro_recall),
        macro_f1: stat(|m| m.macro_f1),
        pooled,
    })
}

/// Merges per-speaker tallies; with speaker-independent folds each speaker appears once.
fn pooled_speakers(folds: &[Metrics]) -> Vec<super::SpeakerAccuracy> {
    let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for row in folds.iter().flat_map(|f| &f.per_speaker) {
        let entry = tally.entry(&row.speaker).or_default();
        entry.0 += row.correct;
        entry.1 += row.total;
    }
    speaker_rows(tally.into_iter().map(|(s, (c, n))| (s.to_string(), c, n)))
}

/// Sample-weighted mean of per-fold probability scores (exact, since both are per-sample means),
/// with the reliability bins summed and the ECE recomputed from them; `None` unless every
/// fold has them.
fn pooled_probability(folds: &[Metrics]) -> Option<ProbabilityMetrics> {
    let mut log_loss = 0.0;
    let mut top2 = 0.0;
    let mut brier = Some(0.0);
    let mut total = 0usize;
    let mut bins: BTreeMap<usize, ReliabilityBin> = BTreeMap::new();
    for fold in folds {
        let p = fold.probability.as_ref()?;
        let weight = fold.n_samples as f64;
        log_loss += p.log_loss * weight;
        top2 += p.top2_accuracy * weight;
        brier = brier.zip(p.brier).map(|(sum, b)| sum + b * weight);
        total += fold.n_samples;
        for bin in &p.reliability {
            let key = (bin.lower * CALIBRATION_BINS as f64).round() as usize;
            let pooled = bins.entry(key).or_insert(ReliabilityBin {
                count: 0,
                confidence: 0.0,
                accuracy: 0.0,
                ..bin.clone()
            });
            let (before, after) = (pooled.count as f64, (pooled.count + bin.count) as f64);
            pooled.confidence =
                (pooled.confidence * before + bin.confidence * bin.count as f64) / after;
            pooled.accuracy = (pooled.accuracy * before + bin.accuracy * bin.count as f64) / after;
            pooled.count += bin.count;
        }
    }
    let n = total as f64;
    let reliability: Vec<ReliabilityBin> = bins.into_values().collect();
    let has_bins = folds
        .iter()
        .all(|f| f.probability.as_ref().is_some_and(|p| p.ece.is_some()));
    let ece = has_bins.then(|| super::expected_calibration_error(&reliability));
    Some(ProbabilityMetrics {
        log_loss: log_loss / n,
        top2_accuracy: top2 / n,
        ece,
        brier: brier.map(|b| b / n),
        reliability,
    })
}
