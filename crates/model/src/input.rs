//! How feature matrices become network input: normalisation, crops, padding and windows.
//!
//! A clip's features are a row-major matrix [F, T] (F feature rows, T frames); a pooled
//! vector is [D, 1]. Frame models train on fixed-length crops of `frames` columns (random
//! start in training, zero padding at the end of shorter clips, zero being the mean after
//! normalisation) and at inference average their probabilities over windows of `frames`
//! columns with 50 % overlap that cover the whole clip.

use serde::{Deserialize, Serialize};

use crate::nets::InputKind;

/// A borrowed feature matrix: `rows` features by `cols` frames, row-major.
#[derive(Debug, Clone, Copy)]
pub struct FeatureView<'a> {
    /// Feature rows F (the vector length D for a pooled vector).
    pub rows: usize,
    /// Frames T (1 for a pooled vector).
    pub cols: usize,
    /// `rows * cols` values, one row after another.
    pub data: &'a [f32],
}

impl<'a> FeatureView<'a> {
    /// A view of `data` as `rows` x `cols`; refuses an empty matrix, a length other than
    /// `rows * cols` and values that are not finite.
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Result<Self, InputError> {
        if rows == 0 || cols == 0 {
            return Err(InputError::Empty);
        }
        if data.len() != rows * cols {
            return Err(InputError::Length {
                rows,
                cols,
                len: data.len(),
            });
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(InputError::NotFinite);
        }
        Ok(Self { rows, cols, data })
    }

    fn row(&self, r: usize) -> &'a [f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Problems with a feature matrix handed to a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    /// No rows or no frames.
    #[error("the feature matrix is empty")]
    Empty,
    /// The data's length is not rows x cols.
    #[error("a {rows} x {cols} feature matrix needs {} values, got {len}", rows * cols)]
    Length {
        /// Rows claimed.
        rows: usize,
        /// Columns claimed.
        cols: usize,
        /// Values given.
        len: usize,
    },
    /// A value is NaN or infinite.
    #[error("the feature matrix holds NaN or infinite values")]
    NotFinite,
    /// The matrix has a different number of feature rows than the model was trained on.
    #[error("the model expects {expected} feature rows, got {found}")]
    Rows {
        /// The bundle's feature count.
        expected: usize,
        /// The matrix's row count.
        found: usize,
    },
}

/// What a model reads, as stored in the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Pooled vectors or frames; must be what the architecture reads.
    pub kind: InputKind,
    /// Feature rows F (the vector length D for pooled input).
    pub features: usize,
    /// Crop / window length in frames for frame models; `None` for pooled models.
    pub frames: Option<usize>,
}

/// Per-feature-row standardisation statistics, fitted on the training part only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// Mean of each feature row.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature row (floored at 1e-6 when fitted and applied).
    pub std: Vec<f32>,
}

/// Floor for standard deviations: constant features are centred, not blown up.
const MIN_STD: f32 = 1e-6;

impl Normalisation {
    /// Mean and standard deviation of each row over all frames of all matrices.
    pub fn fit<'a>(rows: usize, matrices: impl IntoIterator<Item = FeatureView<'a>>) -> Self {
        let mut sum = vec![0f64; rows];
        let mut sum_sq = vec![0f64; rows];
        let mut count = 0f64;
        for m in matrices {
            for (r, (s, q)) in sum
                .iter_mut()
                .zip(sum_sq.iter_mut())
                .enumerate()
                .take(m.rows)
            {
                for &v in m.row(r) {
                    *s += v as f64;
                    *q += (v as f64) * (v as f64);
                }
            }
            count += m.cols as f64;
        }
        let count = count.max(1.0);
        let mean: Vec<f32> = sum.iter().map(|s| (s / count) as f32).collect();
        let std = sum_sq
            .iter()
            .zip(&sum)
            .map(|(q, s)| ((q / count - (s / count).powi(2)).max(0.0).sqrt() as f32).max(MIN_STD))
            .collect();
        Self { mean, std }
    }

    /// The identity (mean 0, std 1) for `rows` features.
    pub fn identity(rows: usize) -> Self {
        Self {
            mean: vec![0.0; rows],
            std: vec![1.0; rows],
        }
    }

    /// The number of feature rows covered.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// Whether no feature rows are covered.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// Standardises a row-major [rows, cols] buffer in place.
    pub fn apply(&self, data: &mut [f32], cols: usize) {
        for (r, row) in data.chunks_mut(cols.max(1)).enumerate() {
            let (m, s) = (self.mean[r], self.std[r].max(MIN_STD));
            row.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }
}

/// Mean over frames: `[F, T] -> [F]` (how pooled vectors are made from frames).
pub fn pool_mean(view: FeatureView<'_>) -> Vec<f32> {
    (0..view.rows)
        .map(|r| view.row(r).iter().sum::<f32>() / view.cols as f32)
        .collect()
}

/// Copies columns `start..start + len` of `view`, zero-padding past its end.
pub fn crop_or_pad(view: FeatureView<'_>, start: usize, len: usize, out: &mut Vec<f32>) {
    for r in 0..view.rows {
        let row = view.row(r);
        let end = (start + len).min(view.cols);
        let taken = end.saturating_sub(start);
        out.extend_from_slice(&row[start.min(end)..end]);
        out.extend(std::iter::repeat_n(0.0, len - taken));
    }
}

/// Window starts covering `total` frames with windows of `len` and 50 % overlap; the last
/// window ends at the clip's end. A clip no longer than `len` has the one window at 0.
pub fn window_starts(total: usize, len: usize) -> Vec<usize> {
    if total <= len || len == 0 {
        return vec![0];
    }
    let hop = (len / 2).max(1);
    let last = total - len;
    let mut starts: Vec<usize> = (0..=last).step_by(hop).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_clip() {
        assert_eq!(window_starts(5, 10), vec![0]);
        assert_eq!(window_starts(10, 10), vec![0]);
        assert_eq!(window_starts(25, 10), vec![0, 5, 10, 15]);
        assert_eq!(window_starts(26, 10), vec![0, 5, 10, 15, 16]);
    }

    #[test]
    fn crops_pad_with_zeros() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let view = FeatureView::new(2, 3, &data).unwrap();
        let mut out = Vec::new();
        crop_or_pad(view, 1, 4, &mut out);
        assert_eq!(out, vec![2.0, 3.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
    }

    #[test]
    fn normalisation_standardises_rows() {
        let data = [1.0, 3.0, 10.0, 10.0];
        let view = FeatureView::new(2, 2, &data).unwrap();
        let norm = Normalisation::fit(2, [view]);
        assert_eq!(norm.mean, vec![2.0, 10.0]);
        let mut x = data.to_vec();
        norm.apply(&mut x, 2);
        assert_eq!(x, vec![-1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_matrices_are_refused() {
        assert_eq!(FeatureView::new(0, 3, &[]).unwrap_err(), InputError::Empty);
        assert!(FeatureView::new(2, 2, &[1.0; 3]).is_err());
        assert_eq!(
            FeatureView::new(1, 1, &[f32::NAN]).unwrap_err(),
            InputError::NotFinite
        );
    }
}
