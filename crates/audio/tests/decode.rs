//! Decoding: librosa fixtures (exact sums), every WAV encoding, mix-down, probe, resampled load.

mod common;

use common::*;
use ser_audio::{
    AudioError, LoadOptions, load, load_bytes, probe, probe_bytes, stream, stream_bytes,
};

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_decodes_like_soundfile() {
    let manifest = manifest();
    let mut checked = 0;
    for input in manifest["inputs"].as_array().unwrap() {
        let Some(rel) = input["audio"].as_str() else {
            continue;
        };
        let audio = load(&fixture(rel), &LoadOptions::default()).unwrap();
        assert_eq!(
            audio.sample_rate as u64,
            input["sr"].as_u64().unwrap(),
            "{rel}"
        );
        assert_eq!(
            audio.samples.len() as u64,
            input["n_samples"].as_u64().unwrap(),
            "{rel}"
        );
        let sum: f64 = audio.samples.iter().map(|&x| f64::from(x)).sum();
        let sum_abs: f64 = audio.samples.iter().map(|&x| f64::from(x).abs()).sum();
        assert!(
            (sum - input["sum_f64"].as_f64().unwrap()).abs() < 1e-9,
            "{rel}: sum {sum}"
        );
        assert!(
            (sum_abs - input["sum_abs_f64"].as_f64().unwrap()).abs() < 1e-9,
            "{rel}: sum_abs {sum_abs}"
        );
        checked += 1;
    }
    assert_eq!(checked, 12, "expected 10 WAV + 2 FLAC fixtures");
}

#[test]
fn load_bytes_matches_load() {
    let path = fixture("inputs/ravdess_a01_neutral.flac");
    let bytes = std::fs::read(&path).unwrap();
    let from_bytes = load_bytes(&bytes, "upload.flac", &LoadOptions::default()).unwrap();
    assert_eq!(from_bytes, load(&path, &LoadOptions::default()).unwrap());
}

/// Streams `path` (or its bytes) at `target_rate`: the blocks joined, and what `stream` said.
fn streamed(path: &std::path::Path, target_rate: Option<u32>, from_bytes: bool) -> (Vec<f32>, u32) {
    let opts = LoadOptions {
        target_rate,
        ..LoadOptions::default()
    };
    let mut samples = Vec::new();
    let mut collect = |block: &[f32]| {
        samples.extend_from_slice(block);
        Ok::<(), AudioError>(())
    };
    let done = if from_bytes {
        let bytes = std::fs::read(path).unwrap();
        stream_bytes(&bytes, "upload.flac", &opts, &mut collect).unwrap()
    } else {
        stream(path, &opts, &mut collect).unwrap()
    };
    assert_eq!(done.samples, samples.len() as u64);
    (samples, done.sample_rate)
}

#[test]
fn streaming_gives_the_samples_load_gives() {
    let manifest = manifest();
    for input in manifest["inputs"].as_array().unwrap() {
        let Some(rel) = input["audio"].as_str() else {
            continue;
        };
        let path = fixture(rel);
        for target_rate in [None, Some(16_000), Some(22_050)] {
            let opts = LoadOptions {
                target_rate,
                ..LoadOptions::default()
            };
            let whole = load(&path, &opts).unwrap();
            let (samples, rate) = streamed(&path, target_rate, rel.ends_with(".flac"));
            assert_eq!(rate, whole.sample_rate, "{rel} at {target_rate:?}");
            assert_eq!(
                samples.len(),
                whole.samples.len(),
                "{rel} at {target_rate:?}"
            );
            let same = samples
                .iter()
                .zip(&whole.samples)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{rel} at {target_rate:?}: samples differ");
        }
    }
}

#[test]
fn streaming_stops_at_the_first_error_of_the_consumer() {
    let path = fixture("inputs/ravdess_a01_neutral.flac");
    let mut blocks = 0;
    let result = stream(&path, &LoadOptions::default(), &mut |_: &[f32]| {
        blocks += 1;
        Err(AudioError::Empty {
            file: "stop here".into(),
        })
    });
    assert!(
        matches!(result, Err(AudioError::Empty { file }) if file.to_str() == Some("stop here"))
    );
    assert_eq!(blocks, 1);
}

#[test]
fn streaming_reports_bad_files_like_load() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("cut.wav");
    let mut bytes = wav16(&sine(440.0, 16_000, 1.0, 0.5), 16_000);
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&truncated, bytes).unwrap();
    let mut ignore = |_: &[f32]| Ok::<(), AudioError>(());
    let err = stream(&truncated, &LoadOptions::default(), &mut ignore).unwrap_err();
    assert!(matches!(err, AudioError::Truncated { .. }), "{err}");
    let long = LoadOptions {
        max_duration_s: Some(0.5),
        ..LoadOptions::default()
    };
    let path = fixture("inputs/ravdess_a01_neutral.flac");
    let err = stream(&path, &long, &mut ignore).unwrap_err();
    assert!(matches!(err, AudioError::TooLong { .. }), "{err}");
}

/// Random interleaved integer samples across the full range of a `bits`-bit encoding.
fn random_ints(rng: &mut TestRng, n: usize, lo: i64, hi: i64) -> Vec<Raw> {
    let mut v: Vec<Raw> = (0..n).map(|_| Raw::Int(rng.int(lo, hi))).collect();
    // Always include the extremes and zero-crossing values.
    v[0] = Raw::Int(lo);
    v[1] = Raw::Int(hi);
    v
}

fn int_of(r: Raw) -> i64 {
    match r {
        Raw::Int(i) => i,
        Raw::Float(_) => unreachable!(),
    }
}

fn check_integer_encoding(enc: Enc, lo: i64, hi: i64, to_f32: fn(i64) -> f32, extensible: bool) {
    let mut rng = TestRng::new(7);
    let raw = random_ints(&mut rng, 4000, lo, hi);
    let bytes = wav_bytes(enc, 1, 16000, &raw, extensible);
    let audio = load_bytes(&bytes, "x.wav", &LoadOptions::default()).unwrap();
    let expected: Vec<f32> = raw.iter().map(|&r| to_f32(int_of(r))).collect();
    assert_eq!(audio.samples, expected, "{enc:?} extensible={extensible}");
}

#[test]
fn integer_pcm_scales_like_libsndfile() {
    for ext in [false, true] {
        check_integer_encoding(Enc::U8, 0, 255, |u| (u - 128) as f32 / 128.0, ext);
        check_integer_encoding(Enc::I16, -32768, 32767, |i| i as f32 / 32768.0, ext);
        check_integer_encoding(
            Enc::I24,
            -(1 << 23),
            (1 << 23) - 1,
            |i| i as f32 / 8_388_608.0,
            ext,
        );
        // libsndfile: (float) i * (1 / 2^31): one rounding to f32.
        check_integer_encoding(
            Enc::I32,
            i32::MIN as i64,
            i32::MAX as i64,
            |i| i as f32 / 2_147_483_648.0,
            ext,
        );
    }
}

#[test]
fn float_pcm_is_kept_or_rounded_to_f32() {
    let mut rng = TestRng::new(3);
    let raw: Vec<Raw> = (0..3000).map(|_| Raw::Float(rng.unit() * 1.5)).collect();
    for (enc, ext) in [
        (Enc::F32, false),
        (Enc::F64, false),
        (Enc::F32, true),
        (Enc::F64, true),
    ] {
        let audio = load_bytes(
            &wav_bytes(enc, 1, 22050, &raw, ext),
            "f.wav",
            &LoadOptions::default(),
        )
        .unwrap();
        let expected: Vec<f32> = raw
            .iter()
            .map(|r| {
                if let Raw::Float(f) = r {
                    *f as f32
                } else {
                    0.0
                }
            })
            .collect();
        assert_eq!(audio.samples, expected, "{enc:?} ext={ext}");
        assert_eq!(audio.sample_rate, 22050);
    }
}

#[test]
fn multichannel_is_mixed_to_the_mean_in_f32() {
    let mut rng = TestRng::new(11);
    for channels in [2u16, 3, 6, 8] {
        let frames = 1000;
        let raw = random_ints(&mut rng, frames * channels as usize, -32768, 32767);
        let ext = channels > 2;
        let audio = load_bytes(
            &wav_bytes(Enc::I16, channels, 16000, &raw, ext),
            "m.wav",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(audio.samples.len(), frames);
        for (i, frame) in raw.chunks(channels as usize).enumerate() {
            let sum = frame
                .iter()
                .fold(0.0f32, |acc, &r| acc + int_of(r) as f32 / 32768.0);
            assert_eq!(
                audio.samples[i],
                sum / channels as f32,
                "{channels} ch, frame {i}"
            );
        }
    }
}

#[test]
fn stereo_with_opposite_channels_cancels() {
    let frames: Vec<Raw> = (0..2000)
        .flat_map(|i| [Raw::Int(i % 1000), Raw::Int(-(i % 1000))])
        .collect();
    let audio = load_bytes(
        &wav_bytes(Enc::I16, 2, 8000, &frames, false),
        "s.wav",
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(audio.samples.iter().all(|&x| x == 0.0));
}

#[test]
fn probe_reports_header_facts() {
    let raw = vec![Raw::Int(0); 2 * 24000];
    let bytes = wav_bytes(Enc::I24, 2, 48000, &raw, true);
    let info = probe_bytes(&bytes, "p.wav").unwrap();
    assert_eq!(info.container, "wave");
    assert_eq!(info.codec, "pcm_s24le");
    assert_eq!(
        (info.sample_rate, info.channels, info.bits_per_sample),
        (48000, 2, Some(24))
    );
    assert_eq!(info.frames, 24000);
    assert!((info.duration_s - 0.5).abs() < 1e-12);

    let flac = probe(&fixture("inputs/ravdess_a12_angry_strong.flac")).unwrap();
    assert_eq!(
        (flac.container.as_str(), flac.codec.as_str()),
        ("flac", "flac")
    );
    assert_eq!(
        (flac.sample_rate, flac.channels, flac.frames),
        (16000, 1, 58191)
    );
    let json = serde_json::to_value(&flac).unwrap();
    assert_eq!(json["frames"], 58191);
}

#[test]
fn load_with_target_rate_resamples() {
    let opts = LoadOptions {
        target_rate: Some(22050),
        ..Default::default()
    };
    let audio = load(&fixture("inputs/ravdess_a01_neutral.flac"), &opts).unwrap();
    assert_eq!(audio.sample_rate, 22050);
    assert_eq!(audio.samples.len(), 72839); // ceil(52853 * 22050 / 16000), as librosa gives
}

#[test]
fn encode_wav_pcm16_round_trips() {
    let samples: Vec<f32> = (-32768..32768)
        .step_by(7)
        .map(|i| i as f32 / 32768.0)
        .collect();
    let audio = ser_audio::Audio {
        samples,
        sample_rate: 12345,
    };
    let back = load_bytes(
        &ser_audio::encode_wav_pcm16(&audio),
        "rt.wav",
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(back, audio);
    // Out-of-range values clip instead of wrapping.
    let loud = ser_audio::Audio {
        samples: vec![2.0, -2.0, f32::NAN],
        sample_rate: 8000,
    };
    let back = load_bytes(
        &ser_audio::encode_wav_pcm16(&loud),
        "clip.wav",
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(back.samples, vec![32767.0 / 32768.0, -1.0, 0.0]);
}

#[test]
fn streaming_wav_with_unknown_size_decodes_to_the_end() {
    let mut bytes = wav16(&sine(440.0, 16000, 0.25, 0.5), 16000);
    // ffmpeg piping to stdout writes 0xFFFFFFFF for both sizes.
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let audio = load_bytes(&bytes, "stream.wav", &LoadOptions::default()).unwrap();
    assert_eq!(audio.samples.len(), 4000);
}

#[test]
fn error_display_names_the_file() {
    let err = load(
        std::path::Path::new("/no/such/dir/clip.wav"),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, AudioError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/no/such/dir/clip.wav"), "{err}");
}
