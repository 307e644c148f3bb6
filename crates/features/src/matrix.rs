//! A plain row-major matrix of features: rows = features, cols = frames (librosa's layout).

use serde::{Deserialize, Serialize};

/// Features × frames, row-major (`data[r * cols + c]`). Pooled vectors have `cols == 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMatrix {
    /// Number of features.
    pub rows: usize,
    /// Number of frames (1 for a pooled vector).
    pub cols: usize,
    /// The values, `rows * cols` of them, one feature's row after another.
    pub data: Vec<f32>,
}

impl FeatureMatrix {
    /// `None` when `data` does not hold exactly `rows * cols` values.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Option<Self> {
        (rows.checked_mul(cols) == Some(data.len())).then_some(Self { rows, cols, data })
    }

    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        FeatureMatrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Element at (row, col).
    pub fn get(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.cols + col]
    }

    /// One feature's values over time.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.cols..(row + 1) * self.cols]
    }

    /// Builds a features × frames matrix from frame-major storage (`frames[t * n_features + f]`).
    pub fn from_frame_major(frame_major: &[f32], n_features: usize) -> Self {
        let mut m = FeatureMatrix {
            rows: n_features,
            cols: 0,
            data: Vec::new(),
        };
        m.fill_from_frame_major(frame_major, n_features);
        m
    }

    /// Like [`FeatureMatrix::from_frame_major`] but reuses this matrix's allocation.
    pub(crate) fn fill_from_frame_major(&mut self, frame_major: &[f32], n_features: usize) {
        let n_frames = frame_major.len().checked_div(n_features).unwrap_or(0);
        self.rows = n_features;
        self.cols = n_frames;
        self.data.clear();
        self.data.resize(n_features * n_frames, 0.0);
        for (t, frame) in frame_major.chunks_exact(n_features.max(1)).enumerate() {
            for (f, &v) in frame.iter().enumerate() {
                self.data[f * n_frames + t] = v;
            }
        }
    }
}
