//! Server settings. Every limit a user can run into is configurable here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings for [`crate::serve`] and [`crate::AppState::new`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// `sqlite://...` (default) or `postgres://...`.
    pub database_url: String,
    /// Local folder: job work folders, and files fetched from a remote store (`<data_dir>/users/<id>/...`);
    /// with no `storage_url` also the store of uploads, checkpoints and models.
    pub data_dir: PathBuf,
    /// Where uploads, checkpoints and models are kept when not in `data_dir`: a folder,
    /// `file:///path`, `s3://bucket/prefix` (credentials and endpoint from `AWS_*`
    /// variables) or `memory://name` (this process only). Replicas and workers share it.
    pub storage_url: Option<String>,
    /// Mark the session cookie `Secure`; set when the server sits behind HTTPS.
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Largest audio file accepted for prediction.
    pub max_audio_bytes: u64,
    /// Most files in one prediction request.
    pub max_predict_files: usize,
    /// Largest dataset ZIP accepted for training or testing.
    pub max_zip_bytes: u64,
    /// Training/testing jobs this process runs at the same time (0: it runs none, and
    /// leaves them to other processes on the same database, e.g. `ser worker`).
    pub job_workers: usize,
    /// How long a worker's claim on a running job lasts unless renewed (it renews every
    /// third of it, at most every 2 s): a worker that dies leaves its job to another after
    /// this long. Leases are timestamps from each worker's clock, so the clocks of machines
    /// sharing a database must agree to well within this (NTP does).
    pub job_lease: Duration,
    /// Failed sign-ins allowed per client address and per email within `signin_window`.
    pub signin_attempts: usize,
    /// Window for `signin_attempts`.
    pub signin_window: Duration,
    /// Shown in the page footer's contact section.
    pub contact_email: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://ser.db?mode=rwc".to_owned(),
            data_dir: PathBuf::from("data"),
            storage_url: None,
            secure_cookies: false,
            trust_forwarded_for: false,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_audio_bytes: 25 * 1024 * 1024,
            max_predict_files: 50,
            max_zip_bytes: 500 * 1024 * 1024,
            job_workers: 1,
            job_lease: Duration::from_secs(30),
            signin_attempts: 10,
            signin_window: Duration::from_secs(5 * 60),
            contact_email: "hello@ser.example".to_owned(),
        }
    }
}

impl ServerConfig {
    /// Body limit for a prediction request: every file at its limit plus form overhead.
    pub(crate) fn max_predict_body(&self) -> usize {
        let files = self
            .max_audio_bytes
            .saturating_mul(self.max_predict_files as u64);
        usize::try_from(files.saturating_add(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// Body limit for a dataset upload: the ZIP plus form overhead.
    pub(crate) fn max_dataset_body(&self) -> usize {
        usize::try_from(self.max_zip_bytes.saturating_add(1024 * 1024)).unwrap_or(usize::MAX)
    }

    /// Remove server paths from an engine message before a user sees it.
    pub(crate) fn scrub(&self, message: &str) -> String {
        let data_dir = self.data_dir.display().to_string();
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

/// "25 MB" style text for limits shown to people.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= 1024 * MB && bytes.is_multiple_of(1024 * MB) {
        format!("{} GB", bytes / (1024 * MB))
    } else if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}
