//! The job worker: runs training and testing on blocking threads, one (or a few) at a time,
//! persists progress and broadcasts every change to SSE subscribers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use crate::blobs::Blobs;
use crate::config::ServerConfig;
use crate::engine::{Engine, EngineError, EpochRecord, TrainProgress, TrainSpec};
use crate::error::AppError;
use crate::store::Db;
use crate::store::jobs::{CANCELLED, DONE, FAILED, JobRecord, QUEUED, RESUMED};
use crate::store::models::{DEFAULT_MODEL_ID, ModelRecord};
use crate::store::{duration_ms, new_id, now_ms};

/// How often a running job's progress is written to the database (events go out at once).
const SAVE_EVERY: Duration = Duration::from_millis(500);

/// What a train job was asked to do (the `params` column).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainParams {
    /// What to train, stored flat beside the names.
    #[serde(flatten)]
    pub spec: TrainSpec,
    pub model_name: String,
    pub dataset_name: String,
}

/// What a test job was asked to do (the `params` column).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestParams {
    /// A model id, or `default`.
    pub model_id: String,
    pub model_name: String,
    pub dataset_name: String,
}

/// Live progress of a train job (the `detail` column).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrainDetail {
    #[serde(flatten)]
    latest: TrainProgress,
    history: Vec<EpochRecord>,
}

impl TrainDetail {
    /// Takes a progress report; true when it finished an epoch.
    fn update(&mut self, p: TrainProgress) -> bool {
        let last = self.history.last().map_or(0, |r| r.epoch);
        let ended = p.epoch > last && p.train_loss.is_some();
        if ended && let Some(train_loss) = p.train_loss {
            self.history.push(EpochRecord {
                epoch: p.epoch,
                train_loss,
                train_acc: p.train_acc.unwrap_or(0.0),
                val_loss: p.val_loss,
                val_acc: p.val_acc,
            });
        }
        self.latest = p;
        ended
    }
}

/// A job that runs in this process or that someone here follows.
struct Live {
    events: broadcast::Sender<JobRecord>,
    /// The cancel flag while the job runs here.
    cancel: Option<Arc<AtomicBool>>,
}

impl Live {
    /// The entry of job `id`, made (not running, nobody following yet) if there is none.
    fn of<'a>(live: &'a mut HashMap<String, Live>, id: &str) -> &'a mut Live {
        live.entry(id.to_owned()).or_insert_with(|| Live {
            events: broadcast::channel(64).0,
            cancel: None,
        })
    }
}

/// The jobs this process runs. The queue itself is the `jobs` table: every worker (in a
/// `ser serve` or a `ser worker`, on any machine sharing the database) claims the oldest
/// queued job under a lease it renews while the job runs; a worker that dies stops renewing,
/// and another takes the job over and resumes it from its checkpoints.
pub struct Jobs {
    /// Wakes this process's workers when it queued a job (others find it by polling).
    wake: tokio::sync::Notify,
    /// Event channels of the jobs running or followed here, and the cancel flags of those
    /// running here.
    live: Mutex<HashMap<String, Live>>,
    /// The server is shutting down: running jobs stop where they are and stay unfinished
    /// (resumed from their checkpoints by the next worker), queued ones wait for it.
    pausing: AtomicBool,
    /// This process's name on the leases it holds.
    owner: String,
    /// How long a lease lasts without renewal.
    lease: Duration,
}

impl Jobs {
    pub fn new(lease: Duration) -> Self {
        Self {
            wake: tokio::sync::Notify::new(),
            live: Mutex::new(HashMap::new()),
            pausing: AtomicBool::new(false),
            owner: new_id(),
            lease,
        }
    }

    /// Stops every running job at its next check without finishing it, and starts no more:
    /// for a server that is shutting down.
    pub fn pause_all(&self) {
        self.pausing.store(true, Ordering::Relaxed);
        for cancel in self.live().values().filter_map(|l| l.cancel.as_ref()) {
            cancel.store(true, Ordering::Relaxed);
        }
        self.wake.notify_waiters();
    }

    fn pausing(&self) -> bool {
        self.pausing.load(Ordering::Relaxed)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lease_ms(&self) -> i64 {
        duration_ms(self.lease)
    }

    /// How often an idle worker looks for jobs that other processes queued or left behind.
    fn poll_every(&self) -> Duration {
        (self.lease / 10).clamp(Duration::from_millis(20), Duration::from_secs(1))
    }

    /// How often a running job's lease is renewed (and a cancel request looked for).
    fn renew_every(&self) -> Duration {
        (self.lease / 3).min(Duration::from_secs(2))
    }

    pub fn running_here(&self) -> usize {
        self.live().values().filter(|l| l.cancel.is_some()).count()
    }

    pub(crate) fn is_running_here(&self, id: &str) -> bool {
        self.live().get(id).is_some_and(|l| l.cancel.is_some())
    }

    /// A job was stored as queued: wake a worker of this process.
    pub fn notify_queued(&self) {
        self.wake.notify_one();
    }

    /// Registers a job starting here; its cancel flag. Followers already waiting for it keep
    /// their channel.
    fn track(&self, id: &str) -> Arc<AtomicBool> {
        let cancel = Arc::new(AtomicBool::new(self.pausing()));
        Live::of(&mut self.live(), id).cancel = Some(cancel.clone());
        cancel
    }

    /// Events of a job from whichever worker of this process runs it, from now on (none
    /// while it is queued or runs elsewhere: follow the database then). Hand the receiver
    /// back with [`Self::unfollow`].
    pub fn follow(&self, id: &str) -> broadcast::Receiver<JobRecord> {
        Live::of(&mut self.live(), id).events.subscribe()
    }

    /// Forgets a followed job that does not run here once nobody follows it any more.
    pub fn unfollow(&self, id: &str, receiver: broadcast::Receiver<JobRecord>) {
        drop(receiver);
        let mut live = self.live();
        if live
            .get(id)
            .is_some_and(|l| l.cancel.is_none() && l.events.receiver_count() == 0)
        {
            live.remove(id);
        }
    }

    /// Ask a job running in this process to stop at once (workers elsewhere read the
    /// request from the database with their lease).
    pub fn request_cancel(&self, id: &str) {
        if let Some(cancel) = self.live().get(id).and_then(|l| l.cancel.as_ref()) {
            cancel.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn publish(&self, job: &JobRecord) {
        if let Some(live) = self.live().get(&job.id) {
            // No subscribers is fine.
            let _ = live.events.send(job.clone());
        }
    }

    /// Publish the final state and forget the job.
    pub(crate) fn finish(&self, job: &JobRecord) {
        self.publish(job);
        self.forget(&job.id);
    }

    /// Forget a job that stopped here (finished, paused, or taken over elsewhere); its
    /// followers' channels close, and they follow the database.
    fn forget(&self, id: &str) {
        self.live().remove(id);
    }
}

/// The file the engine writes last when it saves a checkpoint folder (see
/// [`crate::blobs::Blobs::upload_snapshot`]).
const CHECKPOINT_MARKER: &str = "state.json";

/// Where a job's files live: its dataset ZIP and checkpoints in the store (by key), its
/// scratch folder on this machine. A local store in the data folder holds them all in
/// place; with any other store the local copies mirror the keys under the data folder.
pub(crate) struct JobFiles {
    /// The dataset ZIP's key.
    pub upload: String,
    /// The key folder the checkpoints are copied to.
    checkpoints: String,
    /// The engine's scratch folder: `<data_dir>/users/<user>/jobs/<job>`.
    pub work_dir: PathBuf,
    /// Where the upload is received, and where the engine reads it from a remote store.
    pub local_upload: PathBuf,
    /// Raised when the engine reports a finished epoch (it saves the checkpoint next).
    epoch_ended: tokio::sync::Notify,
}

impl JobFiles {
    pub fn new(blobs: &Blobs, user_id: &str, job_id: &str) -> Self {
        let work = format!("users/{user_id}/jobs/{job_id}");
        let upload = format!("users/{user_id}/uploads/{job_id}.zip");
        Self {
            local_upload: blobs.local_copy(&upload),
            work_dir: blobs.local_copy(&work),
            checkpoints: format!("{work}/checkpoints"),
            upload,
            epoch_ended: tokio::sync::Notify::new(),
        }
    }

    /// The engine's checkpoint folder (in the work folder).
    fn checkpoint_dir(&self) -> PathBuf {
        self.work_dir.join("checkpoints")
    }

    /// Moves the received upload into the store.
    pub async fn store_upload(&self, blobs: &Blobs) -> Result<(), AppError> {
        blobs
            .import(&self.upload, &self.local_upload)
            .await
            .map_err(AppError::internal)
    }

    /// The dataset ZIP as a local file, and with `resumed` the checkpoints of the worker
    /// that ran the job before (a local store has both in place).
    async fn fetch(&self, blobs: &Blobs, resumed: bool) -> Result<PathBuf, Failure> {
        let failed = |e: std::io::Error| Failure::from(AppError::internal(e));
        let zip = blobs
            .fetch(&self.upload, &self.local_upload)
            .await
            .map_err(failed)?;
        if resumed {
            blobs
                .download_snapshot(&self.checkpoints, &self.checkpoint_dir())
                .await
                .map_err(failed)?;
        }
        Ok(zip)
    }

    /// Copies the latest settled checkpoint to the store when it is newer than `after`;
    /// returns the time of the one copied.
    async fn store_checkpoint(
        &self,
        blobs: &Blobs,
        after: Option<SystemTime>,
    ) -> Option<SystemTime> {
        let dir = self.checkpoint_dir();
        match blobs
            .upload_snapshot(&dir, &self.checkpoints, CHECKPOINT_MARKER, after)
            .await
        {
            Ok(copied) => copied,
            Err(e) => {
                tracing::warn!(folder = %dir.display(), error = %e, "could not store a checkpoint");
                None
            }
        }
    }

    /// Removes the job's files, in the store and here.
    pub async fn remove(&self, blobs: &Blobs) {
        for removed in [
            blobs.delete(&self.upload).await,
            blobs.delete_all(&self.checkpoints).await,
        ] {
            if let Err(e) = removed {
                tracing::warn!(error = %e, "could not remove a job's stored files");
            }
        }
        let _ = tokio::fs::remove_file(&self.local_upload).await;
        let _ = tokio::fs::remove_dir_all(&self.work_dir).await;
    }
}

/// Copies a training job's checkpoints to the store as they are written, so that a worker
/// on another machine can resume the job; until aborted. It looks shortly after each epoch
/// (the engine reports an epoch, then saves it) and at every lease renewal.
async fn keep_checkpoints_stored(state: Runner, files: Arc<JobFiles>) {
    let mut stored = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(state.jobs.renew_every()) => {}
            _ = files.epoch_ended.notified() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        stored = files
            .store_checkpoint(&state.blobs, stored)
            .await
            .or(stored);
    }
}

/// What the job workers use: the database, the engine, the store and the queue, and the
/// settings for the messages users see; not the web's sessions, rate limits or accounts.
#[derive(Clone)]
pub(crate) struct Runner {
    pub(crate) db: Db,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) blobs: Blobs,
}

/// Starts `config.job_workers` workers in this process (none: it only serves).
pub(crate) fn start_workers(runner: Runner) {
    for _ in 0..runner.config.job_workers {
        let runner = runner.clone();
        tokio::spawn(async move { worker_loop(runner).await });
    }
}

async fn worker_loop(state: Runner) {
    let jobs = &state.jobs;
    while !jobs.pausing() {
        match state.db.claim_next_job(&jobs.owner, jobs.lease_ms()).await {
            Ok(Some((id, resumed))) => {
                if let Err(e) = run_job(&state, &id, resumed).await {
                    tracing::error!(job = %id, error = %e, "job bookkeeping failed");
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = jobs.wake.notified() => {}
                    _ = tokio::time::sleep(jobs.poll_every()) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not look for queued jobs");
                tokio::time::sleep(jobs.poll_every()).await;
            }
        }
    }
}

/// Renews the lease of a job running here until aborted; raises `cancel` when a cancel
/// was requested, and `lost` too when the lease was lost (another worker took the job).
async fn keep_lease(state: Runner, id: String, cancel: Arc<AtomicBool>, lost: Arc<AtomicBool>) {
    let jobs = &state.jobs;
    loop {
        tokio::time::sleep(jobs.renew_every()).await;
        match state
            .db
            .renew_job_lease(&id, &jobs.owner, jobs.lease_ms())
            .await
        {
            Ok(Some(cancel_requested)) => {
                if cancel_requested {
                    cancel.store(true, Ordering::Relaxed);
                }
            }
            Ok(None) => {
                lost.store(true, Ordering::Relaxed);
                cancel.store(true, Ordering::Relaxed);
                return;
            }
            // The lease may still hold until the database answers again.
            Err(e) => tracing::warn!(job = %id, error = %e, "could not renew a job's lease"),
        }
    }
}

/// How a job ended other than successfully.
enum Failure {
    Cancelled,
    Failed(String),
}

impl Failure {
    fn from_engine(state: &Runner, err: EngineError) -> Self {
        match err {
            EngineError::Cancelled => Self::Cancelled,
            EngineError::Input(msg) => Self::Failed(state.config.scrub(&msg)),
            // Jobs read datasets; a clip without speech is not a job's outcome.
            no_speech @ EngineError::NoSpeech(_) => {
                Self::Failed(state.config.scrub(&no_speech.to_string()))
            }
            EngineError::Internal(msg) => {
                tracing::error!(error = %msg, "engine failed");
                Self::Failed(
                    "the engine failed unexpectedly; the error was logged on the server".to_owned(),
                )
            }
        }
    }

    fn from_join(err: tokio::task::JoinError) -> Self {
        tracing::error!(error = %err, "engine task panicked");
        Self::Failed(
            "the engine crashed unexpectedly; the error was logged on the server".to_owned(),
        )
    }
}

impl From<AppError> for Failure {
    fn from(err: AppError) -> Self {
        tracing::error!(error = %err, "job step failed");
        Self::Failed(err.public_message())
    }
}

/// Runs a job this process has claimed, to its end (or until it is paused or taken over).
async fn run_job(state: &Runner, id: &str, resumed: bool) -> Result<(), AppError> {
    let Some(mut job) = state.db.job_by_id(id).await? else {
        return Ok(());
    };
    let owner = &state.jobs.owner;
    let files = Arc::new(JobFiles::new(&state.blobs, &job.user_id, &job.id));
    let cancel = state.jobs.track(id);
    let lost = Arc::new(AtomicBool::new(false));
    let lease = tokio::spawn(keep_lease(
        state.clone(),
        id.to_owned(),
        cancel.clone(),
        lost.clone(),
    ));
    state.jobs.publish(&job);
    let train = job.kind == "train";
    let checkpoints =
        train.then(|| tokio::spawn(keep_checkpoints_stored(state.clone(), files.clone())));
    let outcome = match prepare(state, &files, resumed).await {
        Err(failure) => Err(failure),
        Ok(zip) if train => run_train(state, &mut job, &files, zip, cancel, resumed).await,
        Ok(zip) => run_test(state, &mut job, &files, zip, cancel, resumed).await,
    };
    lease.abort();
    if let Some(task) = checkpoints {
        task.abort();
    }
    if lost.load(Ordering::Relaxed) {
        tracing::warn!(job = %id, "lost the job's lease: another worker took it over");
        state.jobs.forget(id);
        return Ok(());
    }
    if matches!(outcome, Err(Failure::Cancelled)) && state.jobs.pausing() {
        // Paused for a shutdown: the job stays running in the database, with its upload and
        // checkpoints, and the next worker resumes it.
        if train {
            files.store_checkpoint(&state.blobs, None).await;
        }
        state.db.release_job_lease(&job, owner).await?;
        state.jobs.forget(id);
        return Ok(());
    }
    match outcome {
        Ok(()) => {
            job.status = DONE.to_owned();
            job.progress = 1.0;
            job.message = "finished".to_owned();
        }
        Err(Failure::Cancelled) => {
            job.status = CANCELLED.to_owned();
            job.message = "cancelled".to_owned();
        }
        Err(Failure::Failed(message)) => {
            job.status = FAILED.to_owned();
            job.message = message;
        }
    }
    if state.db.finish_job(&job, owner).await? {
        state.jobs.finish(&job);
        files.remove(&state.blobs).await;
    } else {
        state.jobs.forget(id);
    }
    Ok(())
}

/// The job's work folder, and its dataset ZIP (and checkpoints) from the store.
async fn prepare(state: &Runner, files: &JobFiles, resumed: bool) -> Result<PathBuf, Failure> {
    tokio::fs::create_dir_all(&files.work_dir)
        .await
        .map_err(|e| Failure::from(AppError::internal(e)))?;
    files.fetch(&state.blobs, resumed).await
}

/// What a running job says once it was asked to stop (until it does).
pub const CANCELLING: &str = "cancelling: stops at the next clip or batch";

/// Forward engine progress to subscribers and (throttled) to the database until the
/// engine's side of the channel closes; once `cancel` is raised the job says it is
/// cancelling whatever the engine reports, and a job resumed after a restart says so.
async fn pump<P>(
    state: &Runner,
    job: &mut JobRecord,
    mut rx: mpsc::UnboundedReceiver<P>,
    cancel: &AtomicBool,
    resumed: bool,
    mut apply: impl FnMut(&mut JobRecord, P),
) {
    let mut last_save = Instant::now();
    while let Some(p) = rx.recv().await {
        apply(job, p);
        if cancel.load(Ordering::Relaxed) {
            job.message = CANCELLING.to_owned();
        } else if resumed {
            job.message = format!("{} ({RESUMED})", job.message);
        }
        state.jobs.publish(job);
        if last_save.elapsed() >= SAVE_EVERY {
            last_save = Instant::now();
            if let Err(e) = state.db.save_job_progress(job, &state.jobs.owner).await {
                tracing::warn!(error = %e, "could not save job progress");
            }
        }
    }
}

async fn run_train(
    state: &Runner,
    job: &mut JobRecord,
    files: &JobFiles,
    zip: PathBuf,
    cancel: Arc<AtomicBool>,
    resumed: bool,
) -> Result<(), Failure> {
    let params: TrainParams = serde_json::from_value(job.params.clone())
        .map_err(|e| Failure::from(AppError::internal(e)))?;
    let spec = params.spec.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let (engine, work) = (state.engine.clone(), files.work_dir.clone());
    let cancelled = cancel.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut progress = |p: TrainProgress| {
            let _ = tx.send(p);
        };
        engine.train(&zip, &spec, &work, &mut progress, &cancel)
    });
    // A job resumed after a restart keeps the curves of the epochs it already ran.
    let mut detail: TrainDetail = serde_json::from_value(job.detail.clone()).unwrap_or_default();
    pump(
        state,
        job,
        rx,
        &cancelled,
        resumed,
        |job, p: TrainProgress| {
            job.progress = p.fraction().min(0.99);
            job.message = p.phase.clone();
            if detail.update(p) {
                files.epoch_ended.notify_one();
            }
            job.detail = serde_json::to_value(&detail).unwrap_or_default();
        },
    )
    .await;
    let outcome = task
        .await
        .map_err(Failure::from_join)?
        .map_err(|e| Failure::from_engine(state, e))?;
    let model = store_model(state, job, &params, &outcome.bundle, &files.work_dir).await?;
    let metrics = json!({
        "train_accuracy": outcome.train_accuracy,
        "val_accuracy": outcome.val_accuracy,
        "labels": outcome.labels,
        "history": outcome.history,
        "protocol": outcome.protocol,
        "skipped": outcome.skipped,
        "kept_epoch": outcome.kept_epoch,
        "epochs_run": outcome.epochs_run,
        "epochs": params.spec.epochs,
        "augment": params.spec.augment,
        "members": params.spec.members,
        "dataset": params.dataset_name,
    });
    let mut model = model;
    model.metrics = metrics.clone();
    state
        .db
        .insert_model(&job.user_id, &model)
        .await
        .map_err(AppError::from)?;
    let mut result = metrics;
    result["model_id"] = json!(model.id);
    result["model_name"] = json!(model.name);
    job.result = result;
    job.model_id = Some(model.id);
    Ok(())
}

/// Move the engine's bundle into the store under a server-made key.
async fn store_model(
    state: &Runner,
    job: &JobRecord,
    params: &TrainParams,
    bundle: &Path,
    work_dir: &Path,
) -> Result<ModelRecord, Failure> {
    if !bundle.starts_with(work_dir) {
        return Err(AppError::internal("engine wrote the bundle outside its work folder").into());
    }
    let id = new_id();
    let key = format!("users/{}/models/{id}.bundle", job.user_id);
    state
        .blobs
        .import(&key, bundle)
        .await
        .map_err(|e| Failure::from(AppError::internal(e)))?;
    Ok(ModelRecord {
        id,
        name: params.model_name.clone(),
        kind: params.spec.kind.clone(),
        key,
        metrics: serde_json::Value::Null,
        created_at: now_ms(),
    })
}

async fn run_test(
    state: &Runner,
    job: &mut JobRecord,
    files: &JobFiles,
    zip: PathBuf,
    cancel: Arc<AtomicBool>,
    resumed: bool,
) -> Result<(), Failure> {
    let params: TestParams = serde_json::from_value(job.params.clone())
        .map_err(|e| Failure::from(AppError::internal(e)))?;
    let model_path = if params.model_id == DEFAULT_MODEL_ID {
        None
    } else {
        let model = state
            .db
            .model(&job.user_id, &params.model_id)
            .await
            .map_err(AppError::from)?;
        let model = model.ok_or_else(|| {
            Failure::Failed("the model was deleted before the test ran".to_owned())
        })?;
        Some(
            state
                .blobs
                .local_file(&model.key)
                .await
                .map_err(AppError::internal)?,
        )
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let (engine, work) = (state.engine.clone(), files.work_dir.clone());
    let cancelled = cancel.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut progress = |fraction: f32, phase: &str| {
            let _ = tx.send((fraction, phase.to_owned()));
        };
        engine.test(model_path.as_deref(), &zip, &work, &mut progress, &cancel)
    });
    pump(
        state,
        job,
        rx,
        &cancelled,
        resumed,
        |job, (fraction, phase): (f32, String)| {
            job.progress = f64::from(fraction).clamp(0.0, 0.99);
            job.message = phase;
        },
    )
    .await;
    let outcome = task
        .await
        .map_err(Failure::from_join)?
        .map_err(|e| Failure::from_engine(state, e))?;
    let mut result =
        serde_json::to_value(&outcome).map_err(|e| Failure::from(AppError::internal(e)))?;
    result["model_id"] = json!(params.model_id);
    result["model_name"] = json!(params.model_name);
    result["dataset"] = json!(params.dataset_name);
    job.result = result;
    Ok(())
}

/// A new queued job record.
pub(crate) fn new_job(
    user_id: &str,
    kind: &str,
    params: serde_json::Value,
    model_id: Option<String>,
) -> JobRecord {
    let now = now_ms();
    JobRecord {
        id: new_id(),
        user_id: user_id.to_owned(),
        kind: kind.to_owned(),
        status: QUEUED.to_owned(),
        progress: 0.0,
        message: "waiting for a free worker".to_owned(),
        params,
        detail: serde_json::Value::Null,
        result: serde_json::Value::Null,
        model_id,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_params_keep_their_stored_form() {
        // A job stored before the augment and members options.
        let stored = json!({
            "model_kind": "cnn4", "epochs": 5, "model_name": "m", "dataset_name": "d"
        });
        let params: TrainParams = serde_json::from_value(stored).unwrap();
        assert_eq!(params.spec, TrainSpec::new("cnn4", 5));
        let mut spec = params.spec.clone();
        spec.members = 3;
        let again = serde_json::to_value(TrainParams { spec, ..params }).unwrap();
        assert_eq!(again["model_kind"], "cnn4");
        assert_eq!(again["members"], 3);
        assert!(again.get("kind").is_none() && again.get("spec").is_none());
    }
}
