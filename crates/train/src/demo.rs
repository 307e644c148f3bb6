//! Deterministic synthetic evaluations shaped like RAVDESS (8 emotions, 24 actors, 1440 clips,
//! 5 speaker folds), for examples, UI development and tests. The numbers are invented: plausible
//! confusions (sad↔neutral↔calm, happy↔surprised, ...), speaker effects and learning curves,
//! but no model produced them, and every report says so in its provenance.

use std::collections::BTreeMap;

use crate::history::{EpochRecord, TrainingHistory};
use crate::metrics::EvalInput;
use crate::report::{
    DatasetInfo, EvalReport, FoldReport, ModelInfo, Protocol, ReportError, Timing,
};

/// RAVDESS emotion labels in corpus order.
pub const RAVDESS_LABELS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

const ACTORS: usize = 24;
const FOLDS: usize = 5;
/// How often each emotion is recognised by a model of skill 0.7.
const BASE_RECALL: [f64; 8] = [0.58, 0.74, 0.62, 0.52, 0.84, 0.66, 0.70, 0.76];
/// The two classes each emotion is most often mistaken for.
const CONFUSERS: [[usize; 2]; 8] = [
    [1, 3], // neutral -> calm, sad
    [0, 3], // calm -> neutral, sad
    [7, 5], // happy -> surprised, fearful
    [0, 1], // sad -> neutral, calm
    [6, 2], // angry -> disgust, happy
    [3, 7], // fearful -> sad, surprised
    [4, 3], // disgust -> angry, sad
    [2, 5], // surprised -> happy, fearful
];

/// A synthetic 5-fold speaker-independent evaluation. `skill` shifts every class's recall
/// (0.7 gives about 68% UA); `with_history` adds per-fold learning curves as a network would have.
pub fn ravdess_evaluation(
    model: ModelInfo,
    skill: f64,
    with_history: bool,
    seed: u64,
) -> Result<EvalReport, ReportError> {
    let mut rng = SplitMix(seed);
    let speaker_offsets: Vec<f64> = (0..ACTORS).map(|_| rng.normal() * 0.07).collect();
    // Bigger networks take longer per epoch.
    let epoch_seconds = 0.8 + model.parameters.unwrap_or(0) as f64 / 400_000.0;
    let labels: Vec<String> = RAVDESS_LABELS.iter().map(|s| s.to_string()).collect();
    let mut folds = Vec::with_capacity(FOLDS);
    for fold in 0..FOLDS {
        let actors: Vec<usize> = (0..ACTORS).filter(|a| a % FOLDS == fold).collect();
        let clips = fold_clips(&actors, &speaker_offsets, skill, &mut rng);
        let metrics = EvalInput::new(&clips.y_true, &clips.y_pred, &labels)
            .with_speakers(&clips.speakers)
            .with_probabilities(&clips.probabilities)
            .evaluate()?;
        let history = with_history.then(|| history(fold, metrics.ua, epoch_seconds, &mut rng));
        folds.push(FoldReport {
            fold,
            test_speakers: actors.iter().map(|&a| actor_id(a)).collect(),
            metrics,
            by_group: Default::default(),
            calibration: None,
            unseen_corpus: None,
            history,
        });
    }
    let mut report = EvalReport::new(model, dataset(), protocol(), folds)?;
    report.timing = timing(&report, &mut rng);
    report.provenance = provenance(seed);
    Ok(report)
}

fn dataset() -> DatasetInfo {
    DatasetInfo {
        name: "RAVDESS speech (synthetic demo)".into(),
        description: "1440 clips from 24 actors (12 female, 12 male), 8 emotions, 16 kHz mono."
            .into(),
        clips: Some(1440),
        speakers: Some(ACTORS),
    }
}

fn protocol() -> Protocol {
    Protocol {
        id: format!("speaker-kfold:{FOLDS}"),
        description: format!(
            "{FOLDS}-fold cross-validation by actor: no speaker is in both training and test data."
        ),
    }
}

fn timing(report: &EvalReport, rng: &mut SplitMix) -> Timing {
    let history_seconds: f64 = report
        .histories()
        .iter()
        .map(TrainingHistory::total_seconds)
        .sum();
    let params = report.model.parameters.unwrap_or(10_000) as f64;
    let train_seconds = if history_seconds > 0.0 {
        history_seconds
    } else {
        20.0 + rng.uniform() * 40.0
    };
    Timing {
        train_seconds: Some(train_seconds),
        inference_ms_per_clip: Some(1.5 + params / 250_000.0 + rng.uniform()),
    }
}

fn provenance(seed: u64) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "generator".into(),
            "ser_train::demo — synthetic numbers, not a real evaluation".into(),
        ),
        ("seed".into(), seed.to_string()),
        (
            "features".into(),
            "mfcc40 + chroma12 + mel128, mean-pooled (180 dims)".into(),
        ),
        ("sample_rate_hz".into(), "16000".into()),
    ])
}

fn actor_id(actor: usize) -> String {
    format!("{:02}", actor + 1)
}

/// The test clips of one fold with their synthetic predictions.
struct FoldClips {
    y_true: Vec<usize>,
    y_pred: Vec<usize>,
    speakers: Vec<String>,
    probabilities: Vec<f32>,
}

fn fold_clips(actors: &[usize], offsets: &[f64], skill: f64, rng: &mut SplitMix) -> FoldClips {
    let mut clips = FoldClips {
        y_true: Vec::new(),
        y_pred: Vec::new(),
        speakers: Vec::new(),
        probabilities: Vec::new(),
    };
    for &actor in actors {
        for (emotion, base_recall) in BASE_RECALL.iter().enumerate() {
            // RAVDESS has no strong-intensity neutral: 4 neutral clips per actor, 8 otherwise.
            let takes = if emotion == 0 { 4 } else { 8 };
            let recall = (base_recall + skill - 0.7 + offsets[actor]).clamp(0.05, 0.98);
            for _ in 0..takes {
                let predicted = predict(emotion, recall, rng);
                clips.y_true.push(emotion);
                clips.y_pred.push(predicted);
                clips.speakers.push(actor_id(actor));
                clips
                    .probabilities
                    .extend(probabilities(emotion, predicted, rng));
            }
        }
    }
    clips
}

fn predict(truth: usize, recall: f64, rng: &mut SplitMix) -> usize {
    if rng.uniform() < recall {
        return truth;
    }
    let draw = rng.uniform();
    if draw < 0.5 {
        CONFUSERS[truth][0]
    } else if draw < 0.78 {
        CONFUSERS[truth][1]
    } else {
        // Any other class.
        let other = (rng.next() % (RAVDESS_LABELS.len() as u64 - 1)) as usize;
        if other >= truth { other + 1 } else { other }
    }
}

/// A probability row in which `predicted` is the most likely class and a wrongly predicted
/// `truth` usually comes second.
fn probabilities(truth: usize, predicted: usize, rng: &mut SplitMix) -> Vec<f32> {
    let mut weights: Vec<f64> = (0..RAVDESS_LABELS.len())
        .map(|_| rng.uniform() * 0.08)
        .collect();
    if truth != predicted {
        weights[truth] += 0.1 + rng.uniform() * 0.15;
    }
    let others: f64 = weights.iter().sum();
    weights[predicted] = others.max(0.3) + 0.2 + rng.uniform() * 1.6;
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// Learning curves with early stopping: validation loss bottoms out, patience runs 8 epochs.
fn history(fold: usize, final_ua: f64, epoch_seconds: f64, rng: &mut SplitMix) -> TrainingHistory {
    let best = 24 + fold * 3 + (rng.next() % 5) as usize;
    let last = best + 8;
    let epochs = (1..=last)
        .map(|t| {
            let record = epoch_record(t, best, final_ua, rng);
            let seconds = epoch_seconds * (0.95 + rng.uniform() * 0.1);
            EpochRecord { seconds, ..record }
        })
        .collect();
    TrainingHistory {
        epochs,
        best_epoch: Some(best),
    }
}

fn epoch_record(epoch: usize, best: usize, final_ua: f64, rng: &mut SplitMix) -> EpochRecord {
    let t = epoch as f64;
    let overfit = epoch.saturating_sub(best) as f64;
    let noise = |rng: &mut SplitMix, scale: f64| rng.normal() * scale;
    let val_accuracy = (final_ua + 0.01) * (1.0 - (-t / 6.0).exp()) + 0.125 * (-t / 6.0).exp();
    EpochRecord {
        epoch,
        train_loss: 2.08 * (-t / 10.0).exp() + 0.15 + noise(rng, 0.015).abs(),
        train_accuracy: (1.0 - 0.875 * (-t / 9.0).exp() + noise(rng, 0.008)).min(0.995),
        val_loss: Some(
            0.95 + 1.15 * (-t / 7.0).exp() + 0.012 * overfit.powf(1.4) + noise(rng, 0.02),
        ),
        val_accuracy: Some(val_accuracy - 0.002 * overfit + noise(rng, 0.012)),
        val_ua: Some(val_accuracy - 0.015 - 0.002 * overfit + noise(rng, 0.012)),
        learning_rate: 1e-3 * 0.5f64.powi((epoch / 15) as i32),
        seconds: 0.0,
    }
}

/// SplitMix64: tiny, seedable, good enough for synthetic data (not for cryptography).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo {
        ModelInfo {
            name: "demo".into(),
            kind: "demo".into(),
            parameters: Some(1000),
        }
    }

    #[test]
    fn shaped_like_ravdess_and_deterministic() {
        let a = ravdess_evaluation(model(), 0.7, true, 7).unwrap();
        assert_eq!(a.folds.len(), 5);
        assert_eq!(a.aggregate.pooled.n_samples, 1440);
        assert_eq!(a.aggregate.pooled.per_speaker.len(), 24);
        assert_eq!(a.labels.len(), 8);
        assert!(
            (0.55..0.85).contains(&a.aggregate.ua.mean),
            "{}",
            a.aggregate.ua.mean
        );
        assert!(a.folds.iter().all(|f| f.history.is_some()));
        assert_eq!(a, ravdess_evaluation(model(), 0.7, true, 7).unwrap());
    }
}
