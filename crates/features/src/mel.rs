//! Mel scale, mel filterbank (librosa `filters.mel`), mel spectrogram and `power_to_db`.

use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result};
use crate::kernels::{dot, dot_pair, linspace, ln_positive};
use crate::matrix::FeatureMatrix;
use crate::stft::{Stft, StftConfig, fft_frequencies, spectral_power};

/// How each triangular filter is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelNorm {
    /// Divide by the filter's bandwidth (`2 / (f[i+2] - f[i])`): constant energy per band.
    Slaney,
    /// Peak 1 triangles.
    None,
}

/// Mel filterbank and spectrogram parameters (librosa `melspectrogram` keywords).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MelConfig {
    /// Number of mel filters (bands).
    pub n_mels: usize,
    /// Lowest filter edge in Hz.
    pub fmin: f64,
    /// Highest filter edge in Hz; `None` = sr / 2.
    pub fmax: Option<f64>,
    /// HTK mel formula instead of Slaney's (librosa `htk=True`).
    pub htk: bool,
    /// How each filter is scaled (librosa `norm`).
    pub norm: MelNorm,
    /// Exponent of the magnitude spectrogram fed to the filters (2 = power).
    pub power: f64,
}

impl MelConfig {
    /// librosa's `melspectrogram` defaults with `n_mels` filters.
    pub fn librosa(n_mels: usize) -> Self {
        MelConfig {
            n_mels,
            fmin: 0.0,
            fmax: None,
            htk: false,
            norm: MelNorm::Slaney,
            power: 2.0,
        }
    }

    /// Upper edge for a sample rate.
    pub fn fmax_for(&self, sr: f64) -> f64 {
        self.fmax.unwrap_or(sr / 2.0)
    }

    /// Checks the mel parameters against a sample rate.
    pub fn validate(&self, sr: f64) -> Result<()> {
        if self.n_mels == 0 {
            return Err(FeatureError::invalid("n_mels", "must be positive"));
        }
        let fmax = self.fmax_for(sr);
        if !(self.fmin >= 0.0 && self.fmin < fmax && fmax.is_finite()) {
            return Err(FeatureError::invalid(
                "fmin/fmax",
                format!(
                    "need 0 <= fmin < fmax, got fmin {} fmax {}",
                    self.fmin, fmax
                ),
            ));
        }
        if !(self.power > 0.0 && self.power.is_finite()) {
            return Err(FeatureError::invalid(
                "power",
                format!("must be positive, got {}", self.power),
            ));
        }
        Ok(())
    }
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz to mels (Slaney: linear below 1 kHz, logarithmic above; or HTK).
pub fn hz_to_mel(hz: f64, htk: bool) -> f64 {
    if htk {
        return 2595.0 * (1.0 + hz / 700.0).log10();
    }
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / logstep()
    } else {
        hz / F_SP
    }
}

/// Mels to Hz, inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64, htk: bool) -> f64 {
    if htk {
        return 700.0 * (10f64.powf(mel / 2595.0) - 1.0);
    }
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (logstep() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// `n` frequencies evenly spaced in mels between fmin and fmax (librosa `mel_frequencies`).
pub fn mel_frequencies(n: usize, fmin: f64, fmax: f64, htk: bool) -> Vec<f64> {
    linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n)
        .into_iter()
        .map(|m| mel_to_hz(m, htk))
        .collect()
}

/// Filter spans are padded to multiples of this many bins (one AVX register).
const PAD: usize = 8;

/// A mel filterbank stored sparsely: each filter keeps only its non-zero span of bins.
#[derive(Debug, Clone)]
pub struct MelFilterbank {
    n_bins: usize,
    starts: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

impl MelFilterbank {
    /// Builds `librosa.filters.mel(sr, n_fft, ...)` with its float32 rounding reproduced.
    pub fn new(sr: f64, n_fft: usize, cfg: &MelConfig) -> Result<Self> {
        cfg.validate(sr)?;
        let dense = dense_weights(sr, n_fft, cfg);
        let n_bins = n_fft / 2 + 1;
        let mut bank = MelFilterbank {
            n_bins,
            starts: vec![],
            offsets: vec![0],
            weights: vec![],
        };
        for row in dense.chunks_exact(n_bins) {
            let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let last = row.iter().rposition(|&w| w != 0.0).map_or(first, |l| l + 1);
            // widen the span to whole blocks of 8 bins (zeros are exact no-ops) so the
            // per-frame kernel needs no scalar tail; shift left where the span hits the top
            let width = (last - first).div_ceil(PAD).max(1) * PAD;
            let start = if width > n_bins {
                0
            } else {
                first.min(n_bins - width)
            };
            let end = (start + width).min(n_bins);
            bank.starts.push(start);
            bank.weights.extend_from_slice(&row[start..end]);
            bank.offsets.push(bank.weights.len());
        }
        Ok(bank)
    }

    /// Number of filters.
    pub fn n_mels(&self) -> usize {
        self.starts.len()
    }

    /// Number of spectrum bins the filters expect.
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// Indices of filters with no non-zero weight (librosa warns about these).
    pub fn empty_filters(&self) -> Vec<usize> {
        (0..self.n_mels())
            .filter(|&m| self.filter(m).1.iter().all(|&w| w == 0.0))
            .collect()
    }

    fn filter(&self, m: usize) -> (usize, &[f32]) {
        (
            self.starts[m],
            &self.weights[self.offsets[m]..self.offsets[m + 1]],
        )
    }

    /// `out[m] = Σ_k W[m, k] · spectrum[k]`, touching only each filter's non-zero span.
    #[inline]
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `apply_avx2`.
            unsafe { self.apply_avx2(spectrum, out) };
            return;
        }
        for (m, o) in out.iter_mut().enumerate().take(self.n_mels()) {
            let (start, w) = self.filter(m);
            *o = dot(w, &spectrum[start..start + w.len()]);
        }
    }

    /// [`Self::apply`] for two spectra at once: each weight is loaded once for both, and the
    /// two accumulation chains per filter run in parallel.
    #[inline]
    pub(crate) fn apply_pair(&self, spectra: [&[f32]; 2], out_a: &mut [f32], out_b: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `apply_pair_avx2`.
            unsafe { self.apply_pair_avx2(spectra, out_a, out_b) };
            return;
        }
        self.apply_pair_portable(spectra, out_a, out_b);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn apply_pair_avx2(&self, spectra: [&[f32]; 2], out_a: &mut [f32], out_b: &mut [f32]) {
        self.apply_pair_portable(spectra, out_a, out_b);
    }

    #[inline(always)]
    fn apply_pair_portable(&self, spectra: [&[f32]; 2], out_a: &mut [f32], out_b: &mut [f32]) {
        for (m, (oa, ob)) in out_a
            .iter_mut()
            .zip(out_b.iter_mut())
            .enumerate()
            .take(self.n_mels())
        {
            let (start, w) = self.filter(m);
            let end = start + w.len();
            (*oa, *ob) = dot_pair(w, &spectra[0][start..end], &spectra[1][start..end]);
        }
    }

    /// Spans are whole blocks of 8 (see `new`), so each filter is a run of 8-wide FMAs.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn apply_avx2(&self, spectrum: &[f32], out: &mut [f32]) {
        use std::arch::x86_64::*;
        for (m, o) in out.iter_mut().enumerate().take(self.n_mels()) {
            let (start, w) = self.filter(m);
            let s = &spectrum[start..start + w.len()];
            if !w.len().is_multiple_of(PAD) {
                *o = dot(w, s);
                continue;
            }
            let mut acc = _mm256_setzero_ps();
            for (wc, sc) in w.chunks_exact(PAD).zip(s.chunks_exact(PAD)) {
                // SAFETY: both chunks hold exactly 8 f32; loads are unaligned.
                let (x, y) =
                    unsafe { (_mm256_loadu_ps(wc.as_ptr()), _mm256_loadu_ps(sc.as_ptr())) };
                acc = _mm256_fmadd_ps(x, y, acc);
            }
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds exactly 8 f32.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
            *o = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
                + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        }
    }

    /// The full n_mels × n_bins matrix (for inspection and tests).
    pub fn to_dense(&self) -> FeatureMatrix {
        let mut m = FeatureMatrix::zeros(self.n_mels(), self.n_bins);
        for r in 0..self.n_mels() {
            let (start, w) = self.filter(r);
            m.data[r * self.n_bins + start..r * self.n_bins + start + w.len()].copy_from_slice(w);
        }
        m
    }
}

/// librosa's construction, step by step: triangles from `mel_frequencies(n_mels + 2)` over
/// `fft_frequencies`, stored in float32, then scaled by the Slaney norm (f32 · f64 → f32).
fn dense_weights(sr: f64, n_fft: usize, cfg: &MelConfig) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let fftfreqs = fft_frequencies(sr, n_fft);
    let mel_f = mel_frequencies(cfg.n_mels + 2, cfg.fmin, cfg.fmax_for(sr), cfg.htk);
    let fdiff: Vec<f64> = mel_f.windows(2).map(|p| p[1] - p[0]).collect();
    let mut weights = vec![0.0f32; cfg.n_mels * n_bins];
    for i in 0..cfg.n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / fdiff[i];
            let upper = (mel_f[i + 2] - f) / fdiff[i + 1];
            let w = 0f64.max(lower.min(upper)) as f32;
            weights[i * n_bins + k] = match cfg.norm {
                MelNorm::Slaney => (w as f64 * enorm) as f32,
                MelNorm::None => w,
            };
        }
    }
    weights
}

/// `librosa.feature.melspectrogram(y, sr, ...)` as n_mels × frames.
pub fn melspectrogram(
    y: &[f32],
    sr: f64,
    stft: &StftConfig,
    mel: &MelConfig,
) -> Result<FeatureMatrix> {
    let bank = MelFilterbank::new(sr, stft.n_fft, mel)?;
    let mut stft = Stft::<f32>::new(*stft)?;
    let mut spectrum = vec![0.0f32; bank.n_bins()];
    let mut frame_major = Vec::new();
    let mut mel_frame = vec![0.0f32; bank.n_mels()];
    stft.for_each_frame(y, |_, spec| {
        for (s, c) in spectrum.iter_mut().zip(spec) {
            *s = spectral_power(*c, mel.power);
        }
        bank.apply(&spectrum, &mut mel_frame);
        frame_major.extend_from_slice(&mel_frame);
    })?;
    Ok(FeatureMatrix::from_frame_major(&frame_major, bank.n_mels()))
}

/// `power_to_db` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    /// Reference power (0 dB), librosa `ref` (a constant here).
    pub ref_power: f64,
    /// Floor applied before the logarithm.
    pub amin: f64,
    /// Clamp to `max - top_db`, the max taken over the whole array; `None` = no clamp.
    pub top_db: Option<f64>,
}

impl DbConfig {
    /// librosa's defaults: ref 1.0, amin 1e-10, top_db 80.
    pub const LIBROSA_DEFAULT: DbConfig = DbConfig {
        ref_power: 1.0,
        amin: 1e-10,
        top_db: Some(80.0),
    };

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if !(self.amin > 0.0) {
            return Err(FeatureError::invalid("amin", "must be strictly positive"));
        }
        if self.top_db.is_some_and(|t| !(t >= 0.0)) {
            return Err(FeatureError::invalid("top_db", "must be non-negative"));
        }
        if !(self.ref_power > 0.0) {
            return Err(FeatureError::invalid(
                "ref_power",
                "must be strictly positive",
            ));
        }
        Ok(())
    }
}

/// `librosa.power_to_db` in place: `10 log10(max(amin, x) / ref)`, then the global top_db clamp.
/// The logarithm is the vectorisable `ln_positive` (error ~1e-6 dB).
pub fn power_to_db(values: &mut [f32], cfg: &DbConfig) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `power_to_db_avx2`.
        unsafe { power_to_db_avx2(values, cfg) };
        return;
    }
    power_to_db_body(values, cfg);
}

/// [`power_to_db`] compiled for AVX2 (the branch-free log vectorises 8 wide; no FMA
/// contraction happens without fast-math, so results are identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn power_to_db_avx2(values: &mut [f32], cfg: &DbConfig) {
    power_to_db_body(values, cfg);
}

#[inline(always)]
fn power_to_db_body(values: &mut [f32], cfg: &DbConfig) {
    const DB_PER_NEPER: f32 = 4.342_944_8; // 10 / ln 10
    let offset = (10.0 * cfg.amin.max(cfg.ref_power).log10()) as f32;
    // values at or below amin get the exact floor (silence is exactly −100 dB by default);
    // amin is kept ≥ the smallest normal f32 so the fast log never sees 0 or a subnormal
    let amin = (cfg.amin as f32).max(f32::MIN_POSITIVE);
    let floor_db = (10.0 * cfg.amin.log10()) as f32 - offset;
    for v in values.iter_mut() {
        let db = DB_PER_NEPER * ln_positive(v.max(amin)) - offset;
        *v = if *v <= amin { floor_db } else { db };
    }
    if let Some(top_db) = cfg.top_db {
        let max_db = values.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let floor = (max_db as f64 - top_db) as f32;
        for v in values.iter_mut() {
            *v = v.max(floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_is_linear_below_1k() {
        assert!((hz_to_mel(500.0, false) - 7.5).abs() < 1e-12);
        assert!((mel_to_hz(hz_to_mel(3000.0, false), false) - 3000.0).abs() < 1e-9);
        assert!((mel_to_hz(hz_to_mel(3000.0, true), true) - 3000.0).abs() < 1e-9);
    }

    #[test]
    fn db_clamps_against_the_global_max() {
        let mut v = vec![1.0, 1e-12, 0.0];
        power_to_db(&mut v, &DbConfig::LIBROSA_DEFAULT);
        assert!(
            v[0].abs() < 1e-5 && v[1] == v[0] - 80.0 && v[2] == v[1],
            "{v:?}"
        );
        let mut silent = vec![0.0; 4];
        power_to_db(&mut silent, &DbConfig::LIBROSA_DEFAULT);
        assert!(silent.iter().all(|&d| d == -100.0), "{silent:?}");
    }
}
