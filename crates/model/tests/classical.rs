//! Classical models on separable and overlapping synthetic data.

use ser_model::classical::{ClassicalConfig, ClassicalModel};
use ser_model::rng::SplitMix64;

/// Gaussian-ish blobs around class-specific centres in `d` dimensions.
fn blobs(n: usize, d: usize, spread: f32, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = SplitMix64::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 4;
        let row = (0..d)
            .map(|k| {
                let centre = if k % 4 == class { 2.0 } else { 0.0 };
                centre + spread * (rng.unit() as f32 - 0.5)
            })
            .collect();
        x.push(row);
        y.push(class);
    }
    (x, y)
}

fn accuracy(model: &ClassicalModel, x: &[Vec<f32>], y: &[usize]) -> f64 {
    let hits = x
        .iter()
        .zip(y)
        .filter(|(xi, yi)| {
            let p = model.predict_proba(xi);
            let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            best == **yi
        })
        .count();
    hits as f64 / y.len() as f64
}

#[test]
fn every_classical_model_separates_blobs_and_gives_probabilities() {
    let (x, y) = blobs(120, 8, 2.0, 1);
    let (xt, yt) = blobs(60, 8, 2.0, 2);
    for name in ClassicalConfig::NAMES {
        let model = ClassicalConfig::from_name(name)
            .unwrap()
            .fit(&x, &y, 4, 3)
            .unwrap();
        let acc = accuracy(&model, &xt, &yt);
        assert!(acc > 0.85, "{name}: {acc}");
        let p = model.predict_proba(&xt[0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{name}: {p:?}");
        assert_eq!(model.dims(), (8, 4));
        let json = serde_json::to_string(&model).unwrap();
        let back: ClassicalModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.predict_proba(&xt[1]), model.predict_proba(&xt[1]));
    }
}

#[test]
fn forest_is_deterministic_for_a_seed() {
    let (x, y) = blobs(60, 6, 3.0, 4);
    let config = ClassicalConfig::from_name("random-forest").unwrap();
    let a = config.fit(&x, &y, 4, 9).unwrap();
    let b = config.fit(&x, &y, 4, 9).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_training_data_is_an_error() {
    let config = ClassicalConfig::from_name("svm-linear").unwrap();
    assert!(config.fit(&[], &[], 2, 0).is_err());
    assert!(
        config
            .fit(&[vec![1.0], vec![1.0, 2.0]], &[0, 1], 2, 0)
            .is_err()
    );
    assert!(config.fit(&[vec![1.0], vec![2.0]], &[0, 5], 2, 0).is_err());
}
