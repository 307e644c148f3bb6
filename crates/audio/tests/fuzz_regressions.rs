//! Inputs found by `fuzz/` (cargo-fuzz), rebuilt from fixtures plus the fuzzer's edits so no
//! binary blobs are committed. Each must come back as a result, never as a panic or a hang.

mod common;

use common::fixture;
use ser_audio::{AudioError, LoadOptions, load_bytes, probe_bytes};

/// Applies `(start, end, replacement)` edits (offsets into the original) from the back.
fn edited(mut bytes: Vec<u8>, edits: &[(usize, usize, &[u8])]) -> Vec<u8> {
    for &(start, end, with) in edits.iter().rev() {
        bytes.splice(start..end, with.iter().copied());
    }
    bytes
}

/// The RAVDESS fixture with a damaged LPC subframe: symphonia's FLAC decoder overflows an
/// i32 in `lpc_predict` (a panic where overflow checks are on, wrapping garbage otherwise).
/// Found in the first minute of fuzzing; `catch_unwind` turns the panic into `Malformed`.
#[test]
fn flac_lpc_overflow_in_symphonia() {
    let flac = std::fs::read(fixture("inputs/ravdess_a01_neutral.flac")).unwrap();
    let crash = edited(
        flac,
        &[
            (48, 54, &[0x81, 0x5A, 0x07, 0x46, 0x4D, 0x7B]),
            (365, 897, &[]),
            (963, 3462, &[]),
            (4196, 9044, &[]),
            (9582, 15936, &[]),
            (
                16833,
                16833,
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1D],
            ),
            (17454, 17723, &[]),
            (19446, 19447, &[0xD9]),
            (19796, 19853, &[]),
            (20828, 22310, &[]),
            (22328, 23617, &[]),
        ],
    );
    assert_eq!(crash.len(), 6370);
    let name = "fuzz-lpc-overflow.flac";
    match load_bytes(&crash, name, &LoadOptions::default()) {
        Ok(audio) => assert!(audio.samples.iter().all(|x| x.is_finite())),
        Err(err) => {
            assert!(err.to_string().contains(name), "{err}");
            if cfg!(debug_assertions) {
                assert!(
                    matches!(
                        err,
                        AudioError::Malformed { .. } | AudioError::Truncated { .. }
                    ),
                    "{err:?}"
                );
            }
        }
    }
    let _ = probe_bytes(&crash, name);
}
