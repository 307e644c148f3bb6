//! Chroma from an STFT (`librosa.feature.chroma_stft`) and librosa's tuning estimation
//! (`estimate_tuning` = `piptrack` + `pitch_tuning`).

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
use crate::kernels::{dot, linspace, matvec_pair, np_mod};
use crate::matrix::FeatureMatrix;
use crate::stft::{Stft, StftConfig, fft_frequencies, spectral_power};

/// Chroma parameters (librosa `chroma_stft` / `filters.chroma` keywords).
/// Column normalisation of the filterbank (L2) and per-frame normalisation (max) are fixed
/// at librosa's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChromaConfig {
    /// Number of chroma bins per octave (librosa 12, one per semitone).
    pub n_chroma: usize,
    /// Deviation from A440 in fractions of a chroma bin; `None` = estimate per signal.
    pub tuning: Option<f64>,
    /// Exponent of |STFT| fed to the filters: 2 (librosa's default) or 1 (the x4nth055 recipe,
    /// `chroma_stft(S=abs(stft))`; tuning is then estimated on the magnitude too).
    pub power: f64,
    /// Centre of the Gaussian octave weighting, in octaves above 27.5 Hz (librosa `ctroct`).
    pub ctroct: f64,
    /// Width in octaves of the octave weighting; `None` = flat.
    pub octwidth: Option<f64>,
    /// Start the chroma vector at C (true) or A (false).
    pub base_c: bool,
}

impl ChromaConfig {
    /// librosa defaults with a fixed tuning.
    pub fn librosa(tuning: Option<f64>) -> Self {
        ChromaConfig {
            n_chroma: 12,
            tuning,
            power: 2.0,
            ctroct: 5.0,
            octwidth: Some(2.0),
            base_c: true,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.n_chroma == 0 {
            return Err(FeatureError::invalid("n_chroma", "must be positive"));
        }
        if self.tuning.is_some_and(|t| !t.is_finite()) {
            return Err(FeatureError::invalid("tuning", "must be finite"));
        }
        if !(self.power > 0.0 && self.power.is_finite()) {
            return Err(FeatureError::invalid("chroma.power", "must be positive"));
        }
        if self.octwidth.is_some_and(|w| !(w > 0.0)) {
            return Err(FeatureError::invalid("octwidth", "must be positive"));
        }
        Ok(())
    }
}

/// A chroma filterbank: librosa's float32 weights, dense (n_chroma × n_bins). Rows are dense
/// (every bin feeds ~7 of 12 chroma), so 12 SIMD dot products beat any sparse layout.
#[derive(Debug, Clone)]
pub struct ChromaFilterbank {
    n_chroma: usize,
    n_bins: usize,
    weights: Vec<f32>,
}

impl ChromaFilterbank {
    /// `librosa.filters.chroma(sr, n_fft, tuning, ...)`, float32 like librosa's.
    pub fn new(sr: f64, n_fft: usize, tuning: f64, cfg: &ChromaConfig) -> Result<Self> {
        cfg.validate()?;
        let n_bins = n_fft / 2 + 1;
        let dense = dense_chroma(sr, n_fft, tuning, cfg);
        let weights = dense
            .chunks_exact(n_fft)
            .flat_map(|row| row[..n_bins].iter().map(|&w| w as f32))
            .collect();
        Ok(ChromaFilterbank {
            n_chroma: cfg.n_chroma,
            n_bins,
            weights,
        })
    }

    /// Chroma bins per frame.
    pub fn n_chroma(&self) -> usize {
        self.n_chroma
    }

    /// Raw (unnormalised) chroma of one spectrum frame.
    #[inline]
    pub fn apply_raw(&self, spectrum: &[f32], raw: &mut [f64]) {
        for (r, row) in raw.iter_mut().zip(self.weights.chunks_exact(self.n_bins)) {
            *r = dot(row, spectrum) as f64;
        }
    }

    /// [`Self::apply`] for two frames at once (each weight loaded once for both).
    #[inline]
    pub(crate) fn apply_pair(
        &self,
        spectra: [&[f32]; 2],
        raw: &mut [f64],
        dots: &mut [f32],
        out: [&mut [f32]; 2],
    ) {
        let (da, db) = dots.split_at_mut(self.n_chroma);
        matvec_pair(&self.weights, spectra[0], spectra[1], da, db);
        for (d, o) in [da, db].into_iter().zip(out) {
            for (r, &v) in raw.iter_mut().zip(d.iter()) {
                *r = v as f64;
            }
            normalise(raw, o);
        }
    }

    /// One normalised chroma frame (max = 1; all-zero frames stay zero).
    #[inline]
    pub fn apply(&self, spectrum: &[f32], raw: &mut [f64], out: &mut [f32]) {
        self.apply_raw(spectrum, raw);
        normalise(raw, out);
    }
}

/// Per-frame max-normalisation (norm = inf); all-zero frames stay zero.
#[inline]
fn normalise(raw: &[f64], out: &mut [f32]) {
    let max = raw.iter().fold(0.0f64, |m, &v| m.max(v.abs()));
    let norm = if max < f64::MIN_POSITIVE { 1.0 } else { max };
    for (o, &r) in out.iter_mut().zip(raw.iter()) {
        *o = (r / norm) as f32;
    }
}

/// librosa's `filters.chroma` in f64 (n_chroma × n_fft, before dropping the aliased half).
fn dense_chroma(sr: f64, n_fft: usize, tuning: f64, cfg: &ChromaConfig) -> Vec<f64> {
    let nc = cfg.n_chroma;
    let ncf = nc as f64;
    let a440 = 440.0 * 2f64.powf(tuning / ncf);
    let step = sr / n_fft as f64;
    // frqbins over all n_fft "bins" (bin 0 made up: 1.5 octaves below bin 1)
    let mut frqbins = Vec::with_capacity(n_fft);
    frqbins.push(0.0);
    for i in 1..n_fft {
        frqbins.push(ncf * (i as f64 * step / (a440 / 16.0)).log2());
    }
    frqbins[0] = if n_fft > 1 {
        frqbins[1] - 1.5 * ncf
    } else {
        0.0
    };
    let binwidth: Vec<f64> = (0..n_fft)
        .map(|i| {
            if i + 1 < n_fft {
                (frqbins[i + 1] - frqbins[i]).max(1.0)
            } else {
                1.0
            }
        })
        .collect();
    let n_chroma2 = (ncf / 2.0).round_ties_even();
    let mut wts = vec![0.0f64; nc * n_fft];
    for c in 0..nc {
        for i in 0..n_fft {
            let d = np_mod(frqbins[i] - c as f64 + n_chroma2 + 10.0 * ncf, ncf) - n_chroma2;
            wts[c * n_fft + i] = (-0.5 * (2.0 * d / binwidth[i]).powi(2)).exp();
        }
    }
    for i in 0..n_fft {
        // L2-normalise each column, then the Gaussian octave weighting
        let len = (0..nc)
            .map(|c| wts[c * n_fft + i].powi(2))
            .sum::<f64>()
            .sqrt();
        let len = if len < f64::MIN_POSITIVE { 1.0 } else { len };
        let oct = cfg.octwidth.map_or(1.0, |w| {
            (-0.5 * ((frqbins[i] / ncf - cfg.ctroct) / w).powi(2)).exp()
        });
        for c in 0..nc {
            wts[c * n_fft + i] = wts[c * n_fft + i] / len * oct;
        }
    }
    if cfg.base_c {
        // np.roll(wts, -3 * (n_chroma // 12), axis=0)
        let shift = 3 * (nc / 12) % nc;
        wts.rotate_left(shift * n_fft);
    }
    wts
}

/// Fixed piptrack settings of `estimate_tuning` (librosa defaults).
const PIPTRACK_FMIN: f64 = 150.0;
const PIPTRACK_FMAX: f64 = 4000.0;
const PIPTRACK_THRESHOLD: f64 = 0.1;
const TUNING_RESOLUTION: f64 = 0.01;

/// Parabolic-interpolation shift of bin `k` (librosa `_pi_stencil`); 0 at the edges.
#[inline]
pub(crate) fn parabolic_shift(x: &[f64], k: usize) -> f64 {
    if k == 0 || k + 1 >= x.len() {
        return 0.0;
    }
    let a = x[k + 1] + x[k - 1] - 2.0 * x[k];
    let b = (x[k + 1] - x[k - 1]) / 2.0;
    if b.abs() >= a.abs() { 0.0 } else { -b / a }
}

/// Collects piptrack's (pitch, magnitude) peaks of one spectrum frame (in f64).
fn piptrack_frame(s: &[f64], sr: f64, n_fft: usize, freqs: &[f64], peaks: &mut Vec<(f64, f64)>) {
    let n = s.len();
    let fmax = PIPTRACK_FMAX.min(sr / 2.0);
    let ref_value = PIPTRACK_THRESHOLD * s.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let gated = |k: usize| if s[k] > ref_value { s[k] } else { 0.0 };
    for k in 1..n {
        if !(PIPTRACK_FMIN <= freqs[k] && freqs[k] < fmax) {
            continue;
        }
        // util.localmax: x[k] > x[k-1] and x[k] >= x[k+1]; the last bin only needs the first.
        let is_max = gated(k) > gated(k - 1) && (k + 1 == n || gated(k) >= gated(k + 1));
        if !is_max {
            continue;
        }
        let shift = parabolic_shift(s, k);
        let avg = if k + 1 == n {
            s[k] - s[k - 1]
        } else {
            (s[k + 1] - s[k - 1]) / 2.0
        };
        let pitch = (k as f64 + shift) * sr / n_fft as f64;
        if pitch > 0.0 {
            peaks.push((pitch, s[k] + 0.5 * avg * shift));
        }
    }
}

/// `librosa.estimate_tuning(S=spec, sr, bins_per_octave=n_chroma)` on a frame-major spectrogram
/// (`spec[t * n_bins + k]`, the same power of |STFT| librosa would be handed).
pub fn estimate_tuning_frames(
    frame_major: &[f32],
    n_bins: usize,
    sr: f64,
    bins_per_octave: usize,
) -> f64 {
    let n_fft = 2 * (n_bins - 1);
    let freqs = fft_frequencies(sr, n_fft);
    let mut peaks = Vec::new();
    let mut s = vec![0.0f64; n_bins];
    for frame in frame_major.chunks_exact(n_bins) {
        for (d, &v) in s.iter_mut().zip(frame) {
            *d = v as f64;
        }
        piptrack_frame(&s, sr, n_fft, &freqs, &mut peaks);
    }
    if peaks.is_empty() {
        return pitch_tuning(&[], TUNING_RESOLUTION, bins_per_octave);
    }
    let threshold = median(peaks.iter().map(|p| p.1).collect());
    let kept: Vec<f64> = peaks
        .iter()
        .filter(|p| p.1 >= threshold)
        .map(|p| p.0)
        .collect();
    pitch_tuning(&kept, TUNING_RESOLUTION, bins_per_octave)
}

/// `librosa.estimate_tuning` on a bins × frames spectrogram matrix.
pub fn estimate_tuning(spec: &FeatureMatrix, sr: f64, bins_per_octave: usize) -> f64 {
    let mut frame_major = vec![0.0f32; spec.rows * spec.cols];
    for r in 0..spec.rows {
        for t in 0..spec.cols {
            frame_major[t * spec.rows + r] = spec.get(r, t);
        }
    }
    estimate_tuning_frames(&frame_major, spec.rows, sr, bins_per_octave)
}

/// numpy's median (mean of the two middle values for even counts).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `librosa.pitch_tuning`: histogram (numpy's binning) of the deviations from the equal-tempered
/// grid, returning the left edge of the fullest bin.
pub fn pitch_tuning(frequencies: &[f64], resolution: f64, bins_per_octave: usize) -> f64 {
    let bpo = bins_per_octave as f64;
    let residuals: Vec<f64> = frequencies
        .iter()
        .filter(|&&f| f > 0.0)
        .map(|&f| {
            let r = np_mod(bpo * (f / (440.0 / 16.0)).log2(), 1.0);
            if r >= 0.5 { r - 1.0 } else { r }
        })
        .collect();
    if residuals.is_empty() {
        return 0.0;
    }
    let n_bins = (1.0 / resolution).ceil() as usize;
    let edges = linspace(-0.5, 0.5, n_bins + 1);
    let mut counts = vec![0usize; n_bins];
    for &r in &residuals {
        if let Some(i) = histogram_bin(r, &edges) {
            counts[i] += 1;
        }
    }
    let best = counts
        .iter()
        .enumerate()
        .fold(0, |b, (i, &c)| if c > counts[b] { i } else { b });
    edges[best]
}

/// numpy.histogram's bin index for uniform edges, including its edge corrections.
fn histogram_bin(x: f64, edges: &[f64]) -> Option<usize> {
    let n = edges.len() - 1;
    let (first, last) = (edges[0], edges[n]);
    if !(x >= first && x <= last) {
        return None;
    }
    let mut i = ((x - first) / (last - first) * n as f64) as usize;
    if i == n {
        i -= 1;
    }
    if x < edges[i] {
        i = i.saturating_sub(1);
    } else if x >= edges[i + 1] && i != n - 1 {
        i += 1;
    }
    Some(i)
}

/// `librosa.feature.chroma_stft(y, sr, ...)` → (n_chroma × frames, tuning used).
pub fn chroma_stft(
    y: &[f32],
    sr: f64,
    stft: &StftConfig,
    cfg: &ChromaConfig,
) -> Result<(FeatureMatrix, f64)> {
    cfg.validate()?;
    let n_bins = stft.n_bins();
    let mut spec = Vec::new();
    Stft::<f32>::new(*stft)?.for_each_frame(y, |_, frame| {
        spec.extend(frame.iter().map(|c| spectral_power(*c, cfg.power)));
    })?;
    let tuning = cfg
        .tuning
        .unwrap_or_else(|| estimate_tuning_frames(&spec, n_bins, sr, cfg.n_chroma));
    let bank = ChromaFilterbank::new(sr, stft.n_fft, tuning, cfg)?;
    let mut raw = vec![0.0f64; cfg.n_chroma];
    let mut out = vec![0.0f32; spec.len() / n_bins * cfg.n_chroma];
    for (frame, o) in spec
        .chunks_exact(n_bins)
        .zip(out.chunks_exact_mut(cfg.n_chroma))
    {
        bank.apply(frame, &mut raw, o);
    }
    Ok((FeatureMatrix::from_frame_major(&out, cfg.n_chroma), tuning))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_binning_matches_numpy_edges() {
        let edges = linspace(-0.5, 0.5, 101);
        assert_eq!(histogram_bin(-0.5, &edges), Some(0));
        assert_eq!(histogram_bin(0.5, &edges), Some(99));
        assert_eq!(histogram_bin(edges[46], &edges), Some(46));
    }

    #[test]
    fn tuning_of_a440_is_zero() {
        assert_eq!(pitch_tuning(&[440.0, 880.0, 220.0], 0.01, 12), 0.0);
        assert_eq!(pitch_tuning(&[], 0.01, 12), 0.0);
    }
}
