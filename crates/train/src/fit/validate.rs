//! Validation scores through the inference path, and fitting classical models.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use ser_model::bundle::{Bundle, BundleMeta};
use ser_model::classical::ClassicalConfig;
use ser_model::input::{InputSpec, Normalisation};
use ser_model::{InputKind, Predictor};

use super::data::{Prepared, TrainData};
use super::{EpochReport, FitConfig, FitError, FitOutcome};
use crate::history::TrainingHistory;

/// Validation loss, UA and accuracy.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Scores {
    pub loss: f64,
    pub ua: f64,
    pub acc: f64,
}

impl Scores {
    /// Selection order: higher UA, then lower loss.
    pub fn better_than(&self, other: &Scores) -> bool {
        self.ua > other.ua || (self.ua == other.ua && self.loss < other.loss)
    }
}

/// Scores `predictor` on `val` (raw features: the predictor normalises, windows and pools
/// exactly as at deployment).
pub(crate) fn score(predictor: &Predictor, val: &TrainData, classes: usize) -> Option<Scores> {
    if val.is_empty() {
        return None;
    }
    let views: Vec<_> = (0..val.len()).map(|i| val.view(i)).collect();
    let mut probs = Vec::with_capacity(views.len());
    for chunk in views.chunks(64) {
        probs.extend(predictor.predict_batch(chunk).ok()?);
    }
    Some(scores_from_probs(&probs, &val.y, classes))
}

pub(crate) fn scores_from_probs(probs: &[Vec<f32>], y: &[usize], classes: usize) -> Scores {
    let mut hits = vec![0usize; classes];
    let mut support = vec![0usize; classes];
    let mut loss = 0f64;
    for (p, &label) in probs.iter().zip(y) {
        loss -= (p[label].max(1e-7) as f64).ln();
        support[label] += 1;
        hits[label] += usize::from(argmax(p) == label);
    }
    let present: Vec<usize> = (0..classes).filter(|&c| support[c] > 0).collect();
    let ua = present
        .iter()
        .map(|&c| hits[c] as f64 / support[c] as f64)
        .sum::<f64>()
        / present.len().max(1) as f64;
    let n = y.len().max(1) as f64;
    Scores {
        loss: loss / n,
        ua,
        acc: hits.iter().sum::<usize>() as f64 / n,
    }
}

pub(crate) fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// The bundle description of a run's model (features, provenance and metrics left for the
/// caller, except the seed).
pub(crate) fn bundle_meta(
    cfg: &FitConfig,
    kind: InputKind,
    rows: usize,
    norm: Normalisation,
    labels: &[String],
) -> BundleMeta {
    let frames = (kind == InputKind::Frames).then_some(cfg.frames);
    BundleMeta {
        model: cfg.model.clone(),
        input: InputSpec {
            kind,
            features: rows,
            frames,
        },
        features: None,
        labels: labels.to_vec(),
        normalisation: norm,
        members: 1,
        temperature: None,
        uncertain_below: None,
        provenance: BTreeMap::from([("seed".to_string(), cfg.seed.to_string())]),
        metrics: serde_json::Value::Null,
    }
}

/// Fits a classical model in one "epoch" on standardised pooled vectors.
pub(crate) fn fit_classical(
    cfg: &FitConfig,
    model: &ClassicalConfig,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<FitOutcome, FitError> {
    let started = Instant::now();
    let data = Prepared::new(train, InputKind::Pooled, 1);
    let fitted = model.fit(&data.samples, &data.y, labels.len(), cfg.seed)?;
    let payload = serde_json::to_vec(&fitted).map_err(|e| FitError::BadConfig(e.to_string()))?;
    let meta = bundle_meta(
        cfg,
        InputKind::Pooled,
        train.rows,
        data.norm.clone(),
        labels,
    );
    let bundle = Bundle { meta, payload };
    let predictor = Predictor::with_device(&bundle, ser_model::cpu_device(), Path::new("<fit>"))?;
    let train_probs: Vec<Vec<f32>> = (0..train.len())
        .map(|i| predictor.predict(train.view(i)).unwrap_or_default())
        .collect();
    let train_scores = scores_from_probs(&train_probs, &train.y, labels.len());
    let val_scores = score(&predictor, val, labels.len());
    let report = EpochReport {
        epoch: 1,
        epochs: 1,
        train_loss: train_scores.loss,
        train_acc: train_scores.acc,
        val_loss: val_scores.map(|s| s.loss),
        val_ua: val_scores.map(|s| s.ua),
        val_acc: val_scores.map(|s| s.acc),
        lr: 0.0,
        seconds: started.elapsed().as_secs_f64(),
        best: true,
        member: 0,
        members: 1,
    };
    on_epoch(&report);
    let history = TrainingHistory {
        epochs: vec![(&report).into()],
        best_epoch: Some(1),
    };
    Ok(FitOutcome {
        bundle,
        members: Vec::new(),
        history,
        reports: vec![report],
        stopped_early: false,
    })
}
