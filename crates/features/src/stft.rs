//! Short-time Fourier transform as librosa 0.11 computes it: periodic Hann window (zero-padded
//! to `n_fft` when `win_length < n_fft`), frames centred by zero padding of `n_fft / 2`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{FftNum, RealFftPlanner, RealToComplex};
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

/// Frame starting at padded position `start` times the window, in one pass; samples outside
/// the signal are zero.
#[inline]
fn windowed_frame<T: SpectrumFloat>(
    y: &[f32],
    start: usize,
    pad: usize,
    window: &[T],
    out: &mut [T],
) {
    let first = start as isize - pad as isize;
    let lo = (-first).clamp(0, out.len() as isize) as usize;
    let hi = (y.len() as isize - first).clamp(lo as isize, out.len() as isize) as usize;
    out[..lo].fill(T::zero());
    out[hi..].fill(T::zero());
    let src = &y[(first + lo as isize) as usize..(first + hi as isize) as usize];
    for ((o, &v), &w) in out[lo..hi].iter_mut().zip(src).zip(&window[lo..hi]) {
        *o = T::from(v) * w;
    }
}

/// A reusable STFT: FFT plan, window and scratch buffers are allocated once.
pub struct Stft<T: SpectrumFloat = f32> {
    cfg: StftConfig,
    window: Vec<T>,
    fft: Arc<dyn RealToComplex<T>>,
    frame: Vec<T>,
    spectrum: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: SpectrumFloat> Stft<T> {
    /// Plans the FFT and builds the window.
    pub fn new(cfg: StftConfig) -> Result<Self> {
        cfg.validate()?;
        let fft = RealFftPlanner::<T>::new().plan_fft_forward(cfg.n_fft);
        let window = padded_window(cfg.n_fft, cfg.win_length)
            .iter()
            .map(|&w| T::round_from_f64(w))
            .collect();
        Ok(Stft {
            cfg,
            window,
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
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
        let pad = if self.cfg.center {
            self.cfg.n_fft / 2
        } else {
            0
        };
        for t in 0..n_frames {
            windowed_frame(
                y,
                t * self.cfg.hop_length,
                pad,
                &self.window,
                &mut self.frame,
            );
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .map_err(|e| FeatureError::Fft(e.to_string()))?;
            on_frame(t, &self.spectrum);
        }
        Ok(n_frames)
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
