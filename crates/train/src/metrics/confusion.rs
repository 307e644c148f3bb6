//! Confusion matrices and the "most confused pairs" table.

use serde::{Deserialize, Serialize};

use super::MetricsError;

/// Counts of (true class, predicted class) pairs: `counts[t][p]`, rows are the true class.
///
/// Deserialisation checks the shape, so a matrix read from JSON is always square and matches
/// its label list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawConfusion")]
pub struct ConfusionMatrix {
    labels: Vec<String>,
    counts: Vec<Vec<usize>>,
}

/// The unchecked wire form of [`ConfusionMatrix`].
#[derive(Deserialize)]
struct RawConfusion {
    labels: Vec<String>,
    counts: Vec<Vec<usize>>,
}

impl TryFrom<RawConfusion> for ConfusionMatrix {
    type Error = MetricsError;

    fn try_from(raw: RawConfusion) -> Result<Self, Self::Error> {
        Self::from_counts(raw.labels, raw.counts)
    }
}

/// One off-diagonal cell of a confusion matrix: how often `true_label` was called `predicted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusedPair {
    /// The class the samples really belong to.
    pub true_label: String,
    /// The class they were predicted as.
    pub predicted_label: String,
    /// Number of samples with this (true, predicted) pair.
    pub count: usize,
    /// `count` divided by the number of samples of the true class.
    pub share_of_true: f64,
}

impl ConfusionMatrix {
    /// Counts predictions. `y_true` and `y_pred` must be equally long class indices into `labels`.
    pub fn from_predictions(
        y_true: &[usize],
        y_pred: &[usize],
        labels: &[String],
    ) -> Result<Self, MetricsError> {
        check_labels(labels)?;
        if y_pred.len() != y_true.len() {
            return Err(MetricsError::LengthMismatch {
                what: "y_pred",
                expected: y_true.len(),
                actual: y_pred.len(),
            });
        }
        check_indices("y_true", y_true, labels.len())?;
        check_indices("y_pred", y_pred, labels.len())?;
        let mut matrix = Self::zeros(labels.to_vec());
        for (&t, &p) in y_true.iter().zip(y_pred) {
            matrix.counts[t][p] += 1;
        }
        Ok(matrix)
    }

    /// Builds a matrix from existing counts, checking that it is `labels.len()` square.
    pub fn from_counts(labels: Vec<String>, counts: Vec<Vec<usize>>) -> Result<Self, MetricsError> {
        check_labels(&labels)?;
        let n = labels.len();
        if counts.len() != n || counts.iter().any(|row| row.len() != n) {
            return Err(MetricsError::ConfusionShape { n_labels: n });
        }
        Ok(Self { labels, counts })
    }

    /// An all-zero matrix for `labels`.
    pub fn zeros(labels: Vec<String>) -> Self {
        let n = labels.len();
        Self {
            labels,
            counts: vec![vec![0; n]; n],
        }
    }

    /// Class names, in row and column order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// `counts()[true][predicted]`.
    pub fn counts(&self) -> &[Vec<usize>] {
        &self.counts
    }

    /// Number of classes (rows and columns).
    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// Number of samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Number of correctly classified samples (the diagonal).
    pub fn correct(&self) -> usize {
        (0..self.n_classes()).map(|i| self.counts[i][i]).sum()
    }

    /// Samples whose true class is `class` (row sum).
    pub fn support(&self, class: usize) -> usize {
        self.counts[class].iter().sum()
    }

    /// Samples predicted as `class` (column sum).
    pub fn predicted(&self, class: usize) -> usize {
        self.counts.iter().map(|row| row[class]).sum()
    }

    /// Each row divided by its sum, so cell `[t][p]` is the share of class `t` predicted as `p`.
    /// Rows of classes with no samples are all zero rather than NaN.
    pub fn row_normalised(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|row| {
                let total: usize = row.iter().sum();
                row.iter().map(|&c| ratio(c, total)).collect()
            })
            .collect()
    }

    /// Adds another matrix over the same labels (used to pool folds).
    pub fn add(&mut self, other: &ConfusionMatrix) -> Result<(), MetricsError> {
        if other.labels != self.labels {
            return Err(MetricsError::LabelMismatch {
                expected: self.labels.clone(),
                found: other.labels.clone(),
            });
        }
        for (row, other_row) in self.counts.iter_mut().zip(&other.counts) {
            for (cell, other_cell) in row.iter_mut().zip(other_row) {
                *cell += other_cell;
            }
        }
        Ok(())
    }

    /// All non-zero off-diagonal cells, most frequent first; ties go to the higher share of the
    /// true class, then to label order so the table is deterministic.
    pub fn most_confused(&self) -> Vec<ConfusedPair> {
        let mut cells: Vec<(usize, usize, usize, f64)> = Vec::new();
        for (t, row) in self.counts.iter().enumerate() {
            let support = self.support(t);
            for (p, &count) in row.iter().enumerate() {
                if t != p && count > 0 {
                    cells.push((t, p, count, ratio(count, support)));
                }
            }
        }
        cells.sort_by(|a, b| {
            b.2.cmp(&a.2)
                .then(b.3.total_cmp(&a.3))
                .then((a.0, a.1).cmp(&(b.0, b.1)))
        });
        cells
            .into_iter()
            .map(|(t, p, count, share)| ConfusedPair {
                true_label: self.labels[t].clone(),
                predicted_label: self.labels[p].clone(),
                count,
                share_of_true: share,
            })
            .collect()
    }
}

/// `num / den`, defined as 0 when `den` is 0 (an empty class has no rate to report).
pub(crate) fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

fn check_labels(labels: &[String]) -> Result<(), MetricsError> {
    if labels.is_empty() {
        Err(MetricsError::NoLabels)
    } else {
        Ok(())
    }
}

fn check_indices(
    what: &'static str,
    values: &[usize],
    n_labels: usize,
) -> Result<(), MetricsError> {
    match values.iter().position(|&v| v >= n_labels) {
        Some(index) => Err(MetricsError::ClassOutOfRange {
            what,
            index,
            value: values[index],
            n_labels,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn counts_rows_true_columns_predicted() {
        let cm = ConfusionMatrix::from_predictions(
            &[0, 0, 1, 2],
            &[0, 1, 1, 0],
            &labels(&["a", "b", "c"]),
        )
        .unwrap();
        assert_eq!(cm.counts(), &[vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 0]]);
        assert_eq!(cm.total(), 4);
        assert_eq!(cm.correct(), 2);
        assert_eq!(cm.support(0), 2);
        assert_eq!(cm.predicted(0), 2);
    }

    #[test]
    fn row_normalised_handles_empty_rows() {
        let cm = ConfusionMatrix::from_counts(labels(&["a", "b"]), vec![vec![3, 1], vec![0, 0]])
            .unwrap();
        assert_eq!(cm.row_normalised(), vec![vec![0.75, 0.25], vec![0.0, 0.0]]);
    }

    #[test]
    fn most_confused_sorts_by_count_then_share() {
        // a->b 2 of 10 (0.2), c->a 2 of 4 (0.5), b->c 3 of 3 (1.0), a->c 1 of 10.
        let cm = ConfusionMatrix::from_counts(
            labels(&["a", "b", "c"]),
            vec![vec![7, 2, 1], vec![0, 0, 3], vec![2, 0, 2]],
        )
        .unwrap();
        let pairs: Vec<_> = cm
            .most_confused()
            .into_iter()
            .map(|p| (p.true_label, p.predicted_label, p.count, p.share_of_true))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("b".into(), "c".into(), 3, 1.0),
                ("c".into(), "a".into(), 2, 0.5),
                ("a".into(), "b".into(), 2, 0.2),
                ("a".into(), "c".into(), 1, 0.1),
            ]
        );
    }

    #[test]
    fn rejects_bad_input() {
        let l = labels(&["a", "b"]);
        assert_eq!(
            ConfusionMatrix::from_predictions(&[0], &[0, 1], &l),
            Err(MetricsError::LengthMismatch {
                what: "y_pred",
                expected: 1,
                actual: 2
            })
        );
        assert_eq!(
            ConfusionMatrix::from_predictions(&[0, 5], &[0, 1], &l),
            Err(MetricsError::ClassOutOfRange {
                what: "y_true",
                index: 1,
                value: 5,
                n_labels: 2
            })
        );
        assert_eq!(
            ConfusionMatrix::from_predictions(&[], &[], &[]),
            Err(MetricsError::NoLabels)
        );
        assert_eq!(
            ConfusionMatrix::from_counts(l, vec![vec![1, 2]]),
            Err(MetricsError::ConfusionShape { n_labels: 2 })
        );
    }

    #[test]
    fn add_requires_same_labels() {
        let mut a = ConfusionMatrix::from_counts(labels(&["a", "b"]), vec![vec![1, 0], vec![0, 1]])
            .unwrap();
        let b = ConfusionMatrix::from_counts(labels(&["a", "b"]), vec![vec![0, 2], vec![3, 0]])
            .unwrap();
        a.add(&b).unwrap();
        assert_eq!(a.counts(), &[vec![1, 2], vec![3, 1]]);
        let c = ConfusionMatrix::zeros(labels(&["x", "y"]));
        assert!(matches!(a.add(&c), Err(MetricsError::LabelMismatch { .. })));
    }

    #[test]
    fn deserialising_checks_shape() {
        let bad = r#"{"labels":["a","b"],"counts":[[1,2],[3]]}"#;
        assert!(serde_json::from_str::<ConfusionMatrix>(bad).is_err());
        let good = r#"{"labels":["a","b"],"counts":[[1,2],[3,4]]}"#;
        assert_eq!(
            serde_json::from_str::<ConfusionMatrix>(good)
                .unwrap()
                .total(),
            10
        );
    }
}
