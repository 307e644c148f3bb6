//! Per-epoch training records, as written by the trainer and drawn as learning curves.

use serde::{Deserialize, Deserializer, Serialize};

/// What happened in one epoch. Validation fields are `None` when training had no validation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss of the epoch (may be NaN, which JSON holds as `null`).
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_loss: f64,
    /// Share of training samples classified correctly during the epoch (0 to 1).
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_accuracy: f64,
    /// Mean cross-entropy of the true class on the validation set.
    #[serde(default)]
    pub val_loss: Option<f64>,
    /// Share of validation samples classified correctly (0 to 1).
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    /// Unweighted accuracy (mean per-class recall) on the validation set.
    #[serde(default)]
    pub val_ua: Option<f64>,
    /// Learning rate at the end of the epoch.
    #[serde(deserialize_with = "f64_or_nan")]
    pub learning_rate: f64,
    /// Wall-clock seconds the epoch took (training and validation).
    #[serde(deserialize_with = "f64_or_nan")]
    pub seconds: f64,
}

/// The epochs of one training run (one fold).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingHistory {
    /// One record per epoch trained, in order.
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose weights were kept (early stopping / best checkpoint), if any.
    #[serde(default)]
    pub best_epoch: Option<usize>,
}

impl TrainingHistory {
    /// Total wall-clock seconds over all epochs.
    pub fn total_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.seconds).sum()
    }

    /// The highest epoch number recorded (0 when empty).
    pub fn last_epoch(&self) -> usize {
        self.epochs.iter().map(|e| e.epoch).max().unwrap_or(0)
    }
}

/// JSON has no NaN: serde_json writes a NaN (e.g. a diverged loss) as `null`, so read it back.
fn f64_or_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_loss_survives_json() {
        let record = EpochRecord {
            epoch: 1,
            train_loss: f64::NAN,
            train_accuracy: 0.5,
            val_loss: None,
            val_accuracy: Some(0.4),
            val_ua: None,
            learning_rate: 1e-3,
            seconds: 2.0,
        };
        let json = serde_json::to_string(&record).unwrap();
        let back: EpochRecord = serde_json::from_str(&json).unwrap();
        assert!(back.train_loss.is_nan());
        assert_eq!(back.val_accuracy, Some(0.4));
    }

    #[test]
    fn totals() {
        let history: TrainingHistory =
            serde_json::from_str(r#"{"epochs":[{"epoch":1,"train_loss":1.0,"train_accuracy":0.1,"learning_rate":0.001,"seconds":2.5},{"epoch":2,"train_loss":0.5,"train_accuracy":0.2,"learning_rate":0.001,"seconds":3.0}]}"#)
                .unwrap();
        assert_eq!(history.total_seconds(), 5.5);
        assert_eq!(history.last_epoch(), 2);
        assert_eq!(history.best_epoch, None);
    }
}
