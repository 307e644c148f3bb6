//! The bundle format: round trips and refusal of broken files.

use std::collections::BTreeMap;
use std::path::Path;

use ser_model::bundle::{Bundle, BundleError, BundleMeta, FORMAT_VERSION, ModelSpec};
use ser_model::classical::ClassicalConfig;
use ser_model::input::{FeatureView, InputSpec, Normalisation};
use ser_model::nets::Cnn1dMfccConfig;
use ser_model::{Architecture, InputKind, Predictor, cpu_device, weights};

const ROWS: usize = 6;

fn small_arch() -> Architecture {
    Architecture::Cnn1dMfcc(Cnn1dMfccConfig {
        channels: vec![8, 8],
        dense: 8,
        ..Default::default()
    })
}

fn meta(model: ModelSpec, kind: InputKind) -> BundleMeta {
    BundleMeta {
        model,
        input: InputSpec {
            kind,
            features: ROWS,
            frames: (kind == InputKind::Frames).then_some(10),
        },
        features: None,
        labels: vec!["calm".into(), "angry".into(), "sad".into()],
        normalisation: Normalisation {
            mean: vec![0.5; ROWS],
            std: vec![2.0; ROWS],
        },
        members: 1,
        temperature: None,
        uncertain_below: None,
        provenance: BTreeMap::from([("seed".to_string(), "1".to_string())]),
        metrics: serde_json::json!({"ua": 0.5}),
    }
}

fn network_bundle() -> Bundle {
    let arch = small_arch();
    let net = arch.build(ROWS, 3, &cpu_device()).unwrap();
    Bundle {
        meta: meta(ModelSpec::Network(arch), InputKind::Frames),
        payload: weights::to_safetensors(&net, false),
    }
}

fn clip(cols: usize) -> Vec<f32> {
    (0..ROWS * cols).map(|i| (i as f32 * 0.37).sin()).collect()
}

#[test]
fn network_bundle_round_trips_with_identical_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.ser");
    let bundle = network_bundle();
    bundle.save(&path).unwrap();
    let loaded = Bundle::load(&path).unwrap();
    assert_eq!(loaded, bundle);
    let data = clip(23);
    let view = FeatureView::new(ROWS, 23, &data).unwrap();
    let before = Predictor::new(&bundle).unwrap().predict(view).unwrap();
    let after = Predictor::load(&path).unwrap().predict(view).unwrap();
    assert_eq!(before, after);
    assert!((before.iter().sum::<f32>() - 1.0).abs() < 1e-5);
}

#[test]
fn classical_bundle_round_trips() {
    let x: Vec<Vec<f32>> = (0..12).map(|i| vec![(i % 3) as f32; ROWS]).collect();
    let y: Vec<usize> = (0..12).map(|i| i % 3).collect();
    let config = ClassicalConfig::from_name("random-forest").unwrap();
    let model = config.fit(&x, &y, 3, 1).unwrap();
    let bundle = Bundle {
        meta: meta(ModelSpec::Classical(config), InputKind::Pooled),
        payload: serde_json::to_vec(&model).unwrap(),
    };
    let bytes = bundle.to_bytes().unwrap();
    let loaded = Bundle::from_bytes(&bytes, Path::new("rf.ser")).unwrap();
    let data = vec![2.0 * 2.0 + 0.5; ROWS]; // standardises to class 2's vector
    let view = FeatureView::new(ROWS, 1, &data).unwrap();
    let probs = Predictor::new(&loaded).unwrap().predict(view).unwrap();
    assert_eq!(probs.len(), 3);
    assert!(probs[2] > 0.9, "{probs:?}");
}

#[test]
fn predictions_batch_and_window_consistently() {
    let predictor = Predictor::new(&network_bundle()).unwrap();
    let (short, long) = (clip(7), clip(41));
    let views = [
        FeatureView::new(ROWS, 7, &short).unwrap(),
        FeatureView::new(ROWS, 41, &long).unwrap(),
    ];
    let batch = predictor.predict_batch(&views).unwrap();
    for (view, probs) in views.iter().zip(&batch) {
        let single = predictor.predict(*view).unwrap();
        for (a, b) in single.iter().zip(probs) {
            assert!((a - b).abs() < 1e-5);
        }
    }
    let wrong = clip(5);
    let err = predictor
        .predict(FeatureView::new(ROWS - 1, 6, &wrong[..(ROWS - 1) * 6]).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("expects 6 feature rows"), "{err}");
}

fn load_bytes(bytes: &[u8]) -> BundleError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ser");
    std::fs::write(&path, bytes).unwrap();
    let err = Bundle::load(&path).unwrap_err();
    assert!(
        err.to_string().contains("broken.ser"),
        "error must name the file: {err}"
    );
    err
}

#[test]
fn broken_bundles_are_refused_with_the_file_named() {
    let good = network_bundle().to_bytes().unwrap();

    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        load_bytes(&bad_magic),
        BundleError::NotABundle { .. }
    ));
    assert!(matches!(load_bytes(b"SER"), BundleError::NotABundle { .. }));

    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(load_bytes(&newer), BundleError::Version { .. }));

    let truncated = &good[..good.len() - 10];
    assert!(matches!(
        load_bytes(truncated),
        BundleError::Truncated { .. }
    ));
    assert!(matches!(
        load_bytes(&good[..20]),
        BundleError::Truncated { .. }
    ));

    let mut bad_json = good.clone();
    bad_json[28] = b'#';
    assert!(matches!(load_bytes(&bad_json), BundleError::Json { .. }));

    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        load_bytes(&trailing),
        BundleError::Inconsistent { .. }
    ));
}

#[test]
fn weights_of_another_shape_are_refused() {
    let mut bundle = network_bundle();
    let other = Architecture::Cnn1dMfcc(Cnn1dMfccConfig {
        channels: vec![8, 4],
        dense: 8,
        ..Default::default()
    });
    let net = other.build(ROWS, 3, &cpu_device()).unwrap();
    bundle.payload = weights::to_safetensors(&net, false);
    let err = load_bytes(&bundle.to_bytes().unwrap());
    assert!(matches!(err, BundleError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("shape"), "{err}");

    bundle.payload = b"not safetensors".to_vec();
    assert!(matches!(
        load_bytes(&bundle.to_bytes().unwrap()),
        BundleError::Weights { .. }
    ));

    let mut bundle = network_bundle();
    bundle.meta.labels.push("extra".into());
    assert!(matches!(
        load_bytes(&bundle.to_bytes().unwrap()),
        BundleError::Weights { .. }
    ));
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = Bundle::load("/nonexistent/model.ser").unwrap_err();
    assert!(matches!(err, BundleError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/model.ser"));
}

#[test]
fn model_specs_parse_by_name_and_round_trip() {
    for name in ModelSpec::all_names() {
        let spec: ModelSpec = name.parse().unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["name"], name);
        let back: ModelSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }
    let err = "svm-poly".parse::<ModelSpec>().unwrap_err();
    assert!(err.to_string().contains("svm-rbf"), "{err}");
}

#[test]
fn an_ensemble_averages_its_members_and_round_trips() {
    let members = [network_bundle(), network_bundle()];
    assert_ne!(
        members[0].payload, members[1].payload,
        "members need distinct weights"
    );
    let ensemble = Bundle::ensemble(&members).unwrap();
    assert_eq!(ensemble.meta.members, 2);
    let bytes = ensemble.to_bytes().unwrap();
    assert_eq!(
        bytes[8..12],
        2u32.to_le_bytes(),
        "ensembles are format version 2"
    );
    assert_eq!(
        members[0].to_bytes().unwrap()[8..12],
        1u32.to_le_bytes(),
        "single models stay readable by version-1 builds"
    );
    let loaded = Bundle::from_bytes(&bytes, Path::new("ensemble.ser")).unwrap();
    assert_eq!(loaded, ensemble);

    let data = clip(19);
    let view = FeatureView::new(ROWS, 19, &data).unwrap();
    let averaged = Predictor::new(&loaded).unwrap().predict(view).unwrap();
    let each: Vec<Vec<f32>> = members
        .iter()
        .map(|m| Predictor::new(m).unwrap().predict(view).unwrap())
        .collect();
    for (c, p) in averaged.iter().enumerate() {
        let mean = (each[0][c] + each[1][c]) / 2.0;
        assert!((p - mean).abs() < 1e-5, "class {c}: {p} vs {mean}");
    }
}

#[test]
fn ensembles_of_different_recipes_or_wrong_counts_are_refused() {
    let mut other = network_bundle();
    other.meta.labels.reverse();
    let err = Bundle::ensemble(&[network_bundle(), other]).unwrap_err();
    assert!(err.to_string().contains("member 1 differs"), "{err}");
    assert!(Bundle::ensemble(&[]).is_err());

    let mut ensemble = Bundle::ensemble(&[network_bundle(), network_bundle()]).unwrap();
    ensemble.meta.members = 3;
    let err = load_bytes(&ensemble.to_bytes().unwrap());
    assert!(
        err.to_string().contains("m2."),
        "names the missing member: {err}"
    );
    ensemble.meta.members = 1;
    let err = load_bytes(&ensemble.to_bytes().unwrap());
    assert!(
        err.to_string().contains("lack [\"Cnn1dMfcc."),
        "a single model finds none of its unprefixed weights: {err}"
    );
}

/// Every single-byte corruption and every truncation of an ensemble bundle is either refused
/// with an error or still loads (bytes inside float weights), never a panic.
#[test]
fn corrupted_ensemble_bytes_are_errors_not_panics() {
    let bytes = Bundle::ensemble(&[network_bundle(), network_bundle()])
        .unwrap()
        .to_bytes()
        .unwrap();
    let header_and_json = 28 + u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
    let path = Path::new("fuzzed.ser");
    // The header and JSON byte by byte; the weights (mostly floats) at a stride.
    let positions = (0..header_and_json).chain((header_and_json..bytes.len()).step_by(97));
    for i in positions {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut broken = bytes.clone();
            broken[i] ^= flip;
            if let Ok(bundle) = Bundle::from_bytes(&broken, path) {
                Predictor::new(&bundle).unwrap();
            }
        }
    }
    for len in (0..bytes.len()).step_by(61) {
        assert!(
            Bundle::from_bytes(&bytes[..len], path).is_err(),
            "truncated to {len}"
        );
    }
}

#[test]
fn configurations_burn_would_panic_on_are_refused() {
    for json in [
        r#"{"name": "cnn4", "dropout": 1.3}"#,
        r#"{"name": "mlp", "dropout": -0.1}"#,
        r#"{"name": "cnn1d-mfcc", "kernel": 0}"#,
        r#"{"name": "transformer", "layers": 100000}"#,
        r#"{"name": "resnet9", "width": 0}"#,
    ] {
        let arch: Architecture = serde_json::from_str(json).unwrap();
        let err = arch.build(ROWS, 3, &cpu_device()).unwrap_err();
        assert!(err.to_string().contains("outside"), "{json}: {err}");
    }
}

#[test]
fn a_model_setting_changes_one_field_and_refuses_unknown_ones() {
    let cnn4 = ModelSpec::from_name("cnn4").unwrap();
    let wider = cnn4
        .with_setting("channels", "[96,96,192,192]")
        .unwrap()
        .with_setting("pooling", "mean-std")
        .unwrap();
    let json = serde_json::to_value(&wider).unwrap();
    assert_eq!(json["channels"], serde_json::json!([96, 96, 192, 192]));
    assert_eq!(json["pooling"], "mean-std");
    assert_eq!(json["kernel"], 3);
    let forest = ModelSpec::from_name("random-forest").unwrap();
    assert!(forest.with_setting("trees", "10").is_ok());
    for (key, value, says) in [
        ("kernal", "5", "unknown field `kernal`"),
        ("kernel", "five", "invalid type"),
        ("name", "mlp", "chosen by its name"),
    ] {
        let err = cnn4.with_setting(key, value).unwrap_err().to_string();
        assert!(err.contains(says) && err.contains("cnn4"), "{err}");
    }
}

#[test]
fn blending_weights_moves_the_average_toward_the_latest() {
    let (arch, device) = (small_arch(), cpu_device());
    let build = || arch.build(ROWS, 3, &device).unwrap();
    // Two fresh builds draw different initial weights.
    let (a, b) = (
        weights::to_safetensors(&build(), false),
        weights::to_safetensors(&build(), false),
    );
    assert_ne!(a, b);
    let reload = |bytes: &[u8]| {
        let net = weights::load_safetensors(build(), bytes).unwrap();
        weights::to_safetensors(&net, false)
    };
    assert_eq!(reload(&weights::blend(&a, &b, 1.0).unwrap()), a);
    assert_eq!(reload(&weights::blend(&a, &b, 0.0).unwrap()), b);
    let half = reload(&weights::blend(&a, &b, 0.5).unwrap());
    assert!(half != a && half != b);
    let other = Architecture::from_name("mlp")
        .unwrap()
        .build(ROWS, 3, &device)
        .unwrap();
    let other = weights::to_safetensors(&other, false);
    assert!(weights::blend(&a, &other, 0.5).is_err());
}
