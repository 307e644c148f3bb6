//! Fundamental frequency by YIN, as `librosa.yin` 0.11 computes it (f64 throughout).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use crate::chroma::parabolic_shift;
use crate::error::{FeatureError, Result, check_signal};
use crate::stft::frame_count;

/// YIN parameters (librosa `yin` keywords; framing zero-padded and centred like librosa).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YinConfig {
    /// Lowest f0 searched, in Hz; its period must fit in a frame.
    pub fmin: f64,
    /// Highest f0 searched, in Hz; at most the Nyquist frequency.
    pub fmax: f64,
    /// Samples per analysis frame.
    pub frame_length: usize,
    /// Samples between frame starts.
    pub hop_length: usize,
    /// The first trough of the normalised difference below this gives the period (and marks
    /// the frame voiced).
    pub trough_threshold: f64,
    /// Centre frames on `t * hop` by zero-padding `frame_length / 2` samples on both sides.
    pub center: bool,
}

impl YinConfig {
    /// The golden's settings: fmin 50, fmax 500, frame 2048, hop 512, threshold 0.1.
    pub const SPEECH_DEFAULT: YinConfig = YinConfig {
        fmin: 50.0,
        fmax: 500.0,
        frame_length: 2048,
        hop_length: 512,
        trough_threshold: 0.1,
        center: true,
    };

    /// librosa's `__check_yin_params`.
    pub fn validate(&self, sr: f64) -> Result<()> {
        if self.hop_length == 0 {
            return Err(FeatureError::invalid("yin.hop_length", "must be positive"));
        }
        if self.fmax > sr / 2.0 {
            return Err(FeatureError::invalid(
                "yin.fmax",
                format!("{} exceeds Nyquist {}", self.fmax, sr / 2.0),
            ));
        }
        if !(self.fmin > 0.0 && self.fmin < self.fmax) {
            return Err(FeatureError::invalid(
                "yin.fmin",
                format!("need 0 < fmin < fmax, got {}", self.fmin),
            ));
        }
        if self.frame_length < 3 || sr / self.fmin >= (self.frame_length - 1) as f64 {
            return Err(FeatureError::invalid(
                "yin.frame_length",
                format!(
                    "fmin {} too low for frame_length {} at {} Hz",
                    self.fmin, self.frame_length, sr
                ),
            ));
        }
        Ok(())
    }
}

/// YIN's estimate for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct YinFrame {
    /// Estimated fundamental frequency in Hz; given for unvoiced frames too.
    pub f0: f64,
    /// A trough below `trough_threshold` was found (else the global minimum was used).
    pub voiced: bool,
}

/// A reusable YIN estimator: FFT plans and per-frame buffers are allocated once.
pub struct Yin {
    cfg: YinConfig,
    sr: f64,
    min_period: usize,
    max_period: usize,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
    time: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    diff: Vec<f64>,
    cmnd: Vec<f64>,
}

impl Yin {
    /// Plans an autocorrelation FFT of at least 2·frame_length − 1 points.
    pub fn new(sr: f64, cfg: YinConfig) -> Result<Self> {
        cfg.validate(sr)?;
        let n_pad = (2 * cfg.frame_length - 1).next_power_of_two();
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(n_pad);
        let inverse = planner.plan_fft_inverse(n_pad);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let min_period = (sr / cfg.fmax).floor() as usize;
        let max_period = ((sr / cfg.fmin).ceil() as usize).min(cfg.frame_length - 1);
        Ok(Yin {
            cfg,
            sr,
            min_period,
            max_period,
            time: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            scratch: vec![Complex::default(); scratch_len],
            forward,
            inverse,
            diff: vec![0.0; max_period + 1],
            cmnd: vec![0.0; max_period + 1],
        })
    }

    /// Number of frames for `len` samples.
    pub fn n_frames(&self, len: usize) -> Result<usize> {
        frame_count(
            len,
            self.cfg.frame_length,
            self.cfg.hop_length,
            self.cfg.center,
        )
    }

    /// Estimates f0 for every frame of `y`.
    pub fn compute(&mut self, y: &[f32], out: &mut Vec<YinFrame>) -> Result<()> {
        check_signal(y)?;
        let n_frames = self.n_frames(y.len())?;
        let pad = if self.cfg.center {
            self.cfg.frame_length / 2
        } else {
            0
        };
        out.clear();
        for t in 0..n_frames {
            self.load_frame(y, t * self.cfg.hop_length, pad);
            self.difference_function()?;
            out.push(self.pick_period());
        }
        Ok(())
    }

    /// The cumulative mean normalised difference of frame `t` of `y` (index i ↔ period
    /// `min_period + i`), as librosa's `_cumulative_mean_normalized_difference`.
    pub(crate) fn cmnd_frame(&mut self, y: &[f32], t: usize) -> Result<&[f64]> {
        let pad = if self.cfg.center {
            self.cfg.frame_length / 2
        } else {
            0
        };
        self.load_frame(y, t * self.cfg.hop_length, pad);
        self.difference_function()?;
        Ok(&self.cmnd[..self.max_period - self.min_period + 1])
    }

    /// Length of the CMND [`Self::cmnd_frame`] returns.
    pub(crate) fn cmnd_len(&self) -> usize {
        self.max_period - self.min_period + 1
    }

    /// The shortest period searched, `floor(sr / fmax)`.
    pub(crate) fn min_period(&self) -> usize {
        self.min_period
    }

    fn load_frame(&mut self, y: &[f32], start: usize, pad: usize) {
        self.time.fill(0.0);
        for i in 0..self.cfg.frame_length {
            let idx = (start + i) as isize - pad as isize;
            if idx >= 0 && (idx as usize) < y.len() {
                self.time[i] = y[idx as usize] as f64;
            }
        }
    }

    /// librosa's `_cumulative_mean_normalized_difference` for the loaded frame, into `cmnd`
    /// (index i ↔ period min_period + i).
    fn difference_function(&mut self) -> Result<()> {
        let max_p = self.max_period;
        // E[j] = Σ_{m ≤ j} y[m]², sequential like numpy's cumsum; kept in `cmnd` for now.
        let mut energy = 0.0;
        for (j, e) in self.cmnd.iter_mut().enumerate().take(max_p) {
            energy += self.time[j] * self.time[j];
            *e = energy;
        }
        // autocorrelation = irfft(|rfft(frame)|²) / n (the transform size is ≥ 2·frame − 1: no wrap)
        let n = self.time.len() as f64;
        self.forward
            .process_with_scratch(&mut self.time, &mut self.spectrum, &mut self.scratch)
            .map_err(|e| FeatureError::Fft(e.to_string()))?;
        for c in self.spectrum.iter_mut() {
            *c = Complex::new(c.norm_sqr(), 0.0);
        }
        self.inverse
            .process_with_scratch(&mut self.spectrum, &mut self.time, &mut self.scratch)
            .map_err(|e| FeatureError::Fft(e.to_string()))?;
        let acf = &self.time;
        // d[k] = 2 (acf[0] − acf[k]) − E[k−1]; librosa zeroes E[0] first, so d[1] has no energy term.
        self.diff[0] = 0.0;
        for k in 1..=max_p {
            let e = if k >= 2 { self.cmnd[k - 1] } else { 0.0 };
            self.diff[k] = 2.0 * (acf[0] / n - acf[k] / n) - e;
        }
        // cumulative mean of d[1..=k], normalised difference for periods min..=max
        let mut running = 0.0;
        let mut cumulative_mean = std::mem::take(&mut self.cmnd);
        for k in 1..=max_p {
            running += self.diff[k];
            cumulative_mean[k - 1] = running / k as f64;
        }
        // in place: slot i is written only after every read of it (min_period ≥ 1)
        for i in 0..=max_p - self.min_period {
            let den = cumulative_mean[self.min_period - 1 + i] + f64::MIN_POSITIVE;
            cumulative_mean[i] = self.diff[self.min_period + i] / den;
        }
        self.cmnd = cumulative_mean;
        Ok(())
    }

    /// The smallest period with a trough below the threshold, else the global minimum,
    /// refined by parabolic interpolation.
    fn pick_period(&self) -> YinFrame {
        let n = self.max_period - self.min_period + 1;
        let d = &self.cmnd[..n];
        let is_trough = |i: usize| {
            if n < 2 {
                false
            } else if i == 0 {
                d[0] < d[1]
            } else if i == n - 1 {
                d[i] < d[i - 1]
            } else {
                d[i] < d[i - 1] && d[i] <= d[i + 1]
            }
        };
        let threshold_trough = (0..n).find(|&i| is_trough(i) && d[i] < self.cfg.trough_threshold);
        let index = threshold_trough
            .unwrap_or_else(|| (0..n).fold(0, |best, i| if d[i] < d[best] { i } else { best }));
        let period = self.min_period as f64 + index as f64 + parabolic_shift(d, index);
        YinFrame {
            f0: self.sr / period,
            voiced: threshold_trough.is_some(),
        }
    }
}

/// `librosa.yin(y, fmin, fmax, sr, frame_length, hop_length, trough_threshold, center)` → f0 per frame.
pub fn yin(y: &[f32], sr: f64, cfg: &YinConfig) -> Result<Vec<f32>> {
    let mut frames = Vec::new();
    Yin::new(sr, *cfg)?.compute(y, &mut frames)?;
    Ok(frames.iter().map(|f| f.f0 as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_200_hz_tone() {
        let sr = 16000.0;
        let y: Vec<f32> = (0..16000)
            .map(|n| (2.0 * std::f64::consts::PI * 200.0 * n as f64 / sr).sin() as f32)
            .collect();
        let f0 = yin(&y, sr, &YinConfig::SPEECH_DEFAULT).unwrap();
        assert!((f0[15] - 200.0).abs() < 0.5, "{}", f0[15]);
    }

    #[test]
    fn silence_is_unvoiced() {
        let mut frames = Vec::new();
        Yin::new(16000.0, YinConfig::SPEECH_DEFAULT)
            .unwrap()
            .compute(&[0.0; 4000], &mut frames)
            .unwrap();
        assert!(frames.iter().all(|f| !f.voiced));
    }
}
