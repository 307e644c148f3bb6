//! Shared application state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blobs::Blobs;
use crate::config::ServerConfig;
use crate::engine::Engine;
use crate::error::{AppError, ServerError};
use crate::jobs::{self, Jobs};
use crate::ratelimit::RateLimiter;
use crate::store::Db;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) db: Db,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) limiter: Arc<RateLimiter>,
    /// Uploads, checkpoints and models, by key.
    pub(crate) blobs: Blobs,
    /// A real Argon2 hash, verified against when the email is unknown so that sign-in takes
    /// the same time whether or not an account exists.
    pub(crate) dummy_hash: Arc<String>,
}

impl AppState {
    /// Open storage (running migrations) and start the job workers (`job_workers`, none for a
    /// process that only serves). Needs a Tokio runtime.
    pub async fn new(
        mut config: ServerConfig,
        engine: Arc<dyn Engine>,
    ) -> Result<Self, ServerError> {
        config.data_dir = prepare_data_dir(&config.data_dir)?;
        let blobs = Blobs::open(config.storage_url.as_deref(), &config.data_dir)?;
        let db = Db::connect(&config.database_url).await?;
        if let Some(root) = blobs.local_root() {
            db.relativise_model_paths(root).await?;
        }
        db.purge_expired_sessions().await?;
        let dummy_hash =
            tokio::task::spawn_blocking(|| crate::auth::hash_password("not-a-real-password"))
                .await
                .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?
                .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        let state = Self {
            limiter: Arc::new(RateLimiter::new(
                config.signin_attempts,
                config.signin_window,
            )),
            jobs: Arc::new(Jobs::new(config.job_lease)),
            blobs,
            config: Arc::new(config),
            engine,
            db,
            dummy_hash: Arc::new(dummy_hash),
        };
        // Jobs left queued, or running under a lease that runs out (a worker that stopped),
        // are claimed from the database by these or any other process's workers.
        jobs::start_workers(&state);
        Ok(state)
    }

    /// For a shutdown: running jobs stop at their next check without finishing (the next
    /// server resumes them from their checkpoints) and no queued job starts.
    pub fn pause_jobs(&self) {
        self.jobs.pause_all();
    }

    /// Jobs running in this process now.
    pub fn jobs_running_here(&self) -> usize {
        self.jobs.running_here()
    }

    /// A local file holding the model bundle under `key`, fetched from a remote store into
    /// the data folder the first time (a model's key names content that never changes).
    pub(crate) async fn model_file(&self, key: &str) -> Result<PathBuf, AppError> {
        self.blobs
            .fetch(key, &self.local_mirror(key))
            .await
            .map_err(|e| AppError::internal(format!("model {key}: {e}")))
    }

    /// Where this process keeps its local copy of `key`: `<data_dir>/<key>`, which is the
    /// key's own file when the store is the data folder. Keys are made by the server from
    /// its own ids, so this stays inside.
    pub(crate) fn local_mirror(&self, key: &str) -> PathBuf {
        self.config.data_dir.join(key)
    }

    /// Remove a deleted model's bundle from the store and from this process's cache (other
    /// processes' cached copies stay until their data folder is cleaned).
    pub(crate) async fn remove_model_file(&self, key: &str) {
        if let Err(e) = self.blobs.delete(key).await {
            tracing::warn!(model = %key, error = %e, "could not remove the model's bundle");
        }
        let _ = tokio::fs::remove_file(self.local_mirror(key)).await;
    }

    /// Remove server paths from an engine message before a user sees it.
    pub(crate) fn scrub(&self, message: &str) -> String {
        let data_dir = self.config.data_dir.display().to_string();
        let mut text = message
            .replace(&format!("{data_dir}/"), "")
            .replace(&data_dir, "");
        // Whatever path is left (e.g. under users/<id>/jobs/<id>/) names server layout.
        if let Some(start) = text.find("users/") {
            let end = text[start..]
                .find([':', ' ', '\n', '"', '\''])
                .map_or(text.len(), |e| start + e);
            let file = text[start..end].rsplit('/').next().unwrap_or("").to_owned();
            text.replace_range(start..end, &file);
        }
        text
    }
}

fn prepare_data_dir(dir: &Path) -> Result<PathBuf, ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir.join("users")).map_err(err)?;
    dir.canonicalize().map_err(err)
}
