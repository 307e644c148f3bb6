//! Shared application state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::accounts::Accounts;
use crate::blobs::Blobs;
use crate::config::ServerConfig;
use crate::engine::Engine;
use crate::error::ServerError;
use crate::jobs::{self, Jobs, Runner};
use crate::store::Db;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) db: Db,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) jobs: Arc<Jobs>,
    /// Uploads, checkpoints and models, by key.
    pub(crate) blobs: Blobs,
    /// Sign-up, sign-in and sessions.
    pub(crate) accounts: Accounts,
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
        let config = Arc::new(config);
        let state = Self {
            accounts: Accounts::new(db.clone(), config.clone()).await?,
            jobs: Arc::new(Jobs::new(config.job_lease)),
            blobs,
            config,
            engine,
            db,
        };
        // Jobs left queued, or running under a lease that runs out (a worker that stopped),
        // are claimed from the database by these or any other process's workers.
        jobs::start_workers(Runner {
            db: state.db.clone(),
            config: state.config.clone(),
            engine: state.engine.clone(),
            jobs: state.jobs.clone(),
            blobs: state.blobs.clone(),
        });
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
}

fn prepare_data_dir(dir: &Path) -> Result<PathBuf, ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir.join("users")).map_err(err)?;
    dir.canonicalize().map_err(err)
}
