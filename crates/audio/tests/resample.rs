//! Resampling: agreement with librosa's soxr_hq, exact lengths, alignment, speed.

mod common;

use common::*;
use realfft::RealFftPlanner;
use ser_audio::{LoadOptions, load, resample, resampled_len};

/// Zeroes every FFT bin at or above `cutoff_hz` (a brick-wall low-pass over the whole signal).
fn low_pass(x: &[f32], rate: f64, cutoff_hz: f64) -> Vec<f64> {
    let n = x.len();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut buf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut buf, &mut spec).unwrap();
    for (k, bin) in spec.iter_mut().enumerate() {
        if k as f64 * rate / n as f64 >= cutoff_hz {
            *bin = Default::default();
        }
    }
    // The DC and Nyquist bins must stay real for the inverse transform.
    spec[0].im = 0.0;
    let last = spec.len() - 1;
    spec[last].im = 0.0;
    inv.process(&mut spec, &mut buf).unwrap();
    buf.iter().map(|v| v / n as f64).collect()
}

/// SNR (dB) of `ours` against `reference`, both band-limited below `cutoff_hz`.
fn band_snr_db(ours: &[f32], reference: &[f32], rate: f64, cutoff_hz: f64) -> f64 {
    let diff: Vec<f32> = ours.iter().zip(reference).map(|(a, b)| a - b).collect();
    let signal: f64 = low_pass(reference, rate, cutoff_hz)
        .iter()
        .map(|v| v * v)
        .sum();
    let noise: f64 = low_pass(&diff, rate, cutoff_hz).iter().map(|v| v * v).sum();
    10.0 * (signal / noise).log10()
}

#[test]
fn matches_librosa_soxr_hq_below_7khz() {
    let audio = load(
        &fixture("inputs/ravdess_a01_neutral.flac"),
        &LoadOptions::default(),
    )
    .unwrap();
    let reference = read_npy_f32(&fixture("inputs/ravdess_a01_neutral_load22050.npy"));
    let ours = resample(&audio.samples, 16000, 22050).unwrap();
    assert_eq!(ours.len(), reference.len());
    let snr = band_snr_db(&ours, &reference, 22050.0, 7000.0);
    let full = band_snr_db(&ours, &reference, 22050.0, 11025.0);
    println!("SNR vs soxr_hq: {snr:.1} dB below 7 kHz, {full:.1} dB full band");
    assert!(snr >= 60.0, "SNR below 7 kHz is {snr:.1} dB");
}

#[test]
fn output_length_is_ceil_like_soxr() {
    for (n, from, to) in [
        (52853, 16000, 22050),
        (1, 16000, 22050),
        (7, 44100, 16000),
        (16000, 48000, 16000),
        (999, 8000, 44100),
    ] {
        let x = vec![0.1f32; n];
        let y = resample(&x, from, to).unwrap();
        let expected = (n as u64 * to as u64).div_ceil(from as u64) as usize;
        assert_eq!(y.len(), expected, "{n} samples {from}->{to}");
        assert_eq!(resampled_len(n, from, to), expected);
    }
}

/// A tone keeps its amplitude and phase (no delay): compare with the analytic tone.
#[test]
fn tone_is_aligned_and_preserved() {
    for (from, to) in [
        (16000, 22050),
        (44100, 16000),
        (48000, 16000),
        (22050, 16000),
        (16000, 44100),
        (8000, 16000),
    ] {
        let x = sine(1000.0, from, 1.0, 0.5);
        let y = resample(&x, from, to).unwrap();
        let expected = sine(1000.0, to, 1.0, 0.5);
        // Skip the edges, where the filter sees the signal's start and end.
        let (a, b) = (to as usize / 10, y.len() - to as usize / 10);
        let err = y[a..b]
            .iter()
            .zip(&expected[a..b])
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-3, "{from}->{to}: max error {err}");
    }
}

#[test]
fn downsampling_removes_content_above_the_new_nyquist() {
    // 9 kHz lies above the 8 kHz Nyquist frequency of 16 kHz audio: it must vanish, not alias.
    let x = sine(9000.0, 44100, 1.0, 0.5);
    let y = resample(&x, 44100, 16000).unwrap();
    let rms = (y[2000..14000].iter().map(|v| v * v).sum::<f32>() / 12000.0).sqrt();
    assert!(rms < 1e-3, "aliased 9 kHz tone has rms {rms}");
}

#[test]
fn bad_rates_and_trivial_inputs() {
    assert!(resample(&[0.0; 10], 0, 16000).is_err());
    assert!(resample(&[0.0; 10], 16000, 0).is_err());
    assert!(resample(&[0.0; 10], 16000, 10_000_000).is_err());
    assert_eq!(resample(&[], 16000, 22050).unwrap(), Vec::<f32>::new());
    assert_eq!(
        resample(&[0.25, -0.5], 16000, 16000).unwrap(),
        vec![0.25, -0.5]
    );
}

/// 1440 clips of ~3.5 s must resample 16k -> 22.05k in well under 10 s on one core. This test
/// runs a tenth of that with a loose bound (the machine is shared); the full figure is printed.
#[test]
fn resampling_is_fast() {
    let clip = sine(220.0, 16000, 3.5, 0.3);
    let start = std::time::Instant::now();
    for _ in 0..144 {
        std::hint::black_box(resample(&clip, 16000, 22050).unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "144 clips of 3.5 s: {secs:.3} s (x10 = {:.2} s for 1440)",
        secs * 10.0
    );
    assert!(secs < 3.0, "took {secs:.2} s");
}

/// The full figure: `cargo test --release -p ser-audio --test resample -- --ignored --nocapture`.
#[test]
#[ignore]
fn resample_1440_clips() {
    let clip = sine(220.0, 16000, 3.5, 0.3);
    let start = std::time::Instant::now();
    for _ in 0..1440 {
        std::hint::black_box(resample(&clip, 16000, 22050).unwrap());
    }
    println!(
        "1440 clips of 3.5 s, 16 kHz -> 22.05 kHz: {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
