//! The training loop for networks.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ser_model::bundle::{Bundle, BundleMeta, ModelSpec};
use ser_model::burn::module::Module;
use ser_model::burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use ser_model::burn::tensor::{Device, Tensor, TensorData, activation::log_softmax};
use ser_model::rng::SplitMix64;
use ser_model::{Architecture, Net, Predictor, weights};

use super::adversary::{self, AdversaryHead, Nuisance};
use super::checkpoint::{self, RunState};
use super::data::{Batch, BatchRecipe, Prepared, TrainData, balanced_weights};
use super::validate::{argmax, bundle_meta, score};
use super::{EpochReport, FitConfig, FitError, FitOutcome};
use crate::history::TrainingHistory;

/// burn's Flex generator is process-global. Weight initialisation holds this lock, so that
/// fits on parallel threads draw the weights they would draw alone; dropout masks come from
/// each thread's own generator ([`ser_model::nets::seed_dropout`]). A network whose layers
/// draw from the global generator during training holds it for the whole fit.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

fn lock_global_rng() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A run in progress: the model, its optimiser, and the bookkeeping that checkpoints save.
pub(crate) struct Run {
    pub model: Net,
    pub optim: ModuleOptimizer,
    pub state: RunState,
    /// Safetensors bytes of the best weights so far.
    pub best_weights: Vec<u8>,
    /// Safetensors bytes of the moving average of the weights, when the run keeps one.
    pub average: Option<Vec<u8>>,
}

/// The adversarial head of a run that has one, with its own optimiser. It is not
/// checkpointed: a resumed run starts a fresh head (it catches up within an epoch).
struct AdversaryRun<'a> {
    head: AdversaryHead,
    optim: ModuleOptimizer,
    nuisance: &'a Nuisance,
    weight: f32,
}

pub(crate) fn optimiser(cfg: &FitConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay as f32)
        .with_epsilon(1e-8)
        .init()
}

pub(crate) fn fit_network(
    cfg: &FitConfig,
    arch: &Architecture,
    train: &TrainData,
    val: &TrainData,
    labels: &[String],
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<FitOutcome, FitError> {
    let whole_fit = arch.draws_global_randomness();
    let _whole_fit_guard = whole_fit.then(lock_global_rng);
    let kind = arch.input_kind();
    let data = Prepared::new(train, kind, cfg.frames);
    let meta = bundle_meta(cfg, kind, train.rows, data.norm.clone(), labels);
    let device = ser_model::training_device().autodiff();
    let fingerprint = checkpoint::fingerprint(cfg, train, val, labels);
    let (mut run, mut adversary) = {
        let _init_guard = (!whole_fit).then(lock_global_rng);
        let run = match checkpoint::resume(cfg, arch, &meta, &fingerprint, &device)? {
            Some(run) => run,
            None => fresh_run(cfg, arch, &meta, fingerprint, &device)?,
        };
        // Drawn after the network, so that its weights are those of a run without one.
        let adversary = cfg
            .adversary
            .zip(data.nuisance.as_ref())
            .zip(arch.embedding_width())
            .map(|((adversary, nuisance), width)| {
                let head = AdversaryHead::new(width, nuisance.classes(), &device);
                ser_model::nets::initialise_now(&head);
                AdversaryRun {
                    head,
                    optim: optimiser(cfg),
                    nuisance,
                    weight: adversary.weight,
                }
            });
        (run, adversary)
    };
    let recipe = BatchRecipe {
        classes: labels.len(),
        label_smoothing: cfg.label_smoothing,
        class_weights: cfg
            .class_balanced
            .then(|| balanced_weights(&data.y, labels.len())),
        spec_augment: cfg.spec_augment.as_ref(),
        freq_warp: cfg.freq_warp.as_ref(),
        mixup: cfg.mixup,
    };
    // A resumed run that had already stopped early trains no further.
    let patience_spent = |run: &Run| {
        cfg.patience
            .is_some_and(|p| run.state.epoch - run.state.best_epoch > p)
    };
    let mut stopped_early = patience_spent(&run);
    while !stopped_early && run.state.epoch < cfg.epochs && !stop_requested(cfg) {
        let epoch = run_epoch(
            cfg,
            &mut run,
            &mut adversary,
            &data,
            &recipe,
            &meta,
            val,
            &device,
        )?;
        let Some(report) = epoch else {
            break; // stopped mid-epoch: that epoch is not counted nor checkpointed
        };
        on_epoch(&report);
        if let Some(dir) = &cfg.checkpoint_dir {
            checkpoint::save(dir, &run, &meta)?;
        }
        stopped_early = patience_spent(&run);
    }
    Ok(outcome(run, meta, stopped_early))
}

fn fresh_run(
    cfg: &FitConfig,
    arch: &Architecture,
    meta: &BundleMeta,
    fingerprint: serde_json::Value,
    device: &Device,
) -> Result<Run, FitError> {
    device.seed(cfg.seed);
    let model = arch.build(meta.input.features, meta.labels.len(), device)?;
    model.initialise_now();
    Ok(Run {
        model,
        optim: optimiser(cfg),
        state: RunState::new(fingerprint),
        best_weights: Vec::new(),
        average: None,
    })
}

pub(crate) fn stop_requested(cfg: &FitConfig) -> bool {
    cfg.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Per-epoch seed, so that a resumed run draws what an uninterrupted one would.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    SplitMix64::new(seed ^ (epoch as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

/// Trains one epoch, validates, and updates the best weights; `None` if stopped midway.
#[allow(clippy::too_many_arguments)]
fn run_epoch(
    cfg: &FitConfig,
    run: &mut Run,
    adversary: &mut Option<AdversaryRun>,
    data: &Prepared,
    recipe: &BatchRecipe<'_>,
    meta: &BundleMeta,
    val: &TrainData,
    device: &Device,
) -> Result<Option<EpochReport>, FitError> {
    let started = Instant::now();
    let epoch = run.state.epoch + 1;
    let Some((train_loss, train_acc, lr)) =
        train_epoch(cfg, run, adversary, data, recipe, epoch, device)?
    else {
        return Ok(None);
    };
    let candidate = match cfg.weight_average {
        None => run.model.clone(),
        Some(keep) => averaged_network(run, keep)?,
    };
    let predictor = Predictor::from_network(
        meta.clone(),
        candidate.clone(),
        device.clone().without_autodiff(),
    );
    let scores = score(&predictor, val, meta.labels.len());
    cfg.schedule
        .end_epoch(scores.map(|s| s.ua), &mut run.state.schedule);
    let best = cfg.keep_last
        || match (scores, run.state.best) {
            (Some(s), Some(b)) => s.better_than(&b),
            _ => true,
        };
    if best {
        run.state.best = scores;
        run.state.best_epoch = epoch;
        run.best_weights = weights::to_safetensors(&candidate.valid(), false);
    }
    run.state.epoch = epoch;
    let report = EpochReport {
        epoch,
        epochs: cfg.epochs,
        train_loss,
        train_acc,
        val_loss: scores.map(|s| s.loss),
        val_ua: scores.map(|s| s.ua),
        val_acc: scores.map(|s| s.acc),
        lr,
        seconds: started.elapsed().as_secs_f64(),
        best,
        member: 0,
        members: 1,
    };
    run.state.reports.push(report.clone());
    Ok(Some(report))
}

/// Moves the run's moving average of the weights toward its latest weights and returns it
/// as a network (the first epoch starts the average).
fn averaged_network(run: &mut Run, keep: f32) -> Result<Net, FitError> {
    let latest = weights::to_safetensors(&run.model.valid(), false);
    let average = match run.average.take() {
        Some(average) => {
            weights::blend(&average, &latest, keep).map_err(FitError::WeightAverage)?
        }
        None => latest,
    };
    // A copy of the model with the averaged values: same structure, no fresh build.
    let net =
        weights::load_safetensors(run.model.clone(), &average).map_err(FitError::WeightAverage)?;
    run.average = Some(average);
    Ok(net)
}

/// One pass over the shuffled training data; returns (mean loss, accuracy, last lr), or
/// `None` when a stop was requested before the pass finished.
fn train_epoch(
    cfg: &FitConfig,
    run: &mut Run,
    adversary: &mut Option<AdversaryRun>,
    data: &Prepared,
    recipe: &BatchRecipe<'_>,
    epoch: usize,
    device: &Device,
) -> Result<Option<(f64, f64, f64)>, FitError> {
    let seed = epoch_seed(cfg.seed, epoch);
    ser_model::nets::seed_dropout(seed);
    // Only a fit that holds the global generator's lock may reseed it.
    if let ModelSpec::Network(arch) = &cfg.model
        && arch.draws_global_randomness()
    {
        device.seed(seed);
    }
    let mut rng = SplitMix64::new(seed);
    let n = data.y.len();
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let steps_per_epoch = n.div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let (mut loss_sum, mut correct, mut seen, mut lr) = (0f64, 0usize, 0usize, cfg.lr);
    for chunk in order.chunks(cfg.batch_size) {
        if stop_requested(cfg) {
            return Ok(None);
        }
        // A lone sample makes batch statistics degenerate; it is seen next epoch instead.
        if chunk.len() < 2 && n > 1 {
            continue;
        }
        let batch = recipe.assemble(data, chunk, &mut rng);
        lr = cfg.schedule.lr(
            cfg.lr,
            run.state.step,
            steps_per_epoch,
            total_steps,
            &run.state.schedule,
        );
        let progress = run.state.step as f64 / total_steps.max(1) as f64;
        let adversary = adversary.as_mut().map(|a| {
            let lambda = adversary::ramp(a.weight, progress);
            (a, lambda)
        });
        let (loss, hits) = train_step(run, adversary, batch, data, recipe.classes, lr, device);
        if !loss.is_finite() {
            return Err(FitError::Diverged(epoch));
        }
        run.state.step += 1;
        loss_sum += loss * chunk.len() as f64;
        correct += hits;
        seen += chunk.len();
    }
    let seen = seen.max(1) as f64;
    Ok(Some((loss_sum / seen, correct as f64 / seen, lr)))
}

/// Forward, weighted soft-target cross-entropy (plus the adversary's loss, its gradient
/// reversed below the embedding, with the reversal factor given), backward, AdamW step.
/// Returns the batch loss of the emotions and the number of correct argmax predictions.
fn train_step(
    run: &mut Run,
    adversary: Option<(&mut AdversaryRun, f32)>,
    batch: Batch,
    data: &Prepared,
    classes: usize,
    lr: f64,
    device: &Device,
) -> (f64, usize) {
    let b = batch.labels.len();
    let weight_sum = batch.weights.iter().sum::<f32>().max(1e-12);
    let x = Tensor::<3>::from_data(
        TensorData::new(batch.x, [b, data.rows, data.frames]),
        device,
    );
    let targets = Tensor::<2>::from_data(TensorData::new(batch.targets, [b, classes]), device);
    let weights = Tensor::<1>::from_data(TensorData::new(batch.weights, [b]), device);
    let with_embedding = adversary
        .as_ref()
        .zip(batch.nuisance.as_ref())
        .and_then(|_| run.model.forward_with_embedding(x.clone()));
    let (logits, embedding) = match with_embedding {
        Some((logits, embedding)) => (logits, Some(embedding)),
        None => (run.model.forward(x), None),
    };
    let per_sample: Tensor<1> = (log_softmax(logits.clone(), 1) * targets)
        .sum_dim(1)
        .squeeze_dim(1);
    let loss = (per_sample * weights).sum().neg().div_scalar(weight_sum);
    let loss_value = loss.clone().into_scalar::<f32>() as f64;
    let hits = count_hits(logits, &batch.labels, classes);
    let adversary = adversary.zip(embedding).zip(batch.nuisance.as_deref());
    let Some((((adversary, lambda), embedding), classes_of_batch)) = adversary else {
        let grads = GradientsParams::from_grads(loss.backward(), &run.model);
        run.model = run.optim.step(lr, run.model.clone(), grads);
        return (loss_value, hits);
    };
    let adversary_loss = adversary.head.loss(
        embedding,
        lambda,
        adversary.nuisance,
        classes_of_batch,
        device,
    );
    let mut grads = (loss + adversary_loss).backward();
    let head_grads = GradientsParams::from_module(&mut grads, &adversary.head);
    adversary.head = adversary.optim.step(lr, adversary.head.clone(), head_grads);
    let grads = GradientsParams::from_grads(grads, &run.model);
    run.model = run.optim.step(lr, run.model.clone(), grads);
    (loss_value, hits)
}

fn count_hits(logits: Tensor<2>, labels: &[usize], classes: usize) -> usize {
    let values = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    values
        .chunks(classes)
        .zip(labels)
        .filter(|(row, label)| argmax(row) == **label)
        .count()
}

fn outcome(run: Run, meta: BundleMeta, stopped_early: bool) -> FitOutcome {
    let best_epoch = run.state.best_epoch;
    let mut meta = meta;
    meta.provenance
        .insert("epochs_trained".into(), run.state.epoch.to_string());
    meta.provenance
        .insert("best_epoch".into(), best_epoch.to_string());
    let payload = if run.best_weights.is_empty() {
        weights::to_safetensors(&run.model.valid(), false)
    } else {
        run.best_weights
    };
    let history = TrainingHistory {
        epochs: run.state.reports.iter().map(Into::into).collect(),
        best_epoch: (best_epoch > 0).then_some(best_epoch),
    };
    FitOutcome {
        bundle: Bundle { meta, payload },
        members: Vec::new(),
        history,
        reports: run.state.reports,
        stopped_early,
    }
}
