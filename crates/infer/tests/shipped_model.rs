//! The shipped model's answers on fixture clips, against the ones recorded in
//! `golden/default-model.tsv`: a refactoring of decoding, features or inference must leave
//! them as they were. Each clip alone and the two RAVDESS clips as one speaker's.
//!
//! The record holds each probability's exact bits; the check allows 1e-6, which covers the
//! summation order of another CPU's SIMD path and nothing a change of features or model
//! would do. `SER_BLESS=1 cargo test -p ser-infer --test shipped_model` records them anew
//! (only when the shipped model itself changes).

use std::path::{Path, PathBuf};

use ser_infer::{Classifier, ClipPrediction, InferenceError};

const CLIPS: [&str; 5] = [
    "ravdess_a01_neutral.flac",
    "ravdess_a12_angry_strong.flac",
    "chirp_sr16000.wav",
    "noise_sr22050.wav",
    "sine440_sr16000.wav",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/default-model.tsv")
}

/// One line per label, in label order: clip, mode, label, probability (decimal) and its bits.
fn lines(clip: &str, mode: &str, answer: &Result<ClipPrediction, InferenceError>) -> Vec<String> {
    match answer {
        Ok(prediction) => {
            let mut scored: Vec<_> = prediction.ranked.iter().collect();
            // In label order: a rank order could swap two near-equal labels.
            scored.sort_by(|a, b| a.label.cmp(&b.label));
            scored
                .into_iter()
                .map(|s| {
                    format!(
                        "{clip}\t{mode}\t{}\t{}\t{:08x}",
                        s.label,
                        s.prob,
                        s.prob.to_bits()
                    )
                })
                .collect()
        }
        Err(InferenceError::NoSpeech { .. }) => vec![format!("{clip}\t{mode}\tno speech\t-\t-")],
        Err(e) => panic!("{clip}: {e}"),
    }
}

fn answers() -> Vec<String> {
    let classifier = Classifier::load(root().join("models/default.ser")).unwrap();
    let inputs = root().join("../shared/fixtures/librosa/inputs");
    let mut out = Vec::new();
    for clip in CLIPS {
        out.extend(lines(
            clip,
            "alone",
            &classifier.classify_file(&inputs.join(clip)),
        ));
    }
    let ravdess = &CLIPS[..2];
    let features = ravdess
        .iter()
        .map(|clip| classifier.clip_features(&inputs.join(clip)).unwrap())
        .collect();
    for (clip, answer) in ravdess.iter().zip(classifier.classify_together(features)) {
        out.extend(lines(clip, "one speaker", &answer));
    }
    out
}

#[test]
fn the_shipped_model_answers_as_recorded() {
    let now = answers();
    if std::env::var_os("SER_BLESS").is_some() {
        std::fs::write(golden(), now.join("\n") + "\n").unwrap();
        return;
    }
    let recorded = std::fs::read_to_string(golden()).unwrap();
    let recorded: Vec<&str> = recorded.lines().collect();
    assert_eq!(recorded.len(), now.len(), "answers:\n{}", now.join("\n"));
    for (was, is) in recorded.iter().zip(&now) {
        let (was, is): (Vec<&str>, Vec<&str>) =
            (was.split('\t').collect(), is.split('\t').collect());
        assert_eq!(
            was[..3],
            is[..3],
            "clip, mode and label:\n{}",
            now.join("\n")
        );
        if was[4] != "-" {
            let bits = |hex: &str| f32::from_bits(u32::from_str_radix(hex, 16).unwrap());
            let (a, b) = (bits(was[4]), bits(is[4]));
            assert!(
                (a - b).abs() <= 1e-6,
                "{}: {a} recorded, {b} now",
                is[..3].join(" ")
            );
        }
    }
}
