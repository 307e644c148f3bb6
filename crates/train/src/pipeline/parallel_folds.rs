use std::path::PathBuf;

use ser_corpus::{Clip, Dataset, SplitOptions};
use ser_features::{FeatureConfig, FeatureMatrix};
use ser_model::bundle::ModelSpec;

use super::*;
use crate::fit::FitConfig;
use ser_corpus::Corpus;
use ser_model::nets::Cnn4Config;

/// Ten speakers, six clips each; class c raises rows 2c and 2c+1 of an 8 x 20 matrix.
fn corpus() -> (Dataset, Featurised) {
    let mut rng = ser_model::rng::SplitMix64::new(3);
    let emotions = ["happy", "sad", "angry"];
    let (mut clips, mut matrices) = (Vec::new(), Vec::new());
    for speaker in 1..=10 {
        for k in 0..6 {
            let class = k % 3;
            let name = format!("{speaker}-{k}");
            clips.push(Clip {
                path: PathBuf::from(&name),
                speaker: speaker.to_string(),
                emotion: emotions[class].to_string(),
                recording_id: name,
                corpus: Corpus::Folders,
                extra: Default::default(),
            });
            let data = (0..8 * 20)
                .map(|i| f32::from(u8::from(i / 20 / 2 == class)) + rng.unit() as f32)
                .collect();
            matrices.push(Some(FeatureMatrix {
                rows: 8,
                cols: 20,
                data,
            }));
        }
    }
    let featurised = Featurised {
        augmented: vec![Vec::new(); matrices.len()],
        matrices,
        failures: Vec::new(),
        channel_simulation: false,
        alone: Vec::new(),
        train_alone: false,
    };
    (Dataset::new("d", clips), featurised)
}

/// Folds side by side give the figures of folds one after another.
#[test]
fn folds_side_by_side_score_as_folds_in_turn() {
    let (dataset, featurised) = corpus();
    let arch = ser_model::Architecture::Cnn4(Cnn4Config {
        channels: vec![8, 8, 8, 8],
        ..Default::default()
    });
    let mut fit = FitConfig::new(ModelSpec::Network(arch));
    fit.frames = 16;
    fit.epochs = 2;
    fit.batch_size = 8;
    let experiment = Experiment {
        features: FeatureConfig::named("logmel64-frames").unwrap(),
        fit,
        protocol: "speaker-mod:5".parse().unwrap(),
        split: SplitOptions::default(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let run = |jobs| {
        let plan = FoldPlan {
            jobs,
            ..Default::default()
        };
        let outcome = pool
            .install(|| cross_validate(&dataset, &featurised, &experiment, &plan, |_| {}).unwrap());
        let CrossValidation::Report(report) = outcome else {
            panic!("every fold ran")
        };
        report
            .folds
            .iter()
            .map(|f| (f.fold, f.metrics.ua, f.metrics.wa))
            .collect::<Vec<_>>()
    };
    let in_turn = run(1);
    assert_eq!(in_turn.len(), 5);
    assert_eq!(run(2), in_turn);
}
