//! Fitting networks and classical models to in-memory feature matrices.
//!
//! [`fit`] trains with AdamW, a learning-rate [`Schedule`], optional class-balanced loss
//! weights, label smoothing, SpecAugment and mixup, seeded shuffles, early stopping on
//! validation UA (keeping the best weights) and a checkpoint per epoch that [`FitConfig::resume`]
//! continues from — optimiser moments included, so a resumed run matches an uninterrupted one.
//!
//! Determinism: every epoch reseeds burn's generator and our own from (seed, epoch), so a
//! run is a function of its configuration and data. burn's Flex generator is global to the
//! process, so one fit holds a process-wide lock; fits in one process run one at a time.

mod adversary;
mod augment;
mod checkpoint;
mod data;
mod network;
mod schedule;
mod validate;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use ser_model::Architecture;
use ser_model::bundle::{Bundle, EnsembleError, ModelSpec};
use ser_model::classical::ClassicalError;
use ser_model::{BundleError, InputKind, ModelError};
use serde::{Deserialize, Serialize};

pub use adversary::{Adversary, Nuisance, NuisanceKind};
pub use augment::{FreqWarp, SpecAugment};
pub use data::TrainData;
pub use schedule::Schedule;
pub(crate) use validate::argmax;

use crate::history::{EpochRecord, TrainingHistory};

/// Everything that shapes a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitConfig {
    /// What to train: a network architecture or a classical model.
    pub model: ModelSpec,
    /// Crop length in frames for frame models (training crops, inference windows).
    pub frames: usize,
    /// Most epochs to train; early stopping may end sooner (classical models fit once).
    pub epochs: usize,
    /// Samples per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate, which the schedule scales (AdamW).
    pub lr: f64,
    /// Decoupled (AdamW) weight decay; report 004's L2 on the dense layer maps here.
    pub weight_decay: f64,
    /// How the learning rate moves over the run.
    pub schedule: Schedule,
    /// Stop after this many epochs without a better validation UA.
    pub patience: Option<usize>,
    /// Share of the target taken off the true class and spread evenly over all classes,
    /// in `[0, 1)`.
    pub label_smoothing: f32,
    /// Weight the loss by inverse class frequency.
    pub class_balanced: bool,
    /// Masks on frame crops; ignored for pooled input.
    pub spec_augment: Option<SpecAugment>,
    /// Frequency warping of mel-band frames (absent from configurations made before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freq_warp: Option<FreqWarp>,
    /// Mixup with lambda ~ Beta(alpha, alpha).
    pub mixup: Option<f32>,
    /// Validate and keep an exponential moving average of the weights over epochs instead
    /// of the latest weights: after each epoch the average keeps this share of itself (e.g.
    /// 0.8) and takes the rest from the new weights. Smooths the epoch-to-epoch noise that
    /// early stopping on a few validation speakers would otherwise select on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_average: Option<f32>,
    /// Keep the final epoch's weights instead of the best-validating ones (validation is
    /// still scored and reported; no early stopping). With a few validation speakers the
    /// best epoch can be a spike early in the schedule; a cosine schedule's end is not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_last: bool,
    /// An adversarial head on the clip embedding that the network learns to defeat (cnn4
    /// only; the training data must carry the nuisance, see [`TrainData::with_nuisance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adversary: Option<Adversary>,
    /// Seeds weight initialisation, shuffles, augmentation and dropout (and classical fits).
    pub seed: u64,
    /// Networks trained with seeds `seed`, `seed + 1`, ... whose class probabilities are
    /// averaged (one ensemble bundle); 1 trains a single model.
    #[serde(default = "ser_model::bundle::one_member")]
    pub members: usize,
    /// Ensemble members trained at once, each on its share of the threads (0: one per thread;
    /// 1: one after another). The members are the same either way.
    #[serde(skip)]
    pub jobs: usize,
    /// Where `last.ser`, `best.ser`, `last.optim` and `state.json` go each epoch.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from `checkpoint_dir` if it holds a checkpoint of this same run.
    pub resume: bool,
    /// Set to true to stop after the current batch (the best weights so far are returned).
    #[serde(skip)]
    pub stop: Option<Arc<AtomicBool>>,
}

impl FitConfig {
    /// Crop length for frame models: 3 s at 100 frames/s. Most RAVDESS speech fits in 3 s,
    /// and 300-frame crops beat 110-frame ones by 9 points of UA for cnn4 (docs/models.md).
    pub const DEFAULT_FRAMES: usize = 300;

    /// Defaults in the spirit of the reports: AdamW lr 1e-3, cosine schedule, patience 10.
    pub fn new(model: ModelSpec) -> Self {
        Self {
            model,
            frames: Self::DEFAULT_FRAMES,
            epochs: 40,
            batch_size: 32,
            lr: 1e-3,
            weight_decay: 1e-4,
            schedule: Schedule::default(),
            patience: Some(10),
            label_smoothing: 0.0,
            class_balanced: false,
            spec_augment: None,
            freq_warp: None,
            mixup: None,
            weight_average: None,
            keep_last: false,
            adversary: None,
            seed: 0,
            members: 1,
            jobs: 0,
            checkpoint_dir: None,
            resume: false,
            stop: None,
        }
    }
}

/// Progress after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Epochs the run may take (`FitConfig::epochs`; 1 for a classical model).
    pub epochs: usize,
    /// Mean training loss over the epoch's samples, on the targets as trained (smoothed,
    /// weighted, mixed).
    pub train_loss: f64,
    /// Share of the epoch's training samples whose top class was right.
    pub train_acc: f64,
    /// `None` without a validation set.
    pub val_loss: Option<f64>,
    /// Validation UA; `None` without a validation set.
    pub val_ua: Option<f64>,
    /// Validation accuracy; `None` without a validation set.
    pub val_acc: Option<f64>,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall-clock time of the epoch (training and validation).
    pub seconds: f64,
    /// Whether this epoch's weights are the best so far (the ones kept).
    pub best: bool,
    /// Which ensemble member is training (0-based) and how many there are.
    #[serde(default)]
    pub member: usize,
    /// Number of ensemble members (1 for a single model).
    #[serde(default = "ser_model::bundle::one_member")]
    pub members: usize,
}

impl From<&EpochReport> for EpochRecord {
    fn from(r: &EpochReport) -> Self {
        EpochRecord {
            epoch: r.epoch,
            train_loss: r.train_loss,
            train_accuracy: r.train_acc,
            val_loss: r.val_loss,
            val_accuracy: r.val_acc,
            val_ua: r.val_ua,
            learning_rate: r.lr,
            seconds: r.seconds,
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct FitOutcome {
    /// The best weights with labels, input spec and normalisation; `features`,
    /// `provenance` and `metrics` are for the caller to complete.
    pub bundle: Bundle,
    /// An ensemble's members as single models (empty for one model), to score alone.
    pub members: Vec<Bundle>,
    /// The training curve (of the first member, for an ensemble).
    pub history: TrainingHistory,
    /// Every epoch of every member.
    pub reports: Vec<EpochReport>,
    /// Whether patience ran out before the last epoch (in any member, for an ensemble).
    pub stopped_early: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The training data is empty or malformed: shapes, non-finite values, labels or nuisance
    /// classes out of range, or validation rows unlike the training rows.
    #[error("bad training data: {0}")]
    BadData(String),
    /// The configuration is invalid or contradictory, or a stop came before the first ensemble
    /// member began.
    #[error("bad training configuration: {0}")]
    BadConfig(String),
    /// The network could not be built for this input and these labels.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Fitting the classical model failed.
    #[error("classical model: {0}")]
    Classical(#[from] ClassicalError),
    /// A checkpoint could not be read or written, or does not fit this run.
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The checkpoint folder or file concerned.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// A checkpoint bundle could not be saved or loaded, or a fitted classical model could
    /// not be loaded for scoring.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A batch loss was NaN or infinite; holds the 1-based epoch.
    #[error("training diverged at epoch {0} (non-finite loss)")]
    Diverged(usize),
    /// The ensemble members could not be joined into one bundle.
    #[error(transparent)]
    Ensemble(#[from] EnsembleError),
    /// The moving average of the weights could not be updated or loaded into the network.
    #[error("moving average of the weights: {0}")]
    WeightAverage(ser_model::weights::WeightsError),
}

/// Trains `cfg.model` on `train`, selecting weights on `val` (which may be empty: then the
/// last epoch's weights are kept). `labels[y]` names class `y`.
pub fn fit(
    cfg: &FitConfig,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
    on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<FitOutcome, FitError> {
    check_inputs(cfg, train, val, labels)?;
    match &cfg.model {
        ModelSpec::Network(arch) if cfg.members > 1 => {
            fit_ensemble(cfg, arch, train, val, labels, on_epoch)
        }
        ModelSpec::Network(arch) => network::fit_network(cfg, arch, train, val, labels, on_epoch),
        ModelSpec::Classical(c) => validate::fit_classical(cfg, c, train, val, labels, on_epoch),
    }
}

/// Trains `cfg.members` networks that differ only in their seed (`cfg.jobs` at a time, each
/// with its own checkpoint folder `member-<i>`), and joins them into one ensemble bundle.
/// A stop request ends the ensemble with the members trained so far.
fn fit_ensemble(
    cfg: &FitConfig,
    arch: &Architecture,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
    on_epoch: impl FnMut(&EpochReport) + Send,
) -> Result<FitOutcome, FitError> {
    let on_epoch = std::sync::Mutex::new(on_epoch);
    let members: Vec<usize> = (0..cfg.members).collect();
    let outcomes = crate::parallel::run_each(&members, cfg.jobs, |&member| {
        if network::stop_requested(cfg) {
            return Ok(None);
        }
        let member_cfg = FitConfig {
            seed: cfg.seed.wrapping_add(member as u64),
            members: 1,
            checkpoint_dir: cfg
                .checkpoint_dir
                .as_ref()
                .map(|dir| dir.join(format!("member-{member}"))),
            ..cfg.clone()
        };
        network::fit_network(&member_cfg, arch, train, val, labels, |report| {
            (on_epoch.lock().expect("progress lock"))(&EpochReport {
                member,
                members: cfg.members,
                ..report.clone()
            })
        })
        .map(Some)
    })?;
    // Members not started after a stop request leave no gap: the rest are in seed order.
    let mut outcomes: Vec<FitOutcome> = outcomes.into_iter().flatten().collect();
    if outcomes.is_empty() {
        return Err(FitError::BadConfig(
            "stopped before the first ensemble member started".into(),
        ));
    }
    let members: Vec<Bundle> = outcomes.iter().map(|o| o.bundle.clone()).collect();
    let mut bundle = Bundle::ensemble(&members)?;
    let seeds = format!(
        "{}..={}",
        cfg.seed,
        cfg.seed.wrapping_add(members.len() as u64 - 1)
    );
    let provenance = &mut bundle.meta.provenance;
    provenance.insert("seed".into(), seeds);
    for key in ["epochs_trained", "best_epoch"] {
        let each: Vec<&str> = members
            .iter()
            .filter_map(|m| m.meta.provenance.get(key).map(String::as_str))
            .collect();
        provenance.insert(key.into(), each.join(", "));
    }
    let stopped_early = outcomes.iter().any(|o| o.stopped_early);
    let reports = outcomes.iter().flat_map(|o| o.reports.clone()).collect();
    let history = outcomes.swap_remove(0).history;
    Ok(FitOutcome {
        bundle,
        members,
        history,
        reports,
        stopped_early,
    })
}

fn check_inputs(
    cfg: &FitConfig,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
) -> Result<(), FitError> {
    let bad = |why: String| Err(FitError::BadConfig(why));
    if labels.len() < 2 {
        return bad(format!("need at least 2 labels, got {}", labels.len()));
    }
    if train.is_empty() {
        return Err(FitError::BadData("no training samples".into()));
    }
    train.check(labels.len())?;
    val.check(labels.len())?;
    if !val.is_empty() && val.rows != train.rows {
        return Err(FitError::BadData(format!(
            "validation has {} feature rows, training {}",
            val.rows, train.rows
        )));
    }
    if !cfg.model.allows_members(cfg.members) {
        return bad(format!(
            "{} ensemble members: ensembles hold 1 or more networks",
            cfg.members
        ));
    }
    if let Some(warp) = &cfg.freq_warp
        && (warp.band_hz.len() != train.rows || !(0.0..0.5).contains(&warp.max))
    {
        return bad(format!(
            "frequency warp of ±{} over {} bands, but the features have {} rows (it needs \
             mel bands and a warp below 0.5)",
            warp.max,
            warp.band_hz.len(),
            train.rows
        ));
    }
    if let Some(keep) = cfg.weight_average
        && !(0.0..1.0).contains(&keep)
    {
        return bad(format!(
            "weight average {keep}: the share kept must be in [0, 1)"
        ));
    }
    if let Some(adversary) = &cfg.adversary {
        let embeds =
            matches!(&cfg.model, ModelSpec::Network(arch) if arch.embedding_width().is_some());
        if !embeds {
            return bad("an adversarial head needs a network with a clip embedding (cnn4)".into());
        }
        if train.nuisance.is_none() {
            return bad(format!(
                "an adversary on the {} needs each training sample's {0}",
                adversary.target.name()
            ));
        }
        if cfg.mixup.is_some() {
            return bad(
                "mixup blends two clips, but the adversary needs one nuisance per sample".into(),
            );
        }
        if !(adversary.weight.is_finite() && adversary.weight > 0.0) {
            return bad(format!(
                "adversary weight {} must be positive",
                adversary.weight
            ));
        }
    }
    if cfg.keep_last && cfg.patience.is_some() {
        return bad("keeping the last epoch rules out early stopping (patience 0)".into());
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 || !cfg.lr.is_finite() || cfg.lr <= 0.0 {
        return bad("epochs, batch size and learning rate must be positive".into());
    }
    if !(0.0..1.0).contains(&cfg.label_smoothing) {
        return bad(format!(
            "label smoothing {} is outside [0, 1)",
            cfg.label_smoothing
        ));
    }
    if let ModelSpec::Network(arch) = &cfg.model
        && arch.input_kind() == InputKind::Frames
        && cfg.frames < arch.min_frames()
    {
        return bad(format!(
            "{} needs crops of at least {} frames",
            arch.name(),
            arch.min_frames()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
