//! Spectral shape descriptors per frame (librosa `spectral_centroid`, `_bandwidth`,
//! `_rolloff`, `_flatness`), computed in f64 from a magnitude spectrum.

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
use crate::matrix::FeatureMatrix;
use crate::stft::{Stft, StftConfig, fft_frequencies};

/// Parameters of the spectral descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectralConfig {
    /// Roll-off energy fraction (librosa 0.85).
    pub rolloff_percent: f64,
    /// Floor on power for flatness (librosa 1e-10).
    pub flatness_amin: f64,
}

impl SpectralConfig {
    /// librosa defaults.
    pub const LIBROSA_DEFAULT: SpectralConfig = SpectralConfig {
        rolloff_percent: 0.85,
        flatness_amin: 1e-10,
    };

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.rolloff_percent > 0.0 && self.rolloff_percent < 1.0) {
            return Err(FeatureError::invalid(
                "rolloff_percent",
                "must be in (0, 1)",
            ));
        }
        if !(self.flatness_amin > 0.0) {
            return Err(FeatureError::invalid("flatness_amin", "must be positive"));
        }
        Ok(())
    }
}

/// librosa `util.normalize(norm=1)` divisor: the sum, or 1 when it is below the smallest normal.
fn l1_norm(mag: &[f32]) -> f64 {
    let s: f64 = mag.iter().map(|&m| m as f64).sum();
    if s < f64::MIN_POSITIVE { 1.0 } else { s }
}

/// Magnitude-weighted mean frequency; 0 for silent frames.
pub fn centroid(mag: &[f32], freqs: &[f64]) -> f64 {
    let norm = l1_norm(mag);
    mag.iter()
        .zip(freqs)
        .map(|(&m, &f)| f * (m as f64 / norm))
        .sum()
}

/// Magnitude-weighted standard deviation around `centroid` (p = 2, normalised).
pub fn bandwidth(mag: &[f32], freqs: &[f64], centroid: f64) -> f64 {
    let norm = l1_norm(mag);
    mag.iter()
        .zip(freqs)
        .map(|(&m, &f)| (m as f64 / norm) * (f - centroid).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Lowest frequency below which `percent` of the magnitude sum lies; 0 for silent frames.
pub fn rolloff(mag: &[f32], freqs: &[f64], percent: f64) -> f64 {
    let total: f64 = mag.iter().map(|&m| m as f64).sum();
    let threshold = percent * total;
    let mut cumulative = 0.0f64;
    for (&m, &f) in mag.iter().zip(freqs) {
        cumulative += m as f64;
        if cumulative >= threshold {
            return f;
        }
    }
    freqs.last().copied().unwrap_or(0.0)
}

/// Geometric over arithmetic mean of max(amin, |X|²); 1 for silent frames.
pub fn flatness(mag: &[f32], amin: f64) -> f64 {
    let n = mag.len() as f64;
    let (mut log_sum, mut sum) = (0.0f64, 0.0f64);
    for &m in mag {
        let p = (m as f64 * m as f64).max(amin);
        log_sum += p.ln();
        sum += p;
    }
    (log_sum / n).exp() / (sum / n)
}

/// All four descriptors of `y` (each a 1 × frames matrix), from one magnitude STFT.
pub struct SpectralFeatures {
    /// Magnitude-weighted mean frequency in Hz; 0 for silent frames.
    pub centroid: FeatureMatrix,
    /// Magnitude-weighted standard deviation around the centroid, in Hz.
    pub bandwidth: FeatureMatrix,
    /// Frequency in Hz below which `rolloff_percent` of the magnitude lies.
    pub rolloff: FeatureMatrix,
    /// Geometric over arithmetic mean of the power, 0..=1 (1 = flat, like white noise).
    pub flatness: FeatureMatrix,
}

/// librosa's four spectral descriptors. The STFT runs in f64: centroid and bandwidth weight
/// far-off bins by their (large) frequency distance, and an f32 FFT's noise floor there
/// (~1e-7 of the frame peak) would move them by more than librosa's tolerance.
pub fn spectral_features(
    y: &[f32],
    sr: f64,
    stft: &StftConfig,
    cfg: &SpectralConfig,
) -> Result<SpectralFeatures> {
    cfg.validate()?;
    let mag = Stft::<f64>::new(*stft)?.spectrogram(y, 1.0)?;
    let freqs = fft_frequencies(sr, stft.n_fft);
    let mut column = vec![0.0f32; mag.rows];
    let mut rows = [(); 4].map(|_| FeatureMatrix::zeros(1, mag.cols));
    for t in 0..mag.cols {
        for (k, c) in column.iter_mut().enumerate() {
            *c = mag.get(k, t);
        }
        let c = centroid(&column, &freqs);
        rows[0].data[t] = c as f32;
        rows[1].data[t] = bandwidth(&column, &freqs, c) as f32;
        rows[2].data[t] = rolloff(&column, &freqs, cfg.rolloff_percent) as f32;
        rows[3].data[t] = flatness(&column, cfg.flatness_amin) as f32;
    }
    let [centroid, bandwidth, rolloff, flatness] = rows;
    Ok(SpectralFeatures {
        centroid,
        bandwidth,
        rolloff,
        flatness,
    })
}
