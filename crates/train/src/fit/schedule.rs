//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate moves during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The base learning rate throughout.
    Constant,
    /// Linear warm-up over `warmup_epochs`, then cosine decay to `min_lr` (per step).
    Cosine {
        /// Epochs of linear warm-up to the base rate.
        warmup_epochs: usize,
        /// Learning rate at the end of the decay.
        min_lr: f64,
    },
    /// Multiply by `factor` when validation UA has not improved for `patience` epochs.
    Plateau {
        /// Multiplier applied at each reduction (below 1 to reduce).
        factor: f64,
        /// Epochs without a better validation UA that are tolerated; the next one reduces the rate.
        patience: usize,
        /// The rate never drops below this.
        min_lr: f64,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Cosine {
            warmup_epochs: 1,
            min_lr: 1e-5,
        }
    }
}

/// The schedule's running state (only the plateau schedule has any); checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// Product of the plateau reductions so far.
    pub factor: f64,
    pub bad_epochs: usize,
    pub best_score: Option<f64>,
}

impl ScheduleState {
    pub fn new() -> Self {
        Self {
            factor: 1.0,
            ..Default::default()
        }
    }
}

impl Schedule {
    /// "cosine schedule (1 warm-up epoch, down to 0.00001)", for provenance.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Constant => "constant learning rate".into(),
            Schedule::Cosine {
                warmup_epochs,
                min_lr,
            } => format!("cosine schedule ({warmup_epochs} warm-up epochs, down to {min_lr})"),
            Schedule::Plateau {
                factor,
                patience,
                min_lr,
            } => format!(
                "reduce-on-plateau schedule (x{factor} after {patience} epochs, down to {min_lr})"
            ),
        }
    }

    /// Learning rate at optimiser step `step` of `total` (0-based).
    pub fn lr(
        &self,
        base: f64,
        step: usize,
        steps_per_epoch: usize,
        total: usize,
        state: &ScheduleState,
    ) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine {
                warmup_epochs,
                min_lr,
            } => {
                let warmup = warmup_epochs * steps_per_epoch;
                if step < warmup {
                    return base * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::Plateau { min_lr, .. } => (base * state.factor).max(*min_lr),
        }
    }

    /// Updates the plateau state after an epoch with validation score `score` (higher is better).
    pub fn end_epoch(&self, score: Option<f64>, state: &mut ScheduleState) {
        let (
            Schedule::Plateau {
                factor, patience, ..
            },
            Some(score),
        ) = (self, score)
        else {
            return;
        };
        if state.best_score.is_none_or(|best| score > best) {
            state.best_score = Some(score);
            state.bad_epochs = 0;
            return;
        }
        state.bad_epochs += 1;
        if state.bad_epochs > *patience {
            state.factor *= factor;
            state.bad_epochs = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays() {
        let s = Schedule::Cosine {
            warmup_epochs: 1,
            min_lr: 0.0,
        };
        let st = ScheduleState::new();
        assert!((s.lr(1.0, 0, 10, 100, &st) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0, 9, 10, 100, &st) - 1.0).abs() < 1e-12);
        assert!(s.lr(1.0, 99, 10, 100, &st) < 0.01);
    }

    #[test]
    fn plateau_reduces_after_patience() {
        let s = Schedule::Plateau {
            factor: 0.5,
            patience: 1,
            min_lr: 0.0,
        };
        let mut st = ScheduleState::new();
        for score in [0.5, 0.4, 0.4] {
            s.end_epoch(Some(score), &mut st);
        }
        assert_eq!(s.lr(1.0, 0, 1, 1, &st), 0.5);
    }
}
