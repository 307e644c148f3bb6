//! Short-time Fourier transform as librosa 0.11 computes it: periodic Hann window (zero-padded
//! to `n_fft` when `win_length < n_fft`), frames centred by zero padding of `n_fft / 2`.

use std::sync::Arc;

use realfft::FftNum;
use realfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::error::{FeatureError, Result, check_signal};
use crate::kernels::linspace;
use crate::matrix::FeatureMatrix;

/// Framing of the STFT (and of every frame-based feature that shares it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StftConfig {
    /// FFT length; the spectrum has `n_fft / 2 + 1` bins.
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop_length: usize,
    /// Length of the Hann window (≤ n_fft), centred inside the FFT frame.
    pub win_length: usize,
    /// Centre frames on `t * hop` by zero-padding `n_fft / 2` samples on both sides.
    pub center: bool,
}

impl StftConfig {
    /// librosa's defaults: n_fft 2048, hop 512, win 2048, centred.
    pub const LIBROSA_DEFAULT: StftConfig = StftConfig {
        n_fft: 2048,
        hop_length: 512,
        win_length: 2048,
        center: true,
    };

    /// Number of frequency bins, `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Checks the framing parameters.
    pub fn validate(&self) -> Result<()> {
        if self.n_fft < 2 {
            return Err(FeatureError::invalid(
                "n_fft",
                format!("must be at least 2, got {}", self.n_fft),
            ));
        }
        if self.hop_length == 0 {
            return Err(FeatureError::invalid("hop_length", "must be positive"));
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return Err(FeatureError::invalid(
                "win_length",
                format!(
                    "must be in 1..={} (n_fft), got {}",
                    self.n_fft, self.win_length
                ),
            ));
        }
        Ok(())
    }

    /// Frames librosa produces for `len` samples.
    pub fn n_frames(&self, len: usize) -> Result<usize> {
        frame_count(len, self.n_fft, self.hop_length, self.center)
    }
}

/// Frame count of `util.frame` after optional centring (`pad = frame_length / 2` per side).
pub(crate) fn frame_count(
    len: usize,
    frame_length: usize,
    hop: usize,
    center: bool,
) -> Result<usize> {
    let padded = if center {
        len + 2 * (frame_length / 2)
    } else {
        len
    };
    if padded < frame_length {
        return Err(FeatureError::TooFewFrames {
            what: "framing (center=false)",
            frames: 0,
            needed: 1,
        });
    }
    Ok(1 + (padded - frame_length) / hop)
}

/// scipy's `get_window('hann', n, fftbins=True)`: the periodic Hann window, computed the way
/// scipy does (`0.5 + 0.5 cos(linspace(-π, π, n + 1))`, last point dropped) so it is bit-identical.
pub fn hann_periodic(n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![1.0];
    }
    let fac = linspace(-std::f64::consts::PI, std::f64::consts::PI, n + 1);
    fac[..n].iter().map(|&x| 0.5 + 0.5 * x.cos()).collect()
}

/// The analysis window, `win_length` Hann centred in `n_fft` zeros (librosa's `pad_center`).
pub(crate) fn padded_window(n_fft: usize, win_length: usize) -> Vec<f64> {
    let mut w = vec![0.0; n_fft];
    let lpad = (n_fft - win_length) / 2;
    w[lpad..lpad + win_length].copy_from_slice(&hann_periodic(win_length));
    w
}

/// Floating-point type an [`Stft`] computes in: f32 (fast; errors relative to each frame's
/// peak ~1e-7) or f64 (per-bin relative accuracy, needed by spectral moments whose far bins
/// have large frequency lever arms).
pub trait SpectrumFloat: FftNum + From<f32> + Into<f64> {
    /// Rounds an f64 (window coefficients) to this type.
    fn round_from_f64(v: f64) -> Self;
}

impl SpectrumFloat for f32 {
    fn round_from_f64(v: f64) -> Self {
        v as f32
    }
}

impl SpectrumFloat for f64 {
    fn round_from_f64(v: f64) -> Self {
        v
    }
}

/// Frame starting at padded position `start` times the window, written into the real
/// (`IM = false`) or imaginary (`IM = true`) parts of `out`; samples outside the signal are zero.
#[inline]
fn windowed_frame_into<T: SpectrumFloat, const IM: bool>(
    y: &[f32],
    start: usize,
    pad: usize,
    window: &[T],
    out: &mut [Complex<T>],
) {
    let first = start as isize - pad as isize;
    let lo = (-first).clamp(0, out.len() as isize) as usize;
    let hi = (y.len() as isize - first).clamp(lo as isize, out.len() as isize) as usize;
    let set = |c: &mut Complex<T>, v: T| {
        if IM {
            c.im = v;
        } else {
            c.re = v;
        }
    };
    out[..lo].iter_mut().for_each(|c| set(c, T::zero()));
    out[hi..].iter_mut().for_each(|c| set(c, T::zero()));
    let src = &y[(first + lo as isize) as usize..(first + hi as isize) as usize];
    for ((o, &v), &w) in out[lo..hi].iter_mut().zip(src).zip(&window[lo..hi]) {
        set(o, T::from(v) * w);
    }
}

/// `frame_a + i·frame_b` (each the padded signal from its start times the window) into `out`;
/// without `start_b` the imaginary part is zero.
#[inline(always)]
fn window_pair<T: SpectrumFloat>(
    y: &[f32],
    start_a: usize,
    start_b: Option<usize>,
    pad: usize,
    window: &[T],
    out: &mut [Complex<T>],
) {
    let n = out.len();
    if let Some(start_b) = start_b
        && start_a >= pad
        && start_b >= pad
        && start_a.max(start_b) - pad + n <= y.len()
    {
        // both frames inside the signal: one interleaving pass
        let ya = &y[start_a - pad..start_a - pad + n];
        let yb = &y[start_b - pad..start_b - pad + n];
        for (((o, &a), &b), &w) in out.iter_mut().zip(ya).zip(yb).zip(window) {
            *o = Complex::new(T::from(a) * w, T::from(b) * w);
        }
        return;
    }
    windowed_frame_into::<T, false>(y, start_a, pad, window, out);
    match start_b {
        Some(b) => windowed_frame_into::<T, true>(y, b, pad, window, out),
        None => out.iter_mut().for_each(|c| c.im = T::zero()),
    }
}

/// Splits the FFT `z` of `a + i·b` (a, b real) into the half spectra of a and b:
/// A[k] = (Z[k] + conj Z[N−k]) / 2, B[k] = (Z[k] − conj Z[N−k]) / 2i.
#[inline(always)]
fn separate_pair<T: SpectrumFloat>(z: &[Complex<T>], a: &mut [Complex<T>], b: &mut [Complex<T>]) {
    let n = z.len();
    let half = T::round_from_f64(0.5);
    a[0] = Complex::new(z[0].re, T::zero());
    b[0] = Complex::new(z[0].im, T::zero());
    let n_bins = a.len();
    let (head, tail) = (&z[1..n_bins], &z[n + 1 - n_bins..]);
    for (((x, y), p), q) in head
        .iter()
        .zip(tail.iter().rev())
        .zip(&mut a[1..])
        .zip(&mut b[1..])
    {
        *p = Complex::new((x.re + y.re) * half, (x.im - y.im) * half);
        *q = Complex::new((x.im + y.im) * half, (y.re - x.re) * half);
    }
}

/// A reusable STFT: FFT plan, window and scratch buffers are allocated once.
///
/// Frames are transformed two at a time: one complex FFT of `frame_t + i·frame_{t+1}` (the
/// same length as the real FFTs it replaces), then a cheap split into the two half spectra.
/// That halves the FFT count and skips the real-FFT post-processing pass.
pub struct Stft<T: SpectrumFloat = f32> {
    cfg: StftConfig,
    window: Vec<T>,
    fft: Arc<dyn Fft<T>>,
    packed: Vec<Complex<T>>,
    spectra: [Vec<Complex<T>>; 2],
    scratch: Vec<Complex<T>>,
}

impl<T: SpectrumFloat> Stft<T> {
    /// Plans the FFT and builds the window.
    pub fn new(cfg: StftConfig) -> Result<Self> {
        cfg.validate()?;
        let fft = FftPlanner::<T>::new().plan_fft_forward(cfg.n_fft);
        let window = padded_window(cfg.n_fft, cfg.win_length)
            .iter()
            .map(|&w| T::round_from_f64(w))
            .collect();
        let zero = Complex::new(T::zero(), T::zero());
        Ok(Stft {
            cfg,
            window,
            packed: vec![zero; cfg.n_fft],
            spectra: [vec![zero; cfg.n_bins()], vec![zero; cfg.n_bins()]],
            scratch: vec![zero; fft.get_inplace_scratch_len()],
            fft,
        })
    }

    /// The framing this STFT was built with.
    pub fn config(&self) -> &StftConfig {
        &self.cfg
    }

    /// Runs the STFT over `y`, calling `on_frame(t, spectrum)` for each frame in order.
    /// Nothing is allocated per frame.
    pub fn for_each_frame(
        &mut self,
        y: &[f32],
        mut on_frame: impl FnMut(usize, &[Complex<T>]),
    ) -> Result<usize> {
        check_signal(y)?;
        let n_frames = self.cfg.n_frames(y.len())?;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports AVX2 and FMA, the only requirement of `frames_avx2`.
            unsafe { self.frames_avx2(y, n_frames, &mut on_frame) };
            return Ok(n_frames);
        }
        self.frames(y, n_frames, &mut on_frame);
        Ok(n_frames)
    }

    /// [`Self::frames`] compiled for AVX2+FMA: windowing, the pair split and whatever of
    /// `on_frame` inlines (power spectra, filterbanks) vectorise 8 lanes wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn frames_avx2<F: FnMut(usize, &[Complex<T>])>(
        &mut self,
        y: &[f32],
        n_frames: usize,
        on_frame: &mut F,
    ) {
        self.frames(y, n_frames, on_frame);
    }

    #[inline(always)]
    fn frames<F: FnMut(usize, &[Complex<T>])>(
        &mut self,
        y: &[f32],
        n_frames: usize,
        on_frame: &mut F,
    ) {
        let pad = if self.cfg.center {
            self.cfg.n_fft / 2
        } else {
            0
        };
        let hop = self.cfg.hop_length;
        for t in (0..n_frames).step_by(2) {
            let pair = t + 1 < n_frames;
            window_pair(
                y,
                t * hop,
                pair.then_some((t + 1) * hop),
                pad,
                &self.window,
                &mut self.packed,
            );
            self.fft
                .process_with_scratch(&mut self.packed, &mut self.scratch);
            let [a, b] = &mut self.spectra;
            separate_pair(&self.packed, a, b);
            on_frame(t, a);
            if pair {
                on_frame(t + 1, b);
            }
        }
    }

    /// `|STFT|^power` as a bins × frames matrix (power 1 = magnitude, 2 = power).
    pub fn spectrogram(&mut self, y: &[f32], power: f64) -> Result<FeatureMatrix> {
        let n_bins = self.cfg.n_bins();
        let mut frame_major = Vec::with_capacity(n_bins * self.cfg.n_frames(y.len()).unwrap_or(0));
        self.for_each_frame(y, |_, spec| {
            frame_major.extend(spec.iter().map(|c| spectral_power(*c, power)));
        })?;
        Ok(FeatureMatrix::from_frame_major(&frame_major, n_bins))
    }
}

/// `|c|^power` rounded to f32, with the two common powers special-cased (no `powf`).
#[inline]
pub(crate) fn spectral_power<T: SpectrumFloat>(c: Complex<T>, power: f64) -> f32 {
    let p = c.re * c.re + c.im * c.im;
    if power == 2.0 {
        let p: f64 = p.into();
        p as f32
    } else if power == 1.0 {
        let p: f64 = p.into();
        p.sqrt() as f32
    } else {
        let p: f64 = p.into();
        p.powf(power / 2.0) as f32
    }
}

/// `abs(librosa.stft(y, ...))` as bins × frames.
pub fn stft_magnitude(y: &[f32], cfg: &StftConfig) -> Result<FeatureMatrix> {
    Stft::<f32>::new(*cfg)?.spectrogram(y, 1.0)
}

/// `abs(librosa.stft(y, ...)) ** 2` as bins × frames.
pub fn stft_power(y: &[f32], cfg: &StftConfig) -> Result<FeatureMatrix> {
    Stft::<f32>::new(*cfg)?.spectrogram(y, 2.0)
}

/// numpy's `rfftfreq(n_fft, 1/sr)` (librosa's `fft_frequencies`), computed the same way.
pub fn fft_frequencies(sr: f64, n_fft: usize) -> Vec<f64> {
    let val = 1.0 / (n_fft as f64 * (1.0 / sr));
    (0..n_fft / 2 + 1).map(|k| k as f64 * val).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hann_is_periodic() {
        let w = hann_periodic(8);
        assert!(w[0].abs() < 1e-15);
        assert!((w[4] - 1.0).abs() < 1e-15);
        assert!((w[2] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn frame_counts_follow_librosa() {
        let c = StftConfig::LIBROSA_DEFAULT;
        assert_eq!(c.n_frames(100).unwrap(), 1);
        assert_eq!(c.n_frames(16000).unwrap(), 32);
        let nc = StftConfig { center: false, ..c };
        assert!(nc.n_frames(100).is_err());
        assert_eq!(nc.n_frames(2048).unwrap(), 1);
    }

    #[test]
    fn empty_signal_is_an_error() {
        assert_eq!(
            stft_magnitude(&[], &StftConfig::LIBROSA_DEFAULT),
            Err(FeatureError::EmptySignal)
        );
    }
}
