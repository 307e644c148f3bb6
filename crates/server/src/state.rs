//! Shared application state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ServerConfig;
use crate::engine::Engine;
use crate::error::ServerError;
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
        let db = Db::connect(&config.database_url).await?;
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

    /// `<data_dir>/users/<user id>`; user ids are server-generated hex, so this stays inside.
    pub(crate) fn user_dir(&self, user_id: &str) -> PathBuf {
        self.config.data_dir.join("users").join(user_id)
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
