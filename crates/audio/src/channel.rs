//! Room and device simulation for training data: what separates a studio recording from
//! speech in another room, through another microphone or over a telephone line.
//!
//! - [`reverberate`]: convolution with a synthetic room impulse response (a direct path, then
//!   exponentially decaying noise reaching -60 dB at the reverberation time RT60);
//! - [`telephone`]: the 300-3400 Hz band of narrow-band telephony and a round trip through
//!   8 kHz, with optional G.711 mu-law companding;
//! - [`microphone_eq`]: a high-pass (small capsules lose the bass) and peaking bands of a few
//!   dB, as microphone and laptop responses have;
//! - [`clip`]: hard clipping of an overdriven input;
//! - [`quantise`]: a coarse converter (few bits).
//!
//! Like [`crate::augment`], every function is pure and draws randomness only from the caller's
//! seeded generator.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use realfft::RealFftPlanner;

use crate::augment::mean_square;

/// A synthetic room impulse response of `rt60` seconds at `sample_rate`: a unit direct path,
/// then Gaussian noise under an exponential envelope that falls 60 dB over `rt60`, starting
/// `pre_delay` seconds after it and scaled so that its energy is `reverb_ratio` times the
/// direct path's.
pub fn room_impulse_response(
    sample_rate: u32,
    rt60: f32,
    reverb_ratio: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let sr = sample_rate as f32;
    let len = ((rt60.max(0.01) * sr) as usize).max(2);
    let pre_delay = ((0.002 + 0.008 * rng.random::<f32>()) * sr) as usize;
    // 60 dB amplitude decay over rt60: exp(-6.91 t / rt60).
    let decay = 6.908 / (rt60.max(0.01) * sr);
    let mut h = vec![0f32; pre_delay + len];
    h[0] = 1.0;
    for (k, v) in h[pre_delay..].iter_mut().enumerate() {
        let noise: f32 = StandardNormal.sample(rng);
        *v = noise * (-decay * k as f32).exp();
    }
    let tail_energy: f64 = h[1..].iter().map(|&v| f64::from(v).powi(2)).sum();
    if tail_energy > 0.0 {
        let scale = (f64::from(reverb_ratio) / tail_energy).sqrt() as f32;
        h[1..].iter_mut().for_each(|v| *v *= scale);
    }
    h
}

/// `samples` heard in a room of reverberation time `rt60` seconds; the output has the input's
/// length and power.
pub fn reverberate(samples: &[f32], sample_rate: u32, rt60: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    // Reverberant energy between a quarter and twice the direct sound's: near and far talkers.
    let ratio = 0.25 + 1.75 * rng.random::<f32>();
    let h = room_impulse_response(sample_rate, rt60, ratio, rng);
    let wet = convolve(samples, &h);
    with_power_of(&wet[..samples.len()], samples)
}

/// Linear convolution by FFT (full length: `x.len() + h.len() - 1`).
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    if x.is_empty() || h.is_empty() {
        return Vec::new();
    }
    let n_out = x.len() + h.len() - 1;
    let n = n_out.next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let spectrum = |signal: &[f32]| {
        let mut buf = vec![0f32; n];
        buf[..signal.len()].copy_from_slice(signal);
        let mut out = forward.make_output_vec();
        forward
            .process(&mut buf, &mut out)
            .expect("buffer sizes come from the plan");
        out
    };
    let (a, b) = (spectrum(x), spectrum(h));
    let mut product: Vec<_> = a.iter().zip(&b).map(|(p, q)| p * q).collect();
    let mut out = vec![0f32; n];
    inverse
        .process(&mut product, &mut out)
        .expect("buffer sizes come from the plan");
    out.truncate(n_out);
    out.iter_mut().for_each(|v| *v /= n as f32);
    out
}

/// A second-order IIR section (RBJ cookbook coefficients, normalised by a0).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a: [f64; 3]) -> Self {
        Self {
            b: b.map(|v| (v / a[0]) as f32),
            a: [(a[1] / a[0]) as f32, (a[2] / a[0]) as f32],
        }
    }

    fn omega(freq: f64, sample_rate: u32) -> (f64, f64) {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(sample_rate);
        (w.cos(), w.sin())
    }

    fn high_pass(freq: f64, q: f64, sample_rate: u32) -> Self {
        let (cos, sin) = Self::omega(freq, sample_rate);
        let alpha = sin / (2.0 * q);
        Self::new(
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0],
            [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
        )
    }

    fn low_pass(freq: f64, q: f64, sample_rate: u32) -> Self {
        let (cos, sin) = Self::omega(freq, sample_rate);
        let alpha = sin / (2.0 * q);
        Self::new(
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0],
            [1.0 + alpha, -2.0 * cos, 1.0 - alpha],
        )
    }

    fn peaking(freq: f64, q: f64, gain_db: f64, sample_rate: u32) -> Self {
        let (cos, sin) = Self::omega(freq, sample_rate);
        let alpha = sin / (2.0 * q);
        let a = 10f64.powf(gain_db / 40.0);
        Self::new(
            [1.0 + alpha * a, -2.0 * cos, 1.0 - alpha * a],
            [1.0 + alpha / a, -2.0 * cos, 1.0 - alpha / a],
        )
    }

    /// Filters in place (direct form II transposed).
    fn run(&self, x: &mut [f32]) {
        let (mut z1, mut z2) = (0f32, 0f32);
        for v in x.iter_mut() {
            let input = *v;
            let out = self.b[0] * input + z1;
            z1 = self.b[1] * input - self.a[0] * out + z2;
            z2 = self.b[2] * input - self.a[1] * out;
            *v = out;
        }
    }
}

/// Narrow-band telephony: band-limited to 300-3400 Hz (two sections each side, 24 dB per
/// octave), resampled to 8 kHz and back, and optionally mu-law companded at 8 bits (G.711).
pub fn telephone(samples: &[f32], sample_rate: u32, mu_law: bool) -> Vec<f32> {
    let mut x = samples.to_vec();
    for _ in 0..2 {
        Biquad::high_pass(300.0, std::f64::consts::FRAC_1_SQRT_2, sample_rate).run(&mut x);
        Biquad::low_pass(3400.0, std::f64::consts::FRAC_1_SQRT_2, sample_rate).run(&mut x);
    }
    if sample_rate > 8000
        && let Ok(narrow) = crate::resample::resample(&x, sample_rate, 8000)
    {
        let narrow = if mu_law {
            mu_law_round_trip(&narrow)
        } else {
            narrow
        };
        if let Ok(back) = crate::resample::resample(&narrow, 8000, sample_rate) {
            x = back;
            x.resize(samples.len(), 0.0);
        }
    }
    x
}

/// G.711 mu-law (mu = 255) encoding to 8 bits and back, relative to the signal's peak.
fn mu_law_round_trip(x: &[f32]) -> Vec<f32> {
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak == 0.0 {
        return x.to_vec();
    }
    let mu = 255f32;
    x.iter()
        .map(|&v| {
            let s = (v / peak).clamp(-1.0, 1.0);
            let encoded = s.signum() * (1.0 + mu * s.abs()).ln() / (1.0 + mu).ln();
            let code = (encoded * 127.0).round() / 127.0;
            peak * code.signum() * ((1.0 + mu).powf(code.abs()) - 1.0) / mu
        })
        .collect()
}

/// A random microphone response: a high-pass between 50 and 250 Hz and `bands` peaking
/// filters of up to ±`max_gain_db` at random centres between 150 Hz and 6 kHz (below Nyquist).
/// The output has the input's power.
pub fn microphone_eq(
    samples: &[f32],
    sample_rate: u32,
    bands: usize,
    max_gain_db: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let mut x = samples.to_vec();
    let nyquist = f64::from(sample_rate) / 2.0;
    Biquad::high_pass(rng.random_range(50.0..250.0), 0.707, sample_rate).run(&mut x);
    for _ in 0..bands {
        // Log-uniform centre frequency.
        let top = 6000f64.min(0.8 * nyquist);
        let centre = (150f64.ln() + rng.random::<f64>() * (top.ln() - 150f64.ln())).exp();
        let gain = f64::from(max_gain_db) * (2.0 * rng.random::<f64>() - 1.0);
        let q = rng.random_range(0.5..2.0);
        Biquad::peaking(centre, q, gain, sample_rate).run(&mut x);
    }
    with_power_of(&x, samples)
}

/// Hard clipping at `level` times the signal's peak (e.g. 0.5: everything above half the
/// peak is flattened), as an overdriven input stage does.
pub fn clip(samples: &[f32], level: f32) -> Vec<f32> {
    let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs()));
    let limit = peak * level.clamp(0.0, 1.0);
    samples.iter().map(|v| v.clamp(-limit, limit)).collect()
}

/// Rounds to a converter of `bits` bits whose full scale is the signal's peak.
pub fn quantise(samples: &[f32], bits: u32) -> Vec<f32> {
    let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak == 0.0 || bits == 0 {
        return samples.to_vec();
    }
    let steps = ((1u64 << (bits.min(24) - 1)) as f32).max(1.0);
    samples
        .iter()
        .map(|v| (v / peak * steps).round() / steps * peak)
        .collect()
}

/// `x` scaled to the power (mean square) of `reference` (unchanged when either is silent).
fn with_power_of(x: &[f32], reference: &[f32]) -> Vec<f32> {
    let (have, want) = (mean_square(x), mean_square(reference));
    if have == 0.0 || want == 0.0 {
        return x.to_vec();
    }
    let scale = (want / have).sqrt() as f32;
    x.iter().map(|v| v * scale).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn tone(freq: f32, seconds: f32) -> Vec<f32> {
        (0..(16000.0 * seconds) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / 16000.0).sin() * 0.5)
            .collect()
    }

    fn power(x: &[f32]) -> f64 {
        mean_square(x)
    }

    #[test]
    fn convolution_matches_the_direct_sum() {
        let x = [1.0, 2.0, -1.0, 0.5];
        let h = [0.5, -0.25, 0.125];
        let mut direct = vec![0f32; x.len() + h.len() - 1];
        for (i, a) in x.iter().enumerate() {
            for (j, b) in h.iter().enumerate() {
                direct[i + j] += a * b;
            }
        }
        for (p, q) in convolve(&x, &h).iter().zip(&direct) {
            assert!((p - q).abs() < 1e-5);
        }
    }

    #[test]
    fn room_response_decays_by_60_db_over_rt60() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let h = room_impulse_response(16000, 0.5, 1.0, &mut rng);
        let energy = |from: usize, to: usize| h[from..to].iter().map(|v| v * v).sum::<f32>();
        // Energy in the first and last 50 ms of the tail: 60 dB of amplitude decay over 0.5 s
        // leaves the last window about 50 dB below the first.
        let (n, w) = (h.len(), 800);
        let drop_db = 10.0 * (energy(200, 200 + w) / energy(n - w, n)).log10();
        assert!((40.0..60.0).contains(&drop_db), "{drop_db}");
        assert_eq!(h[0], 1.0);
    }

    #[test]
    fn each_step_is_deterministic_given_a_seed_and_keeps_length() {
        let x = tone(440.0, 0.5);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (
                reverberate(&x, 16000, 0.4, &mut rng),
                microphone_eq(&x, 16000, 2, 6.0, &mut rng),
            )
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let (wet, eq) = run(3);
        assert_eq!((wet.len(), eq.len()), (x.len(), x.len()));
        assert!((power(&wet) / power(&x) - 1.0).abs() < 1e-3);
        assert_eq!(telephone(&x, 16000, true).len(), x.len());
    }

    #[test]
    fn telephone_removes_what_is_outside_300_to_3400_hz() {
        let kept = telephone(&tone(1000.0, 0.5), 16000, false);
        let low = telephone(&tone(100.0, 0.5), 16000, false);
        let high = telephone(&tone(5000.0, 0.5), 16000, false);
        let p = |y: &[f32]| power(&y[800..]);
        assert!(p(&kept) > 0.08, "1 kHz passes: {}", p(&kept));
        assert!(p(&low) < 0.01 * p(&kept), "100 Hz is cut");
        assert!(p(&high) < 0.001 * p(&kept), "5 kHz is cut");
    }

    #[test]
    fn clipping_and_quantising_do_what_they_say() {
        let x = [0.0, 0.25, -0.5, 1.0];
        assert_eq!(clip(&x, 0.5), [0.0, 0.25, -0.5, 0.5]);
        let q = quantise(&[0.1, 0.5, -1.0], 2);
        // Two bits: steps of half the peak.
        assert_eq!(q, [0.0, 0.5, -1.0]);
        assert_eq!(quantise(&[0.0; 3], 8), [0.0; 3]);
    }
}
