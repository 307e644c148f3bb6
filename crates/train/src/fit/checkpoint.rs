//! Checkpoints: after each epoch `checkpoint_dir` holds
//! - `last.ser`: a loadable bundle of the current weights (parameter ids kept in the
//!   safetensors metadata, so the optimiser state can be matched to them),
//! - `best.ser`: a bundle of the best weights so far,
//! - `last.optim`: AdamW's moments (burnpack bytes),
//! - `average.safetensors`: the moving average of the weights, when the run keeps one,
//! - `state.json`: epoch, step, schedule state, best scores and history, plus a fingerprint
//!   of the configuration and data so that resume refuses a different run.
//!
//! `state.json` is written last (each file by temp + rename), so a crash mid-save leaves the
//! previous consistent checkpoint or, at worst, newer weights than the state names, which
//! resume detects through the epoch recorded in `last.ser`.

use std::path::{Path, PathBuf};

use ser_model::bundle::{Bundle, BundleMeta};
use ser_model::burn::tensor::{Bytes, Device};
use ser_model::{Architecture, weights};
use serde::{Deserialize, Serialize};

use super::network::{Run, optimiser};
use super::schedule::ScheduleState;
use super::validate::Scores;
use super::{EpochReport, FitConfig, FitError, TrainData};

const STATE: &str = "state.json";
const LAST: &str = "last.ser";
const BEST: &str = "best.ser";
const OPTIM: &str = "last.optim";
const AVERAGE: &str = "average.safetensors";
const EPOCH_KEY: &str = "checkpoint_epoch";

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    pub epoch: usize,
    /// Optimiser steps taken (drives the per-step schedule).
    pub step: usize,
    pub best_epoch: usize,
    pub best: Option<Scores>,
    pub schedule: ScheduleState,
    pub reports: Vec<EpochReport>,
    pub fingerprint: serde_json::Value,
}

impl RunState {
    pub fn new(fingerprint: serde_json::Value) -> Self {
        Self {
            epoch: 0,
            step: 0,
            best_epoch: 0,
            best: None,
            schedule: ScheduleState::new(),
            reports: Vec::new(),
            fingerprint,
        }
    }
}

/// What must match for a checkpoint to continue this run (epochs and patience may change).
pub(crate) fn fingerprint(
    cfg: &FitConfig,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
) -> serde_json::Value {
    let mut fingerprint = serde_json::json!({
        "model": cfg.model,
        "frames": cfg.frames,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "rows": train.rows,
        "train": train.len(),
        "val": val.len(),
        "labels": labels,
    });
    // Only when set, so that checkpoints made before the option still match.
    if let Some(keep) = cfg.weight_average {
        fingerprint["weight_average"] = keep.into();
    }
    if cfg.keep_last {
        fingerprint["keep_last"] = true.into();
    }
    fingerprint
}

pub(crate) fn save(dir: &Path, run: &Run, meta: &BundleMeta) -> Result<(), FitError> {
    let err = |path: PathBuf, why: String| FitError::Checkpoint { path, why };
    std::fs::create_dir_all(dir).map_err(|e| err(dir.to_path_buf(), e.to_string()))?;
    let mut last_meta = meta.clone();
    last_meta
        .provenance
        .insert(EPOCH_KEY.into(), run.state.epoch.to_string());
    let last = Bundle {
        meta: last_meta,
        payload: weights::to_safetensors(&run.model, true),
    };
    last.save(dir.join(LAST))?;
    Bundle {
        meta: meta.clone(),
        payload: run.best_weights.clone(),
    }
    .save(dir.join(BEST))?;
    let optim = run
        .optim
        .into_bytes()
        .map_err(|e| err(dir.join(OPTIM), e.to_string()))?;
    write_atomic(&dir.join(OPTIM), &optim)?;
    if let Some(average) = &run.average {
        write_atomic(&dir.join(AVERAGE), average)?;
    }
    let state =
        serde_json::to_vec_pretty(&run.state).map_err(|e| err(dir.join(STATE), e.to_string()))?;
    write_atomic(&dir.join(STATE), &state)
}

/// The run saved in `cfg.checkpoint_dir`, if resuming and one is there.
pub(crate) fn resume(
    cfg: &FitConfig,
    arch: &Architecture,
    meta: &BundleMeta,
    fingerprint: &serde_json::Value,
    device: &Device,
) -> Result<Option<Run>, FitError> {
    let Some(dir) = cfg.checkpoint_dir.as_deref().filter(|_| cfg.resume) else {
        return Ok(None);
    };
    let state_path = dir.join(STATE);
    if !state_path.exists() {
        return Ok(None);
    }
    let err = |path: &Path, why: String| FitError::Checkpoint {
        path: path.to_path_buf(),
        why,
    };
    let state: RunState = serde_json::from_slice(&read(&state_path)?)
        .map_err(|e| err(&state_path, format!("unreadable state: {e}")))?;
    if &state.fingerprint != fingerprint {
        return Err(err(
            &state_path,
            "belongs to a different run (model, data, labels or seed differ)".into(),
        ));
    }
    let last = Bundle::load(dir.join(LAST))?;
    if last.meta.provenance.get(EPOCH_KEY) != Some(&state.epoch.to_string()) {
        return Err(err(
            &dir.join(LAST),
            format!("does not hold epoch {} named by {STATE}", state.epoch),
        ));
    }
    let model = arch.build(meta.input.features, meta.labels.len(), device)?;
    let model = weights::load_safetensors(model, &last.payload)
        .map_err(|e| err(&dir.join(LAST), e.to_string()))?;
    let optim_path = dir.join(OPTIM);
    let optim = optimiser(cfg)
        .from_bytes(Bytes::from_bytes_vec(read(&optim_path)?))
        .map_err(|e| err(&optim_path, e.to_string()))?;
    let best_weights = Bundle::load(dir.join(BEST))?.payload;
    let average = match cfg.weight_average {
        Some(_) if state.epoch > 0 => Some(read(&dir.join(AVERAGE))?),
        _ => None,
    };
    Ok(Some(Run {
        model,
        optim,
        state,
        best_weights,
        average,
    }))
}

fn read(path: &Path) -> Result<Vec<u8>, FitError> {
    std::fs::read(path).map_err(|e| FitError::Checkpoint {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FitError> {
    ser_fs::write_atomic(path, bytes).map_err(|e| FitError::Checkpoint {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}
