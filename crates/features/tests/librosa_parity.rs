//! Parity with librosa 0.11: every golden listed in the fixtures' manifest.json is checked with
//! the tolerances recommended in the fixtures' README. A golden kind this test does not know
//! fails the test; the only ones allowed to be skipped are listed in `NOT_YET_IMPLEMENTED`.

mod common;

use std::collections::BTreeMap;

use common::{Npy, fixtures_dir, inputs, manifest, read_input, read_npy};
use ser_features::{
    ChromaConfig, DbConfig, Extractor, FeatureConfig, FeatureKind, FeatureMatrix, MelConfig,
    PyinConfig, StftConfig, YinConfig, chroma_stft, delta, melspectrogram, mfcc_from_db,
    power_to_db, pyin, rms, spectral_features, stft_magnitude, yin, zero_crossing_rate,
};
use serde_json::Value;

/// Golden kinds reported but not checked (none left: every golden is checked).
const NOT_YET_IMPLEMENTED: &[&str] = &[];

const S512: StftConfig = StftConfig {
    n_fft: 512,
    hop_length: 160,
    win_length: 512,
    center: true,
};

/// README tolerances.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// |a−g| ≤ 1e-5·max|g| + 1e-4·|g|
    Relative,
    /// |a−g| ≤ bound
    Absolute(f64),
    /// |a−g| ≤ rel·max(max|g|, 1)
    OfMax(f64),
    /// |a−g| ≤ 1e-6·max|g| + 1e-6·|g| (rms: librosa itself is f32 here)
    Rms,
}

impl Tol {
    fn bound(self, g: f64, max_g: f64) -> f64 {
        match self {
            Tol::Relative => 1e-5 * max_g + 1e-4 * g.abs(),
            Tol::Absolute(b) => b,
            Tol::OfMax(r) => r * max_g.max(1.0),
            Tol::Rms => 1e-6 * max_g + 1e-6 * g.abs(),
        }
    }
}

/// Worst error of one kind over all inputs.
#[derive(Default)]
struct Worst {
    max_abs: f64,
    max_ratio: f64,
    checked: usize,
}

struct Checker {
    worst: BTreeMap<String, Worst>,
    failures: Vec<String>,
}

impl Checker {
    fn compare(
        &mut self,
        kind: &str,
        input: &str,
        actual: &[f64],
        shape: &[usize],
        golden: &Npy,
        tol: Tol,
    ) {
        let label = format!("{input}/{kind}");
        if shape != golden.shape.as_slice() {
            self.failures.push(format!(
                "{label}: shape {shape:?}, golden {:?}",
                golden.shape
            ));
            return;
        }
        let max_g = golden.data.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let w = self.worst.entry(kind.to_string()).or_default();
        w.checked += 1;
        let mut first_bad = None;
        for (i, (&a, &g)) in actual.iter().zip(&golden.data).enumerate() {
            let d = (a - g).abs();
            let bound = tol.bound(g, max_g);
            w.max_abs = w.max_abs.max(d);
            if bound > 0.0 {
                w.max_ratio = w.max_ratio.max(d / bound);
            } else if d > 0.0 {
                w.max_ratio = f64::INFINITY;
            }
            if (d > bound || !a.is_finite()) && first_bad.is_none() {
                first_bad = Some((i, a, g, bound));
            }
        }
        if let Some((i, a, g, bound)) = first_bad {
            self.failures.push(format!(
                "{label}: element {i}: got {a}, golden {g}, |diff| {} > {bound}",
                (a - g).abs()
            ));
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }
}

fn as_f64(m: &FeatureMatrix) -> (Vec<f64>, Vec<usize>) {
    (
        m.data.iter().map(|&v| v as f64).collect(),
        vec![m.rows, m.cols],
    )
}

fn row_f64(v: &[f32]) -> (Vec<f64>, Vec<usize>) {
    (v.iter().map(|&x| x as f64).collect(), vec![1, v.len()])
}

/// Computes everything for one input lazily, in the goldens' own terms.
struct Input {
    id: String,
    y: Vec<f32>,
    sr: f64,
}

impl Input {
    fn mel(&self, stft: &StftConfig, n_mels: usize) -> FeatureMatrix {
        melspectrogram(&self.y, self.sr, stft, &MelConfig::librosa(n_mels)).unwrap()
    }

    fn mel_db(&self, stft: &StftConfig, n_mels: usize) -> FeatureMatrix {
        let mut m = self.mel(stft, n_mels);
        power_to_db(&mut m.data, &DbConfig::LIBROSA_DEFAULT);
        m
    }

    fn mfcc(&self) -> FeatureMatrix {
        mfcc_from_db(&self.mel_db(&StftConfig::LIBROSA_DEFAULT, 128), 40, 0.0).unwrap()
    }

    /// pooled180 through the Extractor (the feature-set code path), at this input's rate.
    fn pooled(&self, chroma: ChromaConfig) -> FeatureMatrix {
        let mut cfg = FeatureConfig::named("pooled180").unwrap();
        cfg.sample_rate = self.sr as u32;
        cfg.chroma = chroma;
        Extractor::new(&cfg).unwrap().extract(&self.y).unwrap()
    }

    fn frames(&self, set: &str) -> FeatureMatrix {
        let cfg = FeatureConfig::named(set).unwrap();
        assert_eq!(cfg.sample_rate as f64, self.sr, "{set} is a 16 kHz set");
        Extractor::new(&cfg).unwrap().extract(&self.y).unwrap()
    }
}

/// Checks one golden; returns false if its kind is unknown.
fn check_golden(c: &mut Checker, inp: &Input, kind: &str, entry: &Value, golden: &Npy) -> bool {
    let default = StftConfig::LIBROSA_DEFAULT;
    let id = inp.id.as_str();
    let cmp = |c: &mut Checker, (a, shape): (Vec<f64>, Vec<usize>), tol| {
        c.compare(kind, id, &a, &shape, golden, tol)
    };
    match kind {
        "stft_mag" => cmp(
            c,
            as_f64(&stft_magnitude(&inp.y, &default).unwrap()),
            Tol::Relative,
        ),
        "s512_stft_mag" => cmp(
            c,
            as_f64(&stft_magnitude(&inp.y, &S512).unwrap()),
            Tol::Relative,
        ),
        "mel" => cmp(c, as_f64(&inp.mel(&default, 128)), Tol::Relative),
        "s512_mel64" => cmp(c, as_f64(&inp.mel(&S512, 64)), Tol::Relative),
        "mel_db" => cmp(c, as_f64(&inp.mel_db(&default, 128)), Tol::Absolute(2e-3)),
        "s512_logmel64" => cmp(
            c,
            as_f64(&inp.frames("logmel64-frames")),
            Tol::Absolute(2e-3),
        ),
        "mfcc" => cmp(c, as_f64(&inp.mfcc()), Tol::Relative),
        "s512_mfcc40" => cmp(c, as_f64(&inp.frames("mfcc40-frames")), Tol::Relative),
        "mfcc_delta" => cmp(
            c,
            as_f64(&delta(&inp.mfcc(), 9, 1).unwrap()),
            Tol::Absolute(2e-3),
        ),
        "mfcc_delta2" => cmp(
            c,
            as_f64(&delta(&inp.mfcc(), 9, 2).unwrap()),
            Tol::Absolute(2e-3),
        ),
        "chroma_tuning0" => {
            let (chroma, _) =
                chroma_stft(&inp.y, inp.sr, &default, &ChromaConfig::librosa(Some(0.0))).unwrap();
            cmp(c, as_f64(&chroma), Tol::Absolute(1e-4));
        }
        "chroma_tuning_est" => {
            let (chroma, tuning) =
                chroma_stft(&inp.y, inp.sr, &default, &ChromaConfig::librosa(None)).unwrap();
            let expected = entry["kwargs"]["estimated_tuning"]
                .as_f64()
                .expect("estimated_tuning");
            let w = c.worst.entry("estimated_tuning".into()).or_default();
            w.checked += 1;
            w.max_abs = w.max_abs.max((tuning - expected).abs());
            if (tuning - expected).abs() > 1e-9 {
                c.fail(format!(
                    "{id}/estimated_tuning: got {tuning}, librosa {expected}"
                ));
            }
            cmp(c, as_f64(&chroma), Tol::Absolute(1e-4));
        }
        "zcr" => cmp(
            c,
            row_f64(&zero_crossing_rate(&inp.y, 2048, 512, true).unwrap()),
            Tol::Absolute(0.0),
        ),
        "rms" => cmp(c, row_f64(&rms(&inp.y, 2048, 512, true).unwrap()), Tol::Rms),
        "spectral_centroid" | "spectral_bandwidth" | "spectral_rolloff" | "spectral_flatness" => {
            let s = spectral_features(
                &inp.y,
                inp.sr,
                &default,
                &ser_features::SpectralConfig::LIBROSA_DEFAULT,
            )
            .unwrap();
            let (m, tol) = match kind {
                "spectral_centroid" => (&s.centroid, Tol::OfMax(1e-6)),
                "spectral_bandwidth" => (&s.bandwidth, Tol::OfMax(1e-6)),
                "spectral_rolloff" => (&s.rolloff, Tol::Absolute(0.0)),
                _ => (&s.flatness, Tol::Absolute(1e-5)),
            };
            cmp(c, as_f64(m), tol);
        }
        "pooled180" | "pooled180_x4nth055" => {
            let chroma = if kind == "pooled180" {
                ChromaConfig::librosa(Some(0.0))
            } else {
                ChromaConfig {
                    power: 1.0,
                    ..ChromaConfig::librosa(None)
                }
            };
            check_pooled(c, kind, id, &inp.pooled(chroma), golden);
        }
        "yin_f0" => {
            let f0 = yin(&inp.y, inp.sr, &YinConfig::SPEECH_DEFAULT).unwrap();
            let a: Vec<f64> = f0.iter().map(|&v| v as f64).collect();
            c.compare(kind, id, &a, &[a.len()], golden, Tol::Absolute(1e-3));
        }
        "pyin_f0" | "pyin_voiced_flag" | "pyin_voiced_prob" => {
            let out = pyin(&inp.y, inp.sr, &PyinConfig::SPEECH_DEFAULT).unwrap();
            match kind {
                "pyin_f0" => check_pyin_f0(c, id, &out.f0, golden),
                "pyin_voiced_flag" => {
                    let a: Vec<f64> = out.voiced_flag.iter().map(|&v| f64::from(v)).collect();
                    c.compare(kind, id, &a, &[a.len()], golden, Tol::Absolute(0.0));
                }
                _ => {
                    let a: Vec<f64> = out.voiced_prob.iter().map(|&v| v as f64).collect();
                    c.compare(kind, id, &a, &[a.len()], golden, Tol::Absolute(1e-4));
                }
            }
        }
        _ => return false,
    }
    true
}

/// pYIN f0: NaN (unvoiced) exactly where librosa has NaN, then ≤ 1e-2 Hz elsewhere.
fn check_pyin_f0(c: &mut Checker, id: &str, f0: &[f32], golden: &Npy) {
    let kind = "pyin_f0";
    if golden.shape != [f0.len()] {
        c.fail(format!(
            "{id}/{kind}: {} frames, golden shape {:?}",
            f0.len(),
            golden.shape
        ));
        return;
    }
    let nan_mismatch: Vec<usize> = (0..f0.len())
        .filter(|&i| f0[i].is_nan() != golden.data[i].is_nan())
        .collect();
    let w = c
        .worst
        .entry(format!("{kind} NaN-position mismatches"))
        .or_default();
    w.checked += 1;
    w.max_abs = w.max_abs.max(nan_mismatch.len() as f64);
    if !nan_mismatch.is_empty() {
        c.fail(format!(
            "{id}/{kind}: NaN positions differ at frames {nan_mismatch:?}"
        ));
    }
    let voiced: Vec<usize> = (0..f0.len())
        .filter(|&i| !f0[i].is_nan() && !golden.data[i].is_nan())
        .collect();
    let g = Npy {
        shape: vec![voiced.len()],
        data: voiced.iter().map(|&i| golden.data[i]).collect(),
    };
    let a: Vec<f64> = voiced.iter().map(|&i| f0[i] as f64).collect();
    c.compare(kind, id, &a, &[a.len()], &g, Tol::Absolute(1e-2));
}

/// pooled180 by part: MFCC means and mel means relative, chroma means absolute.
fn check_pooled(c: &mut Checker, kind: &str, id: &str, actual: &FeatureMatrix, golden: &Npy) {
    if actual.rows != 180 || golden.shape != [180] {
        c.fail(format!(
            "{id}/{kind}: got {} values, golden shape {:?}",
            actual.rows, golden.shape
        ));
        return;
    }
    let a: Vec<f64> = actual.data.iter().map(|&v| v as f64).collect();
    for (part, range, tol) in [
        ("mfcc", 0..40, Tol::Relative),
        ("chroma", 40..52, Tol::Absolute(1e-4)),
        ("mel", 52..180, Tol::Relative),
    ] {
        let g = Npy {
            shape: vec![range.len()],
            data: golden.data[range.clone()].to_vec(),
        };
        c.compare(
            &format!("{kind}[{part}]"),
            id,
            &a[range.clone()],
            &[range.len()],
            &g,
            tol,
        );
    }
}

#[test]
fn decoded_inputs_match_the_manifest() {
    let m = manifest();
    for (id, entry) in inputs(&m) {
        let (y, _) = read_input(&entry);
        assert_eq!(
            y.len() as u64,
            entry["n_samples"].as_u64().unwrap(),
            "{id}: sample count"
        );
        if let Some(sum) = entry["sum_f64"].as_f64() {
            let ours: f64 = y.iter().map(|&v| v as f64).sum();
            assert!((ours - sum).abs() < 1e-9, "{id}: sum {ours} vs {sum}");
        }
    }
}

#[test]
fn every_golden_matches_librosa() {
    let m = manifest();
    let dir = fixtures_dir();
    let loaded: BTreeMap<String, Input> = inputs(&m)
        .into_iter()
        .map(|(id, entry)| {
            let (y, sr) = read_input(&entry);
            (id.clone(), Input { id, y, sr })
        })
        .collect();
    let mut c = Checker {
        worst: BTreeMap::new(),
        failures: Vec::new(),
    };
    let mut skipped = Vec::new();
    let goldens = m["goldens"].as_array().expect("goldens");
    for entry in goldens {
        let file = entry["file"].as_str().expect("file");
        let kind = file.rsplit('/').next().unwrap().trim_end_matches(".npy");
        let input_id = entry["input"].as_str().expect("input");
        let Some(inp) = loaded.get(input_id) else {
            c.fail(format!("{file}: input {input_id} not in manifest inputs"));
            continue;
        };
        if NOT_YET_IMPLEMENTED.contains(&kind) {
            skipped.push(file.to_string());
            continue;
        }
        let golden = read_npy(&dir.join(file));
        if !check_golden(&mut c, inp, kind, entry, &golden) {
            c.fail(format!(
                "{file}: golden kind `{kind}` has no check in this test"
            ));
        }
    }
    println!(
        "{:<34} {:>6} {:>12} {:>14}",
        "kind", "n", "max |diff|", "diff / bound"
    );
    for (kind, w) in &c.worst {
        println!(
            "{kind:<34} {:>6} {:>12.3e} {:>14.3e}",
            w.checked, w.max_abs, w.max_ratio
        );
    }
    println!("not yet implemented (reported, not checked): {skipped:?}");
    assert!(
        goldens.len() > 200,
        "manifest lists only {} goldens",
        goldens.len()
    );
    assert!(
        c.failures.is_empty(),
        "{} golden mismatches:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
}

#[test]
fn pooled180_set_on_librosa_load_waveform() {
    // The named set itself (22.05 kHz) on librosa.load's resampled waveform.
    let m = manifest();
    let (_, entry) = inputs(&m)
        .into_iter()
        .find(|(id, _)| id == "ravdess_a01_neutral_load22050")
        .unwrap();
    let (y, sr) = read_input(&entry);
    let cfg = FeatureConfig::named("pooled180").unwrap();
    assert_eq!(cfg.sample_rate as f64, sr);
    assert_eq!(cfg.kind, FeatureKind::PooledMeans);
    let out = Extractor::new(&cfg).unwrap().extract(&y).unwrap();
    let golden =
        read_npy(&fixtures_dir().join("golden/ravdess_a01_neutral_load22050/pooled180.npy"));
    let mut c = Checker {
        worst: BTreeMap::new(),
        failures: Vec::new(),
    };
    check_pooled(&mut c, "pooled180", "load22050", &out, &golden);
    assert!(c.failures.is_empty(), "{}", c.failures.join("\n"));
}
