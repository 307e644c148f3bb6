//! Augmentation: exact SNRs, noise colour, shifts, stretch and pitch of a tone, gain, policy.

mod common;

use common::sine;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;
use ser_audio::augment::*;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(1234)
}

fn snr_of(clean: &[f32], noisy: &[f32]) -> f64 {
    let noise: Vec<f32> = noisy.iter().zip(clean).map(|(n, c)| n - c).collect();
    10.0 * (mean_square(clean) / mean_square(&noise)).log10()
}

/// Frequency from the first and last upward zero crossings (linearly interpolated) in the
/// middle of the signal, away from the edges.
fn tone_frequency(x: &[f32], rate: u32) -> f64 {
    let (a, b) = (x.len() / 5, x.len() * 4 / 5);
    let crossings: Vec<f64> = (a..b)
        .filter(|&i| x[i] <= 0.0 && x[i + 1] > 0.0)
        .map(|i| i as f64 + f64::from(x[i] / (x[i] - x[i + 1])))
        .collect();
    let periods = (crossings.len() - 1) as f64;
    periods * f64::from(rate) / (crossings.last().unwrap() - crossings[0])
}

/// Power in [lo, hi) Hz.
fn band_power(x: &[f32], rate: f64, lo: f64, hi: f64) -> f64 {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(x.len());
    let mut input: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut spec = fft.make_output_vec();
    fft.process(&mut input, &mut spec).unwrap();
    spec.iter()
        .enumerate()
        .filter(|(k, _)| (lo..hi).contains(&(*k as f64 * rate / x.len() as f64)))
        .map(|(_, c)| c.norm_sqr())
        .sum()
}

#[test]
fn white_and_pink_noise_hit_the_requested_snr() {
    let clean = sine(440.0, 16000, 2.0, 0.3);
    for snr in [0.0f32, 5.0, 12.5, 30.0] {
        let white = add_white_noise(&clean, snr, &mut rng());
        let pink = add_pink_noise(&clean, snr, &mut rng());
        assert!(
            (snr_of(&clean, &white) - f64::from(snr)).abs() < 0.1,
            "white at {snr} dB"
        );
        assert!(
            (snr_of(&clean, &pink) - f64::from(snr)).abs() < 0.1,
            "pink at {snr} dB"
        );
    }
}

#[test]
fn pink_noise_has_equal_power_per_octave_and_white_does_not() {
    let silence_free = vec![1.0f32; 64000];
    let pink: Vec<f32> = add_pink_noise(&silence_free, 0.0, &mut rng())
        .iter()
        .map(|v| v - 1.0)
        .collect();
    let white: Vec<f32> = add_white_noise(&silence_free, 0.0, &mut rng())
        .iter()
        .map(|v| v - 1.0)
        .collect();
    let octave_ratio_db = |x: &[f32]| {
        10.0 * (band_power(x, 16000.0, 2000.0, 4000.0) / band_power(x, 16000.0, 250.0, 500.0))
            .log10()
    };
    let pink_db = octave_ratio_db(&pink);
    let white_db = octave_ratio_db(&white);
    assert!(
        pink_db.abs() < 1.5,
        "pink: 2-4 kHz vs 250-500 Hz = {pink_db:.2} dB"
    );
    assert!(
        (white_db - 9.03).abs() < 1.0,
        "white: {white_db:.2} dB (8x the bandwidth)"
    );
}

#[test]
fn noise_clip_is_looped_and_scaled() {
    let clean = sine(300.0, 16000, 1.0, 0.5);
    let clip: Vec<f32> = sine(1234.0, 16000, 0.1, 1.0); // shorter than the signal: loops
    for snr in [3.0f32, 20.0] {
        let noisy = mix_noise(&clean, &clip, snr, &mut rng());
        assert_eq!(noisy.len(), clean.len());
        assert!((snr_of(&clean, &noisy) - f64::from(snr)).abs() < 0.1);
    }
    assert_eq!(mix_noise(&clean, &[], 10.0, &mut rng()), clean);
    assert_eq!(
        add_white_noise(&[0.0; 100], 10.0, &mut rng()),
        vec![0.0; 100],
        "silence has no SNR"
    );
}

#[test]
fn same_seed_same_noise() {
    let clean = sine(300.0, 16000, 0.2, 0.5);
    assert_eq!(
        add_white_noise(&clean, 10.0, &mut rng()),
        add_white_noise(&clean, 10.0, &mut rng())
    );
    assert_ne!(
        add_white_noise(&clean, 10.0, &mut rng()),
        add_white_noise(&clean, 10.0, &mut ChaCha8Rng::seed_from_u64(9))
    );
}

#[test]
fn time_shift_modes() {
    let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
    assert_eq!(
        time_shift(&x, 2, ShiftMode::ZeroFill),
        vec![0.0, 0.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(
        time_shift(&x, -2, ShiftMode::ZeroFill),
        vec![3.0, 4.0, 5.0, 0.0, 0.0]
    );
    assert_eq!(time_shift(&x, 9, ShiftMode::ZeroFill), vec![0.0; 5]);
    assert_eq!(
        time_shift(&x, 2, ShiftMode::Circular),
        vec![4.0, 5.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(
        time_shift(&x, -7, ShiftMode::Circular),
        vec![3.0, 4.0, 5.0, 1.0, 2.0]
    );
    assert!(time_shift(&[], 3, ShiftMode::Circular).is_empty());
}

#[test]
fn stretch_changes_length_not_frequency() {
    let x = sine(200.0, 16000, 1.0, 0.5);
    for factor in [1.25f32, 0.8, 1.5] {
        let y = time_stretch(&x, 16000, factor);
        assert_eq!(y.len(), (16000.0 * factor).round() as usize);
        let f = tone_frequency(&y, 16000);
        assert!((f - 200.0).abs() < 0.5, "x{factor}: tone at {f:.2} Hz");
        // No dropouts or level changes: the envelope stays that of the tone.
        let rms = mean_square(&y[y.len() / 5..y.len() * 4 / 5]).sqrt();
        assert!(
            (rms - 0.5 / 2f64.sqrt()).abs() < 0.02,
            "x{factor}: rms {rms}"
        );
    }
}

#[test]
fn pitch_shift_moves_frequency_and_keeps_length() {
    let x = sine(200.0, 16000, 1.0, 0.5);
    for semitones in [2.0f32, -3.0] {
        let y = pitch_shift(&x, 16000, semitones);
        assert_eq!(y.len(), x.len());
        let expected = 200.0 * 2f64.powf(f64::from(semitones) / 12.0);
        let f = tone_frequency(&y, 16000);
        assert!(
            (f / expected - 1.0).abs() < 0.003,
            "{semitones} st: {f:.2} Hz, expected {expected:.2}"
        );
    }
    assert_eq!(pitch_shift(&x, 16000, 0.0), x);
}

#[test]
fn gain_is_exact() {
    let x = [0.5f32, -0.25, 0.0, 1.0];
    assert_eq!(gain_db(&x, 0.0), x.to_vec());
    let g = 10f32.powf(-6.0 / 20.0);
    assert_eq!(
        gain_db(&x, -6.0),
        x.iter().map(|v| v * g).collect::<Vec<_>>()
    );
    let doubled = gain_db(&x, 20.0 * 2f32.log10());
    for (a, b) in doubled.iter().zip(&x) {
        assert!((a - 2.0 * b).abs() <= 1e-6);
    }
}

#[test]
fn policy_round_trips_through_json_and_is_reproducible() {
    let spec = AugmentSpec::default();
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<AugmentSpec>(&json).unwrap(), spec);
    let partial: AugmentSpec =
        serde_json::from_str(r#"{"gain": {"p": 1.0, "min": 6.0, "max": 6.0}}"#).unwrap();
    assert!(
        serde_json::from_str::<AugmentSpec>(r#"{"gian": null}"#).is_err(),
        "typos are rejected"
    );

    let x = sine(200.0, 16000, 0.5, 0.25);
    let only_gain = AugmentSpec {
        gain: partial.gain,
        ..AugmentSpec::none()
    };
    assert_eq!(apply(&only_gain, &x, 16000, &mut rng()), gain_db(&x, 6.0));
    assert_eq!(apply(&AugmentSpec::none(), &x, 16000, &mut rng()), x);
    let a = apply(&spec, &x, 16000, &mut rng());
    assert_eq!(a, apply(&spec, &x, 16000, &mut rng()));
}

#[test]
fn policy_draws_each_step_with_its_probability() {
    let x = sine(200.0, 16000, 0.1, 0.25);
    let spec = AugmentSpec {
        gain: Some(Chance::new(0.3, 3.0, 3.0)),
        ..AugmentSpec::none()
    };
    let mut r = rng();
    let changed = (0..1000)
        .filter(|_| apply(&spec, &x, 16000, &mut r) != x)
        .count();
    assert!((250..350).contains(&changed), "{changed} of 1000");
}

#[test]
fn room_and_device_policy_is_seeded_and_off_by_default() {
    assert!(!AugmentSpec::default().simulates_channels());
    let spec = AugmentSpec::with_channels();
    assert!(spec.simulates_channels());
    let x = sine(300.0, 16000, 0.5, 0.25);
    let draws = |seed: u64| -> Vec<Vec<f32>> {
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..20).map(|_| apply(&spec, &x, 16000, &mut r)).collect()
    };
    assert_eq!(draws(5), draws(5));
    assert_ne!(draws(5), draws(6));
    // Every step fires on some of 20 draws; none leaves a non-finite sample.
    assert!(draws(5).iter().flatten().all(|v| v.is_finite()));
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(serde_json::from_str::<AugmentSpec>(&json).unwrap(), spec);
}
