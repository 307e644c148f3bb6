//! Waveform augmentation for training data: noise at a chosen SNR, time shift, time stretch,
//! pitch shift and gain, plus a serde-described random policy ([`AugmentSpec`], [`apply`]) that
//! can also simulate rooms and devices ([`crate::channel`]).
//!
//! Every function is pure: it reads `&[f32]` and returns a new `Vec<f32>`; randomness comes
//! only from the caller's seeded [`ChaCha8Rng`], so an augmented epoch is reproducible.
//!
//! SNRs are measured against the power (mean square) of the signal passed in: the noise is
//! scaled so that `10·log10(P_signal / P_noise) = snr_db` holds for the noise actually added.
//! A silent signal (power 0) has no defined SNR and is returned unchanged.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::channel;
use crate::wsola::stretch;

/// Gaussian white noise at `snr_db` below the signal's power.
pub fn add_white_noise(samples: &[f32], snr_db: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let noise = white_noise(samples.len(), rng);
    mix_at_snr(samples, &noise, snr_db)
}

/// Pink (1/f) noise at `snr_db` below the signal's power.
pub fn add_pink_noise(samples: &[f32], snr_db: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let noise = pink_noise(samples.len(), rng);
    mix_at_snr(samples, &noise, snr_db)
}

/// Mixes in a recorded noise clip at `snr_db`. The clip starts at a random offset and loops
/// (or is cropped) to the signal's length. An empty or silent clip leaves the signal unchanged.
pub fn mix_noise(
    samples: &[f32],
    noise_clip: &[f32],
    snr_db: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    if noise_clip.is_empty() {
        return samples.to_vec();
    }
    let offset = rng.random_range(0..noise_clip.len());
    let noise: Vec<f32> = noise_clip
        .iter()
        .cycle()
        .skip(offset)
        .take(samples.len())
        .copied()
        .collect();
    mix_at_snr(samples, &noise, snr_db)
}

/// Adds `noise` scaled so that the signal-to-noise ratio is exactly `snr_db`.
pub fn mix_at_snr(samples: &[f32], noise: &[f32], snr_db: f32) -> Vec<f32> {
    let (signal_power, noise_power) = (mean_square(samples), mean_square(noise));
    if signal_power == 0.0 || noise_power == 0.0 {
        return samples.to_vec();
    }
    let scale = (signal_power / noise_power / 10f64.powf(f64::from(snr_db) / 10.0)).sqrt() as f32;
    samples
        .iter()
        .zip(noise)
        .map(|(&s, &n)| s + scale * n)
        .collect()
}

/// Mean of squares, accumulated in f64.
pub fn mean_square(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64
}

fn white_noise(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Pink noise by Paul Kellet's filter bank over white noise (within ±0.05 dB of 1/f above
/// ~10 Hz at 44.1 kHz, close enough at speech rates for augmentation).
fn pink_noise(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut b = [0f32; 7];
    (0..n)
        .map(|_| {
            let white: f32 = StandardNormal.sample(rng);
            b[0] = 0.99886 * b[0] + white * 0.055_517_9;
            b[1] = 0.99332 * b[1] + white * 0.075_075_9;
            b[2] = 0.96900 * b[2] + white * 0.153_852;
            b[3] = 0.86650 * b[3] + white * 0.310_485_6;
            b[4] = 0.55000 * b[4] + white * 0.532_952_2;
            b[5] = -0.7616 * b[5] - white * 0.016_898;
            let pink = b.iter().sum::<f32>() + white * 0.5362;
            b[6] = white * 0.115_926;
            pink
        })
        .collect()
}

/// What fills the gap a time shift opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftMode {
    /// Silence enters, audio shifted past the end is dropped. The default: rotating an
    /// utterance would glue its end onto its start, which no recording does.
    #[default]
    ZeroFill,
    /// The signal rotates (`np.roll`), as several published SER recipes do.
    Circular,
}

/// Shifts the signal by `shift` samples (positive = later), keeping its length.
pub fn time_shift(samples: &[f32], shift: isize, mode: ShiftMode) -> Vec<f32> {
    let n = samples.len();
    if n == 0 {
        return Vec::new();
    }
    match mode {
        ShiftMode::Circular => {
            let mut out = samples.to_vec();
            out.rotate_right(shift.rem_euclid(n as isize) as usize);
            out
        }
        ShiftMode::ZeroFill => {
            let mut out = vec![0.0; n];
            let k = shift.unsigned_abs().min(n);
            if shift >= 0 {
                out[k..].copy_from_slice(&samples[..n - k]);
            } else {
                out[..n - k].copy_from_slice(&samples[k..]);
            }
            out
        }
    }
}

/// Changes the duration by `length_factor` (1.25 = 25 % longer, slower) without changing
/// pitch, using WSOLA. The output has exactly `round(len * length_factor)` samples.
pub fn time_stretch(samples: &[f32], sample_rate: u32, length_factor: f32) -> Vec<f32> {
    stretch(samples, sample_rate, f64::from(length_factor))
}

/// Shifts pitch by `semitones` keeping the duration: stretch by 2^(s/12), then resample the
/// result back to the original length.
pub fn pitch_shift(samples: &[f32], sample_rate: u32, semitones: f32) -> Vec<f32> {
    let ratio = 2f64.powf(f64::from(semitones) / 12.0);
    if samples.is_empty() || semitones == 0.0 {
        return samples.to_vec();
    }
    let stretched = stretch(samples, sample_rate, ratio);
    resample_to_len(&stretched, samples.len())
}

/// Multiplies by `10^(db / 20)`. No clipping: samples are floats and may exceed ±1.
pub fn gain_db(samples: &[f32], db: f32) -> Vec<f32> {
    let g = 10f32.powf(db / 20.0);
    samples.iter().map(|&x| x * g).collect()
}

/// Resamples to exactly `len` samples with rubato's sinc resampler (any ratio).
fn resample_to_len(x: &[f32], len: usize) -> Vec<f32> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{
        Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType,
        WindowFunction,
    };
    let ratio = len as f64 / x.len() as f64;
    let params = SincInterpolationParameters {
        sinc_len: 128,
        f_cutoff: None,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Cubic,
        window: WindowFunction::BlackmanHarris2,
    };
    let resampled = Async::<f32>::new_sinc(ratio, 1.0, &params, 1024, 1, FixedAsync::Input)
        .ok()
        .and_then(|mut r| {
            let input = InterleavedSlice::new(x, 1, x.len()).ok()?;
            r.process_all(&input, x.len(), None).ok()
        })
        .map(|out| out.take_data())
        .unwrap_or_default();
    let mut out = resampled;
    out.resize(len, 0.0);
    out
}

/// One random step of a policy: applied with probability `p`, with a parameter drawn
/// uniformly from `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Chance {
    /// Probability that the step runs, 0..=1 (NaN never runs).
    pub p: f32,
    /// One end of the parameter's range (the ends may come in either order).
    pub min: f32,
    /// The other end of the parameter's range.
    pub max: f32,
}

impl Chance {
    /// A step run with probability `p`, its parameter drawn from `min..=max`.
    pub const fn new(p: f32, min: f32, max: f32) -> Self {
        Self { p, min, max }
    }

    /// `Some(parameter)` with probability `p`.
    fn draw(&self, rng: &mut ChaCha8Rng) -> Option<f32> {
        // A NaN probability never fires.
        if rng.random::<f32>() >= self.p || self.p.is_nan() {
            return None;
        }
        let (lo, hi) = (self.min.min(self.max), self.min.max(self.max));
        Some(if lo == hi {
            lo
        } else {
            rng.random_range(lo..=hi)
        })
    }
}

/// A random augmentation policy. Steps run in this order: stretch, pitch, shift, gain, noise
/// (noise last, so its SNR is relative to the signal as finally heard).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentSpec {
    /// Length factor (e.g. 0.9..1.1).
    pub stretch: Option<Chance>,
    /// Semitones (e.g. -2..2).
    pub pitch: Option<Chance>,
    /// Seconds, signed (e.g. -0.2..0.2).
    pub shift: Option<Chance>,
    /// What fills the gap a shift leaves: silence, or the audio shifted out (circular).
    pub shift_mode: ShiftMode,
    /// Decibels (e.g. -6..6).
    pub gain: Option<Chance>,
    /// SNR in dB of added white noise (e.g. 10..30).
    pub white_noise: Option<Chance>,
    /// SNR in dB of added pink noise.
    pub pink_noise: Option<Chance>,
    /// Reverberation time RT60 in seconds of a simulated room ([`crate::channel`]).
    pub reverb: Option<Chance>,
    /// Largest gain in dB of a random microphone response (two peaking bands and a high-pass).
    pub microphone: Option<Chance>,
    /// A telephone line (300-3400 Hz, 8 kHz); mu-law companding too when the drawn value is
    /// above 0.5.
    pub telephone: Option<Chance>,
    /// Hard clipping at this share of the peak.
    pub clipping: Option<Chance>,
    /// A converter of this many bits.
    pub quantise: Option<Chance>,
}

impl Default for AugmentSpec {
    /// A moderate policy for speech emotion data: small tempo and pitch changes (large ones
    /// alter the emotion cues themselves), shifts, gain and noise at clearly audible SNRs.
    fn default() -> Self {
        Self {
            stretch: Some(Chance::new(0.3, 0.9, 1.1)),
            pitch: Some(Chance::new(0.3, -2.0, 2.0)),
            shift: Some(Chance::new(0.5, -0.2, 0.2)),
            shift_mode: ShiftMode::ZeroFill,
            gain: Some(Chance::new(0.5, -6.0, 6.0)),
            white_noise: Some(Chance::new(0.3, 10.0, 30.0)),
            pink_noise: Some(Chance::new(0.2, 10.0, 30.0)),
            ..Self::none()
        }
    }
}

impl AugmentSpec {
    /// A policy that changes nothing.
    pub fn none() -> Self {
        Self {
            stretch: None,
            pitch: None,
            shift: None,
            shift_mode: ShiftMode::ZeroFill,
            gain: None,
            white_noise: None,
            pink_noise: None,
            reverb: None,
            microphone: None,
            telephone: None,
            clipping: None,
            quantise: None,
        }
    }

    /// The default policy plus rooms and devices: reverberation, microphone responses,
    /// telephone lines, clipping and coarse converters, each on a share of the copies.
    pub fn with_channels() -> Self {
        Self {
            reverb: Some(Chance::new(0.35, 0.15, 0.9)),
            microphone: Some(Chance::new(0.4, 3.0, 9.0)),
            telephone: Some(Chance::new(0.12, 0.0, 1.0)),
            clipping: Some(Chance::new(0.08, 0.3, 0.8)),
            quantise: Some(Chance::new(0.08, 6.0, 10.0)),
            ..Self::default()
        }
    }

    /// True when any room or device step is on.
    pub fn simulates_channels(&self) -> bool {
        [
            &self.reverb,
            &self.microphone,
            &self.telephone,
            &self.clipping,
            &self.quantise,
        ]
        .iter()
        .any(|step| step.is_some())
    }
}

/// Applies a random draw of `spec` to `samples`. Stretching changes the length; every other
/// step keeps it.
pub fn apply(
    spec: &AugmentSpec,
    samples: &[f32],
    sample_rate: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let mut x = samples.to_vec();
    let draw =
        |step: &Option<Chance>, rng: &mut ChaCha8Rng| step.as_ref().and_then(|c| c.draw(rng));
    if let Some(factor) = draw(&spec.stretch, rng).filter(|f| *f > 0.0) {
        x = time_stretch(&x, sample_rate, factor);
    }
    if let Some(semitones) = draw(&spec.pitch, rng) {
        x = pitch_shift(&x, sample_rate, semitones);
    }
    if let Some(seconds) = draw(&spec.shift, rng) {
        x = time_shift(
            &x,
            (seconds * sample_rate as f32).round() as isize,
            spec.shift_mode,
        );
    }
    if let Some(db) = draw(&spec.gain, rng) {
        x = gain_db(&x, db);
    }
    // Steps that are off draw nothing, so policies without them repeat exactly.
    if let Some(rt60) = draw(&spec.reverb, rng) {
        x = channel::reverberate(&x, sample_rate, rt60, rng);
    }
    if let Some(snr) = draw(&spec.white_noise, rng) {
        x = add_white_noise(&x, snr, rng);
    }
    if let Some(snr) = draw(&spec.pink_noise, rng) {
        x = add_pink_noise(&x, snr, rng);
    }
    if let Some(max_db) = draw(&spec.microphone, rng) {
        x = channel::microphone_eq(&x, sample_rate, 2, max_db, rng);
    }
    if let Some(mu_law) = draw(&spec.telephone, rng) {
        x = channel::telephone(&x, sample_rate, mu_law > 0.5);
    }
    if let Some(level) = draw(&spec.clipping, rng) {
        x = channel::clip(&x, level);
    }
    if let Some(bits) = draw(&spec.quantise, rng) {
        x = channel::quantise(&x, bits.round() as u32);
    }
    x
}
