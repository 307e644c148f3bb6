//! Voice-activity detection, long-audio windows and the streaming windower.

mod common;

use common::{TestRng, sine};
use ser_audio::vad::*;

const RATE: u32 = 16000;

/// Speech-like tone bursts at the given (start, end) seconds over `background` (silence or
/// noise): each burst's level rises and falls 4 times a second by 14 dB, as syllables do (a
/// steady tone is not speech to the detector).
fn bursts(bursts: &[(f64, f64)], seconds: f64, noise_rms: f32) -> Vec<f32> {
    let mut rng = TestRng::new(17);
    let n = (seconds * RATE as f64) as usize;
    let mut x: Vec<f32> = (0..n)
        .map(|_| noise_rms * 3f32.sqrt() * rng.unit() as f32)
        .collect();
    let tone = sine(220.0, RATE, seconds, 0.3);
    for &(a, b) in bursts {
        for i in (a * RATE as f64) as usize..(b * RATE as f64) as usize {
            let t = i as f64 / RATE as f64 - a;
            let syllables = 0.2 + 0.8 * (std::f64::consts::PI * 4.0 * t).sin().abs();
            x[i] += tone[i] * syllables as f32;
        }
    }
    x
}

#[test]
fn steady_sounds_are_not_speech() {
    let cfg = VadConfig::default();
    let hum = sine(100.0, RATE, 3.0, 0.3);
    assert!(detect_speech(&hum, RATE, &cfg).is_empty());
    let mut rng = TestRng::new(3);
    let noise: Vec<f32> = (0..3 * RATE).map(|_| 0.1 * rng.unit() as f32).collect();
    assert!(detect_speech(&noise, RATE, &cfg).is_empty());
    // A steady tone between silences is not speech either, unless the check is off.
    let mut tone = vec![0.0; RATE as usize];
    tone.extend(sine(220.0, RATE, 1.0, 0.3));
    tone.extend(vec![0.0; RATE as usize]);
    assert!(detect_speech(&tone, RATE, &cfg).is_empty());
    let keep_all = VadConfig {
        min_variation_db: 0.0,
        ..cfg
    };
    assert_eq!(detect_speech(&tone, RATE, &keep_all).len(), 1);
}

fn assert_segments(found: &[Segment], expected: &[(f64, f64)], tol: f64) {
    assert_eq!(found.len(), expected.len(), "found {found:?}");
    for (s, &(a, b)) in found.iter().zip(expected) {
        assert!(
            (s.start_s - a).abs() <= tol && (s.end_s - b).abs() <= tol,
            "{s:?} vs ({a}, {b})"
        );
    }
}

const EXPECTED: [(f64, f64); 3] = [(0.5, 1.2), (2.0, 2.5), (3.1, 4.0)];

#[test]
fn bursts_in_silence() {
    let x = bursts(&EXPECTED, 5.0, 0.0);
    assert_segments(
        &detect_speech(&x, RATE, &VadConfig::default()),
        &EXPECTED,
        0.02,
    );
}

#[test]
fn bursts_in_noise() {
    // Tone rms 0.21 over noise rms 0.02: about 20 dB SNR.
    let x = bursts(&EXPECTED, 5.0, 0.02);
    assert_segments(
        &detect_speech(&x, RATE, &VadConfig::default()),
        &EXPECTED,
        0.02,
    );
}

#[test]
fn result_does_not_depend_on_recording_level() {
    let loud = bursts(&EXPECTED, 5.0, 0.01);
    let quiet: Vec<f32> = loud.iter().map(|v| v * 0.003).collect();
    let cfg = VadConfig::default();
    assert_eq!(
        detect_speech(&loud, RATE, &cfg),
        detect_speech(&quiet, RATE, &cfg)
    );
}

#[test]
fn clicks_are_dropped_and_short_pauses_merged() {
    // A 30 ms click, then two bursts 150 ms apart (one utterance with a pause).
    let x = bursts(&[(0.3, 0.33), (1.0, 1.5), (1.65, 2.2)], 3.0, 0.0);
    assert_segments(
        &detect_speech(&x, RATE, &VadConfig::default()),
        &[(1.0, 2.2)],
        0.02,
    );
    let strict = VadConfig {
        min_silence_s: 0.1,
        ..VadConfig::default()
    };
    assert_segments(
        &detect_speech(&x, RATE, &strict),
        &[(1.0, 1.5), (1.65, 2.2)],
        0.02,
    );
}

#[test]
fn padding_widens_and_clamps() {
    let x = bursts(&[(0.05, 0.5)], 1.0, 0.0);
    let cfg = VadConfig {
        padding_s: 0.1,
        ..VadConfig::default()
    };
    assert_segments(&detect_speech(&x, RATE, &cfg), &[(0.0, 0.6)], 0.02);
}

#[test]
fn nothing_to_find() {
    let cfg = VadConfig::default();
    assert!(detect_speech(&[], RATE, &cfg).is_empty());
    assert!(detect_speech(&vec![0.0; 16000], RATE, &cfg).is_empty());
}

#[test]
fn segment_slices_the_signal() {
    let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
    let s = Segment {
        start_s: 0.001,
        end_s: 0.002,
    };
    assert_eq!(s.slice(&x, 10000), &x[10..20]);
    assert!(
        Segment {
            start_s: 5.0,
            end_s: 6.0
        }
        .slice(&x, 10000)
        .is_empty()
    );
}

#[test]
fn long_segments_are_split_into_full_overlapping_windows() {
    let segs = [
        Segment {
            start_s: 1.0,
            end_s: 2.5,
        },
        Segment {
            start_s: 10.0,
            end_s: 20.0,
        },
    ];
    let windows = split_long_segments(&segs, 4.0, 1.0);
    let expected = [(1.0, 2.5), (10.0, 14.0), (13.0, 17.0), (16.0, 20.0)];
    assert_segments(&windows, &expected, 1e-9);
    // An exact fit needs no end-aligned extra window.
    let exact = split_long_segments(
        &[Segment {
            start_s: 0.0,
            end_s: 7.0,
        }],
        4.0,
        1.0,
    );
    assert_segments(&exact, &[(0.0, 4.0), (3.0, 7.0)], 1e-9);
}

#[test]
fn stream_windower_matches_slicing_the_whole_signal() {
    let signal: Vec<f32> = (0..50_000).map(|i| i as f32).collect();
    let mut rng = TestRng::new(3);
    for (window_s, hop_s) in [(1.0, 0.5), (1.0, 1.0), (0.5, 0.8)] {
        let mut w = StreamWindower::new(RATE, window_s, hop_s);
        let mut windows = Vec::new();
        let mut pos = 0;
        while pos < signal.len() {
            let n = (rng.int(1, 7000) as usize).min(signal.len() - pos);
            windows.extend(w.push(&signal[pos..pos + n]));
            pos += n;
        }
        let (win, hop) = ((window_s * 16000.0) as usize, (hop_s * 16000.0) as usize);
        let expected_count = (signal.len() - win) / hop + 1;
        assert_eq!(
            windows.len(),
            expected_count,
            "window {window_s} hop {hop_s}"
        );
        for (k, got) in windows.iter().enumerate() {
            assert_eq!(got.samples, signal[k * hop..k * hop + win], "window {k}");
            assert_eq!(got.start_s, (k * hop) as f64 / 16000.0);
        }
        let tail = w.flush();
        let covered = (expected_count - 1) * hop + hop;
        if covered < signal.len() {
            assert_eq!(tail.unwrap().samples, signal[covered..]);
        }
        assert!(w.flush().is_none());
    }
}
