//! Malformed input: each failure has its own variant, names the file, and never panics.

mod common;

use std::path::Path;

use common::*;
use ser_audio::{AudioError, LoadOptions, load, load_bytes, probe, probe_bytes};

fn load_err(bytes: &[u8], name: &str) -> AudioError {
    let err = load_bytes(bytes, name, &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains(name),
        "message does not name {name}: {err}"
    );
    err
}

fn flac_fixture() -> Vec<u8> {
    std::fs::read(fixture("inputs/ravdess_a01_neutral.flac")).unwrap()
}

/// Sets a little-endian field in a WAV built by `wav16` (canonical 44-byte header).
fn patch(mut bytes: Vec<u8>, offset: usize, value: &[u8]) -> Vec<u8> {
    bytes[offset..offset + value.len()].copy_from_slice(value);
    bytes
}

fn tone_wav() -> Vec<u8> {
    wav16(&sine(300.0, 16000, 0.5, 0.5), 16000)
}

#[test]
fn empty_input() {
    assert!(matches!(
        load_err(&[], "empty.wav"),
        AudioError::Empty { .. }
    ));
    let file = tempfile::Builder::new().suffix(".flac").tempfile().unwrap();
    let err = load(file.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, AudioError::Empty { .. }), "{err:?}");
    assert!(matches!(probe(file.path()), Err(AudioError::Empty { .. })));
}

#[test]
fn missing_file_is_an_io_error() {
    let path = Path::new("/definitely/missing/file.mp3");
    let err = load(path, &LoadOptions::default()).unwrap_err();
    assert!(
        matches!(&err, AudioError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );
    assert!(err.to_string().contains("/definitely/missing/file.mp3"));
}

#[test]
fn valid_header_without_samples() {
    let header_only = wav16(&[], 16000);
    assert_eq!(header_only.len(), 44);
    assert!(matches!(
        load_err(&header_only, "silent.wav"),
        AudioError::NoSamples { .. }
    ));
    // A single byte of a 2-byte frame is no sample either.
    let mut odd = patch(header_only.clone(), 40, &1u32.to_le_bytes());
    odd.push(0x7F);
    let odd = patch(odd, 4, &37u32.to_le_bytes());
    assert!(matches!(
        load_err(&odd, "half-frame.wav"),
        AudioError::NoSamples { .. }
    ));
}

#[test]
fn wav_whose_data_chunk_claims_more_than_the_file_holds() {
    let bytes = tone_wav(); // 8000 frames = 16000 data bytes
    let lying = patch(bytes.clone(), 40, &32000u32.to_le_bytes());
    let err = load_err(&lying, "lying.wav");
    let AudioError::Truncated { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        detail.contains("16000 frames") && detail.contains("8000 frames"),
        "{detail}"
    );
    // The same file with the tail cut off.
    let cut = &bytes[..bytes.len() - 1000];
    assert!(matches!(
        load_err(cut, "cut.wav"),
        AudioError::Truncated { .. }
    ));
    assert!(matches!(
        probe_bytes(cut, "cut.wav"),
        Err(AudioError::Truncated { .. })
    ));
    // Cut inside the header.
    assert!(matches!(
        load_err(&bytes[..30], "stub.wav"),
        AudioError::Truncated { .. }
    ));
}

#[test]
fn wav_fmt_chunk_with_impossible_values() {
    let bytes = tone_wav();
    let cases: [(&str, usize, Vec<u8>, &str); 5] = [
        (
            "zero-channels.wav",
            22,
            0u16.to_le_bytes().to_vec(),
            "0 channels",
        ),
        ("zero-rate.wav", 24, 0u32.to_le_bytes().to_vec(), "0 Hz"),
        (
            "huge-rate.wav",
            24,
            4_000_000_000u32.to_le_bytes().to_vec(),
            "4000000000 Hz",
        ),
        ("tiny-rate.wav", 24, 3u32.to_le_bytes().to_vec(), "3 Hz"),
        (
            "zero-block.wav",
            32,
            0u16.to_le_bytes().to_vec(),
            "block size of 0",
        ),
    ];
    for (name, offset, value, expected) in cases {
        let err = load_err(&patch(bytes.clone(), offset, &value), name);
        let AudioError::CorruptHeader { detail, .. } = &err else {
            panic!("{name}: {err:?}")
        };
        assert!(detail.contains(expected), "{name}: {detail}");
    }
}

#[test]
fn wav_with_an_unsupported_codec_names_it() {
    let gsm = patch(tone_wav(), 20, &0x0031u16.to_le_bytes());
    let err = load_err(&gsm, "phone.wav");
    let AudioError::UnsupportedCodec { codec, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(codec.contains("GSM"), "{codec}");
}

#[test]
fn truncated_flac_is_reported() {
    let flac = flac_fixture();
    let err = load_err(&flac[..flac.len() / 2], "half.flac");
    let AudioError::Truncated { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("52853 frames"), "{detail}");
    // Cut inside the STREAMINFO block.
    let err = load_err(&flac[..20], "stub.flac");
    assert!(
        matches!(
            err,
            AudioError::Truncated { .. } | AudioError::CorruptHeader { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn flac_missing_only_its_last_bytes_is_accepted() {
    let flac = flac_fixture();
    let audio = load_bytes(
        &flac[..flac.len() - 300],
        "tail.flac",
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(
        audio.samples.len() >= 52853 * 9 / 10 && audio.samples.len() < 52853,
        "{}",
        audio.samples.len()
    );
    // What was decoded is the start of the real signal, unchanged.
    let full = load_bytes(&flac, "full.flac", &LoadOptions::default()).unwrap();
    assert_eq!(audio.samples[..], full.samples[..audio.samples.len()]);
}

#[test]
fn flac_with_a_damaged_frame_is_not_silently_accepted_as_exact() {
    let mut flac = flac_fixture();
    let mid = flac.len() / 2;
    for b in &mut flac[mid..mid + 64] {
        *b ^= 0x5A;
    }
    match load_bytes(&flac, "damaged.flac", &LoadOptions::default()) {
        // The damaged frame is skipped (with a warning): the rest is still there.
        Ok(audio) => assert!(audio.samples.len() >= 52853 * 9 / 10),
        Err(err) => assert!(
            matches!(
                err,
                AudioError::Malformed { .. } | AudioError::Truncated { .. }
            ),
            "{err:?}"
        ),
    }
}

#[test]
fn random_bytes_are_not_audio() {
    let mut rng = TestRng::new(99);
    for (i, len) in [16, 1000, 100_000].into_iter().enumerate() {
        let name = format!("random{i}.wav");
        let err = load_err(&rng.bytes(len), &name);
        assert!(
            matches!(err, AudioError::NotAudio { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn many_random_inputs_never_panic() {
    let mut rng = TestRng::new(5);
    for i in 0..300 {
        let len = rng.int(0, 5000) as usize;
        let mut bytes = rng.bytes(len);
        // Give some of them a real magic number so the container parsers are exercised.
        let magic: &[u8] = [
            &b"RIFF"[..],
            b"fLaC",
            b"OggS",
            b"\x1A\x45\xDF\xA3",
            b"ID3",
            b"\xFF\xFB",
        ][i % 6];
        if bytes.len() >= magic.len() && i % 2 == 0 {
            bytes[..magic.len()].copy_from_slice(magic);
        }
        let _ = load_bytes(&bytes, "fuzz.bin", &LoadOptions::default());
        let _ = probe_bytes(&bytes, "fuzz.bin");
    }
}

#[test]
fn text_renamed_to_wav_is_not_audio() {
    let text = "name,emotion\nclip01.wav,happy\nclip02.wav,sad\n".repeat(50);
    let file = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let err = load(file.path(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, AudioError::NotAudio { .. }), "{err:?}");
    assert!(err.to_string().contains(&file.path().display().to_string()));
}

#[test]
fn too_long_is_caught_from_the_header() {
    let opts = LoadOptions {
        max_duration_s: Some(0.25),
        ..Default::default()
    };
    let err = load_bytes(&tone_wav(), "long.wav", &opts).unwrap_err();
    let AudioError::TooLong {
        duration_s, max_s, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!((duration_s, max_s), (0.5, 0.25));
    let flac_opts = LoadOptions {
        max_duration_s: Some(2.0),
        ..Default::default()
    };
    let err = load(&fixture("inputs/ravdess_a01_neutral.flac"), &flac_opts).unwrap_err();
    assert!(
        matches!(err, AudioError::TooLong { duration_s, .. } if (duration_s - 52853.0 / 16000.0).abs() < 1e-9)
    );
}

#[test]
fn too_long_is_caught_while_decoding_when_the_header_does_not_say() {
    // A streaming WAV (unknown size) of 3 s against a 1 s limit.
    let bytes = wav16(&sine(300.0, 16000, 3.0, 0.5), 16000);
    let streaming = patch(
        patch(bytes, 4, &u32::MAX.to_le_bytes()),
        40,
        &u32::MAX.to_le_bytes(),
    );
    let opts = LoadOptions {
        max_duration_s: Some(1.0),
        ..Default::default()
    };
    let err = load_bytes(&streaming, "stream.wav", &opts).unwrap_err();
    let AudioError::TooLong { duration_s, .. } = err else {
        panic!("{err:?}")
    };
    assert!(
        (1.0..1.5).contains(&duration_s),
        "stopped at {duration_s} s"
    );
    // Without a limit it decodes.
    let unlimited = LoadOptions {
        max_duration_s: None,
        ..Default::default()
    };
    assert_eq!(
        load_bytes(&streaming, "stream.wav", &unlimited)
            .unwrap()
            .samples
            .len(),
        48000
    );
}

#[test]
fn nan_samples_are_malformed() {
    let raw = [
        Raw::Float(0.1),
        Raw::Float(f64::NAN),
        Raw::Float(f64::INFINITY),
    ];
    let bytes = wav_bytes(Enc::F32, 1, 16000, &raw, false);
    let err = load_err(&bytes, "nan.wav");
    let AudioError::Malformed { detail, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("2 samples"), "{detail}");
}

#[test]
fn every_error_names_its_file() {
    let errors = [
        AudioError::Empty {
            file: "a.wav".into(),
        },
        AudioError::NoSamples {
            file: "a.wav".into(),
        },
        AudioError::Truncated {
            file: "a.wav".into(),
            detail: "x".into(),
        },
        AudioError::CorruptHeader {
            file: "a.wav".into(),
            detail: "x".into(),
        },
        AudioError::NotAudio {
            file: "a.wav".into(),
        },
        AudioError::UnsupportedCodec {
            file: "a.wav".into(),
            codec: "x".into(),
        },
        AudioError::TooLong {
            file: "a.wav".into(),
            duration_s: 2.0,
            max_s: 1.0,
        },
        AudioError::Malformed {
            file: "a.wav".into(),
            detail: "x".into(),
        },
        AudioError::Io {
            file: "a.wav".into(),
            source: std::io::Error::other("x"),
        },
    ];
    for err in errors {
        assert!(err.to_string().starts_with("a.wav: "), "{err}");
        assert_eq!(err.file(), Some(Path::new("a.wav")));
    }
}
