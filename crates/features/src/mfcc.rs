//! MFCC: orthonormal DCT-II of a log-mel spectrogram (scipy `dct(type=2, norm='ortho')`),
//! optionally liftered, as `librosa.feature.mfcc` does.

use crate::error::{FeatureError, Result};
use crate::kernels::dot;
use crate::matrix::FeatureMatrix;

/// The first `n_out` rows of the orthonormal DCT-II of size `n_in`, lifter folded in.
#[derive(Debug, Clone)]
pub struct Dct {
    n_in: usize,
    n_out: usize,
    /// Row-major n_out × n_in, f32 for the per-frame path.
    matrix32: Vec<f32>,
    /// Same matrix in f64 for pooled (mean-then-DCT) use.
    matrix64: Vec<f64>,
}

impl Dct {
    /// `n_mfcc` coefficients from `n_mels` log-mel values; `lifter` 0 disables liftering.
    pub fn new(n_mels: usize, n_mfcc: usize, lifter: f64) -> Result<Self> {
        if n_mfcc == 0 || n_mfcc > n_mels {
            return Err(FeatureError::invalid(
                "n_mfcc",
                format!("must be in 1..={n_mels} (n_mels), got {n_mfcc}"),
            ));
        }
        if !(lifter >= 0.0 && lifter.is_finite()) {
            return Err(FeatureError::invalid(
                "lifter",
                format!("must be >= 0, got {lifter}"),
            ));
        }
        let n = n_mels as f64;
        let mut matrix64 = Vec::with_capacity(n_mfcc * n_mels);
        for k in 0..n_mfcc {
            let scale = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            // librosa: M *= 1 + (lifter / 2) * sin(pi * (k + 1) / lifter)
            let lift = if lifter > 0.0 {
                1.0 + lifter / 2.0 * (std::f64::consts::PI * (k + 1) as f64 / lifter).sin()
            } else {
                1.0
            };
            for i in 0..n_mels {
                let angle = std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n);
                matrix64.push(scale * angle.cos() * lift);
            }
        }
        let matrix32 = matrix64.iter().map(|&c| c as f32).collect();
        Ok(Dct {
            n_in: n_mels,
            n_out: n_mfcc,
            matrix32,
            matrix64,
        })
    }

    /// Number of coefficients produced.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// One frame, f32 (SIMD-friendly accumulation).
    #[inline]
    pub fn apply(&self, log_mel: &[f32], out: &mut [f32]) {
        for (k, o) in out.iter_mut().enumerate().take(self.n_out) {
            *o = dot(&self.matrix32[k * self.n_in..(k + 1) * self.n_in], log_mel);
        }
    }

    /// One vector in f64 (used on time-means: the DCT is linear, so mean(DCT) = DCT(mean)).
    pub fn apply_f64(&self, log_mel: &[f64], out: &mut [f64]) {
        for (k, o) in out.iter_mut().enumerate().take(self.n_out) {
            let row = &self.matrix64[k * self.n_in..(k + 1) * self.n_in];
            *o = row.iter().zip(log_mel).map(|(c, x)| c * x).sum();
        }
    }
}

/// MFCCs from a log-mel (dB) matrix (n_mels × frames) → n_mfcc × frames.
pub fn mfcc_from_db(log_mel: &FeatureMatrix, n_mfcc: usize, lifter: f64) -> Result<FeatureMatrix> {
    let dct = Dct::new(log_mel.rows, n_mfcc, lifter)?;
    let mut frame = vec![0.0f32; log_mel.rows];
    let mut coeffs = vec![0.0f32; n_mfcc];
    let mut out = FeatureMatrix::zeros(n_mfcc, log_mel.cols);
    for t in 0..log_mel.cols {
        for (m, v) in frame.iter_mut().enumerate() {
            *v = log_mel.get(m, t);
        }
        dct.apply(&frame, &mut coeffs);
        for (k, &c) in coeffs.iter().enumerate() {
            out.data[k * log_mel.cols + t] = c;
        }
    }
    Ok(out)
}
