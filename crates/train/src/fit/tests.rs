//! Fit tests on tiny synthetic problems (each a second or two on one core).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ser_model::bundle::ModelSpec;
use ser_model::nets::*;
use ser_model::{Architecture, InputKind, Predictor};

use super::*;

const ROWS: usize = 8;
const CLASSES: usize = 3;

fn labels() -> Vec<String> {
    ["a", "b", "c"].map(String::from).to_vec()
}

/// Class c raises feature rows 2c and 2c+1; `cols` frames per sample (varying a little).
fn synthetic(n: usize, cols: usize, seed: u64) -> TrainData {
    let mut rng = ser_model::rng::SplitMix64::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % CLASSES;
        let t = cols + rng.below(3);
        let sample = (0..ROWS * t)
            .map(|k| {
                let row = k / t;
                let signal = if row / 2 == class { 1.5 } else { 0.0 };
                signal + rng.unit() as f32 - 0.5
            })
            .collect();
        x.push(sample);
        y.push(class);
    }
    TrainData::new(ROWS, x, y).unwrap()
}

/// Small versions of every architecture, so that tests stay fast.
fn tiny(name: &str) -> Architecture {
    match name {
        "cnn1d-pooled" => Architecture::Cnn1dPooled(Cnn1dPooledConfig {
            channels: vec![8, 8, 16, 16],
            kernel: 3,
            dropout_conv: 0.0,
            dropout_dense: 0.1,
        }),
        "cnn1d-mfcc" => Architecture::Cnn1dMfcc(Cnn1dMfccConfig {
            channels: vec![16, 8, 8],
            dense: 8,
            ..Default::default()
        }),
        "cnn-tm" => Architecture::CnnTm(CnnTmConfig {
            channels: vec![4, 4, 8],
            d_model: 16,
            heads: 2,
            layers: 1,
            d_ff: 16,
            dropout: 0.1,
            ..Default::default()
        }),
        "mlp" => Architecture::Mlp(MlpConfig {
            hidden: vec![16, 16],
            dropout: 0.0,
        }),
        "lstm" => Architecture::Lstm(RnnConfig {
            hidden: 12,
            layers: 1,
            dropout: 0.0,
        }),
        "bigru" => Architecture::Bigru(RnnConfig {
            hidden: 8,
            layers: 2,
            dropout: 0.0,
        }),
        "cnn4" => Architecture::Cnn4(Cnn4Config {
            channels: vec![8, 8, 8, 8],
            ..Default::default()
        }),
        "resnet9" => Architecture::Resnet9(Resnet9Config {
            width: 4,
            dropout: 0.0,
        }),
        "transformer" => Architecture::Transformer(TransformerConfig {
            d_model: 16,
            heads: 2,
            layers: 1,
            d_ff: 16,
            dropout: 0.0,
        }),
        other => panic!("no tiny {other}"),
    }
}

fn config(arch: Architecture, epochs: usize) -> FitConfig {
    let mut cfg = FitConfig::new(ModelSpec::Network(arch));
    cfg.frames = 16;
    cfg.epochs = epochs;
    cfg.batch_size = 8;
    cfg.lr = 5e-3;
    cfg.schedule = Schedule::Constant;
    cfg.patience = None;
    cfg.seed = 7;
    cfg
}

/// A ±10 % frequency warp over `bands` bands a third of an octave apart.
fn warp_over(bands: usize) -> FreqWarp {
    FreqWarp {
        max: 0.1,
        band_hz: (0..bands).map(|k| 100.0 * 1.26f64.powi(k as i32)).collect(),
    }
}

fn data_for(arch: &Architecture) -> (TrainData, TrainData) {
    let cols = if arch.input_kind() == InputKind::Pooled {
        1
    } else {
        18
    };
    (synthetic(24, cols, 1), synthetic(9, cols, 2))
}

#[test]
fn every_network_reduces_its_loss() {
    for name in Architecture::NAMES {
        let arch = tiny(name);
        let (train, val) = data_for(&arch);
        let out = fit(&config(arch, 10), &train, &val, &labels(), |_| {}).unwrap();
        let first = out.reports[0].train_loss;
        let last = out.reports.last().unwrap().train_loss;
        println!("{name}: loss {first:.3} -> {last:.3}");
        assert!(last < 0.8 * first, "{name}: loss {first} -> {last}");
        assert_eq!(out.history.epochs.len(), 10);
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let arch = tiny("cnn1d-mfcc");
    let (train, val) = data_for(&arch);
    let mut cfg = config(arch, 2);
    cfg.spec_augment = Some(SpecAugment::default());
    cfg.freq_warp = Some(warp_over(ROWS));
    cfg.mixup = Some(0.4);
    let a = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    let b = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert_eq!(a.bundle.payload, b.bundle.payload);
    cfg.seed += 1;
    let c = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert_ne!(a.bundle.payload, c.bundle.payload);
}

#[test]
fn resume_continues_exactly_where_a_run_stopped() {
    let arch = tiny("cnn4");
    let (train, val) = data_for(&arch);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(arch, 4);
    cfg.schedule = Schedule::Cosine {
        warmup_epochs: 1,
        min_lr: 1e-4,
    };
    cfg.class_balanced = true;
    cfg.label_smoothing = 0.1;
    cfg.weight_average = Some(0.5);
    let whole = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();

    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    cfg.resume = true;
    let stop = Arc::new(AtomicBool::new(false));
    cfg.stop = Some(stop.clone());
    let part = fit(&cfg, &train, &val, &labels(), |r| {
        if r.epoch == 2 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert_eq!(part.reports.len(), 2);
    assert!(dir.path().join("last.ser").exists() && dir.path().join("best.ser").exists());
    assert!(dir.path().join("average.safetensors").exists());

    cfg.stop = None;
    let mut epochs_seen = Vec::new();
    let resumed = fit(&cfg, &train, &val, &labels(), |r| epochs_seen.push(r.epoch)).unwrap();
    assert_eq!(epochs_seen, vec![3, 4]);
    assert_eq!(resumed.reports.len(), 4);
    assert_eq!(resumed.bundle.payload, whole.bundle.payload);
    let losses = |o: &FitOutcome| o.reports.iter().map(|r| r.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&resumed), losses(&whole));
    // The average is what was validated and kept: the same training without it keeps
    // other weights.
    let mut plain = cfg.clone();
    (plain.weight_average, plain.checkpoint_dir) = (None, None);
    let plain = fit(&plain, &train, &val, &labels(), |_| {}).unwrap();
    assert_eq!(losses(&plain), losses(&whole));
    assert_ne!(plain.bundle.payload, whole.bundle.payload);
}

#[test]
fn resume_refuses_a_checkpoint_of_another_run() {
    let arch = tiny("mlp");
    let (train, val) = data_for(&arch);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(arch, 1);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    cfg.resume = true;
    fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    cfg.seed += 1;
    let err = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap_err();
    assert!(matches!(err, FitError::Checkpoint { .. }), "{err}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let arch = tiny("mlp");
    let (train, mut val) = data_for(&arch);
    // Validation labels unrelated to the features: validation stops improving quickly.
    val.y.rotate_left(1);
    let mut cfg = config(arch, 30);
    cfg.patience = Some(2);
    let out = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert!(out.stopped_early, "ran {} epochs", out.reports.len());
    let best = out.history.best_epoch.unwrap();
    assert_eq!(out.reports.len(), best + 3);
    assert!(out.reports[best - 1].best);
}

#[test]
fn keep_last_returns_the_final_epoch_even_when_validation_peaked_earlier() {
    let arch = tiny("mlp");
    let (train, mut val) = data_for(&arch);
    val.y.rotate_left(1);
    let mut cfg = config(arch, 6);
    cfg.patience = None;
    cfg.keep_last = true;
    let out = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert_eq!(out.reports.len(), 6);
    assert_eq!(out.history.best_epoch, Some(6));
    let predictor = Predictor::new(&out.bundle).unwrap();
    let scores = validate::score(&predictor, &val, CLASSES).unwrap();
    assert_eq!(
        Some(scores.ua),
        out.reports[5].val_ua,
        "the last epoch's weights"
    );
    cfg.patience = Some(2);
    assert!(fit(&cfg, &train, &val, &labels(), |_| {}).is_err());
}

#[test]
fn resuming_a_run_that_stopped_early_trains_no_further() {
    let arch = tiny("mlp");
    let (train, mut val) = data_for(&arch);
    val.y.rotate_left(1);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(arch, 30);
    cfg.patience = Some(2);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    cfg.resume = true;
    let first = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert!(first.stopped_early);

    let mut epochs_seen = Vec::new();
    let again = fit(&cfg, &train, &val, &labels(), |r| epochs_seen.push(r.epoch)).unwrap();
    assert_eq!(epochs_seen, Vec::<usize>::new());
    assert!(again.stopped_early);
    assert_eq!(again.reports.len(), first.reports.len());
    assert_eq!(again.bundle.payload, first.bundle.payload);
}

#[test]
fn fitted_bundle_predicts_validation_like_the_loop_scored_it() {
    let arch = tiny("cnn1d-mfcc");
    let (train, val) = data_for(&arch);
    let out = fit(&config(arch, 10), &train, &val, &labels(), |_| {}).unwrap();
    let bytes = out.bundle.to_bytes().unwrap();
    let bundle = ser_model::Bundle::from_bytes(&bytes, std::path::Path::new("mem")).unwrap();
    let predictor = Predictor::new(&bundle).unwrap();
    let scores = validate::score(&predictor, &val, CLASSES).unwrap();
    let best = out.history.best_epoch.unwrap();
    assert_eq!(Some(scores.ua), out.reports[best - 1].val_ua);
    assert!(scores.ua > 0.9, "val UA {}", scores.ua);
}

#[test]
fn classical_models_fit_through_the_same_api() {
    let (train, val) = (synthetic(30, 5, 1), synthetic(12, 5, 2));
    for name in ["svm-linear", "svm-rbf", "random-forest"] {
        let cfg = FitConfig::new(name.parse().unwrap());
        let out = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
        let ua = out.reports[0].val_ua.unwrap();
        assert!(ua > 0.9, "{name}: val UA {ua}");
    }
}

#[test]
fn bad_inputs_are_errors() {
    let arch = tiny("mlp");
    let (train, val) = data_for(&arch);
    let two = ["a", "b"].map(String::from);
    assert!(matches!(
        fit(&config(arch.clone(), 1), &train, &val, &two, |_| {}),
        Err(FitError::BadData(_))
    ));
    assert!(TrainData::new(3, vec![vec![1.0; 4]], vec![0]).is_err());
    assert!(TrainData::new(2, vec![vec![f32::NAN; 4]], vec![0]).is_err());
    let mut cfg = config(tiny("cnn4"), 1);
    cfg.frames = 4;
    assert!(matches!(
        fit(&cfg, &train, &val, &labels(), |_| {}),
        Err(FitError::BadConfig(_))
    ));
    let mut cfg = config(tiny("cnn4"), 1);
    cfg.freq_warp = Some(warp_over(ROWS + 1));
    let refused = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap_err();
    assert!(refused.to_string().contains("9 bands"), "{refused}");
}

#[test]
fn a_stop_mid_epoch_neither_counts_nor_checkpoints_that_epoch() {
    let arch = tiny("mlp");
    let (train, val) = data_for(&arch);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(arch, 3);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    cfg.stop = Some(Arc::new(AtomicBool::new(true)));
    let out = fit(&cfg, &train, &val, &labels(), |_| {
        panic!("no epoch completes")
    })
    .unwrap();
    assert!(out.reports.is_empty());
    assert!(!dir.path().join("state.json").exists());
    assert!(ser_model::Bundle::from_bytes(&out.bundle.to_bytes().unwrap(), dir.path()).is_ok());
}

/// Members trained side by side, each on one thread, are the members trained one after
/// another on two threads: dropout masks and initial weights depend on the seed alone. A
/// network with burn's transformer inside (cnn-tm) trains one member at a time to get there.
#[test]
fn ensemble_members_side_by_side_are_the_members_in_turn() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for name in ["cnn1d-mfcc", "cnn-tm"] {
        let arch = tiny(name);
        let (train, val) = data_for(&arch);
        let mut cfg = config(arch, 2);
        cfg.members = 3;
        cfg.spec_augment = Some(SpecAugment::default());
        let mut fit_with = |jobs| {
            cfg.jobs = jobs;
            let out = pool.install(|| fit(&cfg, &train, &val, &labels(), |_| {}).unwrap());
            out.members
                .into_iter()
                .map(|m| m.payload)
                .collect::<Vec<_>>()
        };
        let in_turn = fit_with(1);
        let side_by_side = fit_with(2);
        assert_eq!(in_turn.len(), 3);
        assert!(in_turn == side_by_side, "{name}: members differ");
    }
}

#[test]
fn an_ensemble_is_its_seeds_trained_alone_and_averaged() {
    let arch = tiny("cnn1d-mfcc");
    let (train, val) = data_for(&arch);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(arch, 2);
    cfg.members = 2;
    cfg.jobs = 1;
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    let mut seen = Vec::new();
    let out = fit(&cfg, &train, &val, &labels(), |r| {
        seen.push((r.member, r.epoch))
    })
    .unwrap();
    assert_eq!(seen, [(0, 1), (0, 2), (1, 1), (1, 2)]);
    assert_eq!(out.bundle.meta.members, 2);
    assert_eq!(out.bundle.meta.provenance["seed"], "7..=8");
    assert!(dir.path().join("member-1").is_dir());

    // Member k is exactly the single model of seed 7 + k.
    let mut single = config(tiny("cnn1d-mfcc"), 2);
    single.seed = 8;
    let alone = fit(&single, &train, &val, &labels(), |_| {}).unwrap();
    assert_eq!(out.members[1].payload, alone.bundle.payload);

    let ensemble = Predictor::new(&out.bundle).unwrap();
    let each: Vec<Predictor> = out
        .members
        .iter()
        .map(|m| Predictor::new(m).unwrap())
        .collect();
    let probs = ensemble.predict(val.view(0)).unwrap();
    for (c, p) in probs.iter().enumerate() {
        let mean = each
            .iter()
            .map(|m| m.predict(val.view(0)).unwrap()[c])
            .sum::<f32>()
            / 2.0;
        assert!((p - mean).abs() < 1e-5);
    }

    let mut classical = FitConfig::new(ModelSpec::from_name("random-forest").unwrap());
    classical.members = 3;
    let pooled = synthetic(12, 1, 3);
    assert!(matches!(
        fit(&classical, &pooled, &pooled, &labels(), |_| {}),
        Err(FitError::BadConfig(_))
    ));
}

/// Two "sentences" per class, alternating over samples.
fn with_sentences(data: TrainData) -> TrainData {
    let keys: Vec<(String, String)> = data
        .y
        .iter()
        .enumerate()
        .map(|(i, y)| (format!("class {y}"), format!("sentence {}", i % 2)))
        .collect();
    let nuisance = Nuisance::from_keys(keys.iter().map(|(g, c)| Some((&g[..], &c[..]))));
    data.with_nuisance(nuisance).unwrap()
}

#[test]
fn an_adversary_changes_training_deterministically_and_emotions_are_still_learned() {
    let arch = tiny("cnn4");
    let (train, val) = data_for(&arch);
    let train = with_sentences(train);
    let plain_cfg = config(arch, 10);
    let mut cfg = plain_cfg.clone();
    cfg.adversary = Some(Adversary {
        target: NuisanceKind::Sentence,
        weight: 1.0,
    });
    let a = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    let b = fit(&cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert_eq!(a.bundle.payload, b.bundle.payload);
    let plain = fit(&plain_cfg, &train, &val, &labels(), |_| {}).unwrap();
    assert_ne!(a.bundle.payload, plain.bundle.payload);
    let first = a.reports[0].train_loss;
    let last = a.reports.last().unwrap().train_loss;
    assert!(last < 0.8 * first, "loss {first} -> {last}");
}

#[test]
fn an_adversary_needs_an_embedding_nuisance_labels_and_no_mixup() {
    let adversary = Some(Adversary {
        target: NuisanceKind::Speaker,
        weight: 0.3,
    });
    let refused = |cfg: &FitConfig, train: &TrainData, val: &TrainData| {
        matches!(
            fit(cfg, train, val, &labels(), |_| {}),
            Err(FitError::BadConfig(_))
        )
    };
    let mlp = tiny("mlp");
    let (train, val) = data_for(&mlp);
    let mut cfg = config(mlp, 1);
    cfg.adversary = adversary;
    assert!(refused(&cfg, &with_sentences(train), &val));

    let cnn = tiny("cnn4");
    let (train, val) = data_for(&cnn);
    let mut cfg = config(cnn, 1);
    cfg.adversary = adversary;
    assert!(refused(&cfg, &train, &val), "no nuisance labels");
    let train = with_sentences(train);
    cfg.mixup = Some(0.4);
    assert!(refused(&cfg, &train, &val), "mixup");
    cfg.mixup = None;
    assert!(fit(&cfg, &train, &val, &labels(), |_| {}).is_ok());
}
