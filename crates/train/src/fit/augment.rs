//! Train-only augmentation of batches: SpecAugment masks, frequency warping and mixup.

use ser_model::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// SpecAugment-style masking of frame inputs (after normalisation, masks set values to 0,
/// the feature mean).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecAugment {
    /// Number of feature-row masks per sample.
    pub freq_masks: usize,
    /// Largest width of a feature-row mask.
    pub freq_width: usize,
    /// Number of frame masks per sample.
    pub time_masks: usize,
    /// Largest width of a frame mask.
    pub time_width: usize,
}

impl Default for SpecAugment {
    fn default() -> Self {
        Self {
            freq_masks: 2,
            freq_width: 8,
            time_masks: 2,
            time_width: 20,
        }
    }
}

impl SpecAugment {
    /// Masks one row-major [rows, cols] sample in place.
    pub fn apply(&self, x: &mut [f32], rows: usize, cols: usize, rng: &mut SplitMix64) {
        for _ in 0..self.freq_masks {
            let (start, width) = span(rows, self.freq_width, rng);
            for r in start..start + width {
                x[r * cols..(r + 1) * cols].fill(0.0);
            }
        }
        for _ in 0..self.time_masks {
            let (start, width) = span(cols, self.time_width, rng);
            for r in 0..rows {
                x[r * cols + start..r * cols + start + width].fill(0.0);
            }
        }
    }
}

/// Warping of the frequency axis of mel-band frames, in the spirit of vocal tract length
/// perturbation (Jaitly and Hinton 2013): each sample's spectrum is scaled by a factor drawn
/// anew from [1 - max, 1 + max], so that what was at f Hz lands at factor·f: formants as
/// another speaker's vocal tract would place them, words and timing unchanged. Rows are
/// resampled by their band centres, so the mel scale's spacing is respected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreqWarp {
    /// Largest relative change of frequency (0.1 = ±10 %).
    pub max: f32,
    /// Centre of each row's band in Hz, lowest first.
    pub band_hz: Vec<f64>,
}

impl FreqWarp {
    /// A warp of at most `max` for `features`, or `None` when they have no mel bands.
    pub fn on_mel_bands(max: f32, features: &ser_features::FeatureConfig) -> Option<Self> {
        features
            .mel_band_centres()
            .map(|band_hz| Self { max, band_hz })
    }

    /// Warps one row-major [rows, cols] sample in place (`rows` = the number of bands).
    pub fn apply(&self, x: &mut [f32], cols: usize, rng: &mut SplitMix64) {
        let factor = 1.0 + f64::from(self.max) * (2.0 * rng.unit() - 1.0);
        self.warp(x, cols, factor);
    }

    fn warp(&self, x: &mut [f32], cols: usize, factor: f64) {
        let rows = self.band_hz.len();
        let original = x[..rows * cols].to_vec();
        for (r, out) in x.chunks_exact_mut(cols).take(rows).enumerate() {
            let source = fractional_index(&self.band_hz, self.band_hz[r] / factor);
            let lo = source.floor() as usize;
            let hi = (lo + 1).min(rows - 1);
            let t = (source - lo as f64) as f32;
            let (a, b) = (
                &original[lo * cols..][..cols],
                &original[hi * cols..][..cols],
            );
            for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                *o = (1.0 - t) * a + t * b;
            }
        }
    }
}

/// Where `value` falls in the ascending `sorted`, as a fractional index (clamped to its ends).
fn fractional_index(sorted: &[f64], value: f64) -> f64 {
    let last = sorted.len() - 1;
    if value <= sorted[0] {
        return 0.0;
    }
    if value >= sorted[last] {
        return last as f64;
    }
    let hi = sorted.partition_point(|&v| v < value);
    let lo = hi - 1;
    lo as f64 + (value - sorted[lo]) / (sorted[hi] - sorted[lo])
}

/// A random mask [start, start + width) inside `len`, width in 0..=max_width.
fn span(len: usize, max_width: usize, rng: &mut SplitMix64) -> (usize, usize) {
    let width = rng.below(max_width.min(len) + 1);
    (rng.below(len - width + 1), width)
}

/// Mixes each sample with a partner from a permutation of the batch, with one
/// lambda ~ Beta(alpha, alpha) per batch (Zhang et al. 2018). Targets and weights mix alike.
pub fn mixup(
    alpha: f32,
    x: &mut [f32],
    targets: &mut [f32],
    weights: &mut [f32],
    sample_len: usize,
    rng: &mut SplitMix64,
) {
    let n = weights.len();
    let classes = targets.len() / n.max(1);
    let lambda = beta(alpha as f64, rng) as f32;
    let mut partner: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut partner);
    let (x0, t0, w0) = (x.to_vec(), targets.to_vec(), weights.to_vec());
    for (i, &j) in partner.iter().enumerate() {
        let mix = |a: f32, b: f32| lambda * a + (1.0 - lambda) * b;
        for k in 0..sample_len {
            x[i * sample_len + k] = mix(x0[i * sample_len + k], x0[j * sample_len + k]);
        }
        for c in 0..classes {
            targets[i * classes + c] = mix(t0[i * classes + c], t0[j * classes + c]);
        }
        weights[i] = mix(w0[i], w0[j]);
    }
}

/// Beta(a, a) from two gamma draws.
fn beta(a: f64, rng: &mut SplitMix64) -> f64 {
    let (x, y) = (gamma(a, rng), gamma(a, rng));
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

/// Gamma(shape, 1) by Marsaglia and Tsang, boosted for shape < 1.
fn gamma(shape: f64, rng: &mut SplitMix64) -> f64 {
    if shape < 1.0 {
        let u = rng.unit().max(f64::MIN_POSITIVE);
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = normal(rng);
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.unit().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Standard normal by Box-Muller.
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_is_in_unit_interval_with_mean_half() {
        let mut rng = SplitMix64::new(3);
        let draws: Vec<f64> = (0..2000).map(|_| beta(0.4, &mut rng)).collect();
        assert!(draws.iter().all(|&b| (0.0..=1.0).contains(&b)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
    }

    #[test]
    fn mixup_keeps_targets_normalised() {
        let mut rng = SplitMix64::new(1);
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        let mut t = vec![1.0, 0.0, 0.0, 1.0];
        let mut w = vec![1.0, 1.0];
        mixup(0.4, &mut x, &mut t, &mut w, 2, &mut rng);
        assert!((t[0] + t[1] - 1.0).abs() < 1e-6 && (t[2] + t[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn spec_augment_masks_stay_in_bounds() {
        let mut rng = SplitMix64::new(2);
        let aug = SpecAugment {
            freq_masks: 3,
            freq_width: 50,
            time_masks: 3,
            time_width: 50,
        };
        let mut x = vec![1.0; 4 * 6];
        aug.apply(&mut x, 4, 6, &mut rng);
        assert!(x.iter().all(|&v| v == 0.0 || v == 1.0));
    }

    fn warp_of(band_hz: Vec<f64>) -> FreqWarp {
        FreqWarp { max: 0.1, band_hz }
    }

    #[test]
    fn frequency_warp_by_one_changes_nothing() {
        let warp = warp_of(vec![100.0, 200.0, 400.0, 800.0]);
        let mut x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        warp.warp(&mut x, 2, 1.0);
        assert_eq!(x, (0..8).map(|v| v as f32).collect::<Vec<_>>());
    }

    #[test]
    fn frequency_warp_moves_energy_to_the_scaled_band() {
        // Bands a factor 1.25 apart: a peak in the 400 Hz band moves up one band when
        // frequencies scale by 1.25 and down one when they scale by 0.8.
        let band_hz: Vec<f64> = (0..6).map(|k| 100.0 * 1.25f64.powi(k)).collect();
        let warp = warp_of(band_hz);
        let peak_at = |factor: f64| {
            let mut x = vec![0.0f32; 6];
            x[3] = 1.0;
            warp.warp(&mut x, 1, factor);
            let best = x.iter().cloned().fold(f32::MIN, f32::max);
            (x.iter().position(|&v| v == best).unwrap(), best)
        };
        assert_eq!(peak_at(1.25), (4, 1.0));
        assert_eq!(peak_at(0.8), (2, 1.0));
        let (row, height) = peak_at(1.1);
        assert!(row == 3 && height < 1.0 && height > 0.0, "{row} {height}");
    }

    #[test]
    fn fractional_index_interpolates_and_clamps() {
        let hz = [100.0, 200.0, 400.0];
        assert_eq!(fractional_index(&hz, 50.0), 0.0);
        assert_eq!(fractional_index(&hz, 150.0), 0.5);
        assert_eq!(fractional_index(&hz, 300.0), 1.5);
        assert_eq!(fractional_index(&hz, 900.0), 2.0);
    }
}
