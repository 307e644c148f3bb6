//! `ser serve`: the web application and JSON API, with the shipped model for predictions and
//! real training and testing jobs (see [`crate::engine::MlEngine`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use ser_server::ServerConfig;

use crate::engine::MlEngine;

const MB: u64 = 1024 * 1024;

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub storage: Storage,
    /// Training/testing jobs this process runs at the same time; 0 runs none and leaves
    /// them to `ser worker` processes on the same database and data folder.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Largest audio file accepted for prediction, in MB.
    #[arg(long, default_value_t = 25)]
    pub max_audio_mb: u64,
    /// Most files in one prediction request.
    #[arg(long, default_value_t = 50)]
    pub max_files: usize,
    /// Largest dataset ZIP accepted for training or testing, in MB.
    #[arg(long, default_value_t = 500)]
    pub max_zip_mb: u64,
    /// Mark the session cookie Secure (set this behind HTTPS).
    #[arg(long)]
    pub secure_cookies: bool,
    /// Take the client address from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// Contact address shown in the page footer.
    #[arg(long)]
    pub contact_email: Option<String>,
    /// The voice-activity detector that finds the speech of long uploads: silero (the
    /// Silero VAD network) or energy (frame levels; takes any sound that rises and falls,
    /// such as test tones, for speech).
    #[arg(long, default_value_t = ser_audio::vad::Detector::Silero)]
    pub vad: ser_audio::vad::Detector,
}

/// Where the state of `ser serve` and `ser worker` lives; replicas and workers share it.
#[derive(clap::Args)]
pub struct Storage {
    /// Database URL: sqlite://FILE or postgres://... (default: ser.db in --data-dir).
    #[arg(long)]
    pub database: Option<String>,
    /// Local folder (created if missing): job work folders, the default database, and
    /// without --storage also the uploads, checkpoints and trained models.
    #[arg(long, default_value = "ser-data")]
    pub data_dir: PathBuf,
    /// Where uploads, checkpoints and trained models are kept, shared by replicas and
    /// workers: a folder, file:///path or s3://bucket/prefix (S3 or any S3-compatible
    /// service; credentials, region and endpoint from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT, and AWS_ALLOW_HTTP=true for a plain
    /// http endpoint). Default: --data-dir. With a remote store --data-dir holds local copies.
    #[arg(long)]
    pub storage: Option<String>,
}

impl Storage {
    /// The database URL: the one given, else ser.db in the data folder.
    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ser.db").display()
            )
        })
    }
}

impl Args {
    fn config(&self) -> ServerConfig {
        let defaults = ServerConfig::default();
        ServerConfig {
            addr: self.addr,
            database_url: self.storage.database_url(),
            data_dir: self.storage.data_dir.clone(),
            storage_url: self.storage.storage.clone(),
            secure_cookies: self.secure_cookies,
            trust_forwarded_for: self.trust_forwarded_for,
            max_audio_bytes: self.max_audio_mb.saturating_mul(MB),
            max_predict_files: self.max_files.max(1),
            max_zip_bytes: self.max_zip_mb.saturating_mul(MB),
            job_workers: self.workers,
            contact_email: self
                .contact_email
                .clone()
                .unwrap_or(defaults.contact_email.clone()),
            ..defaults
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config();
    run_server(&args.storage.data_dir, args.vad, |engine| {
        ser_server::serve(config, engine)
    })
}

/// Logging, the data folder, the engine and the async runtime of `ser serve` and `ser
/// worker`; runs `main` on them.
pub(crate) fn run_server<F>(
    data_dir: &std::path::Path,
    vad: ser_audio::vad::Detector,
    main: impl FnOnce(Arc<dyn ser_server::Engine>) -> F,
) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = Result<(), ser_server::ServerError>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into()),
        )
        .init();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let engine = Arc::new(
        MlEngine::new()
            .context("cannot load the shipped model")?
            .with_vad(vad),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ran = runtime.block_on(main(engine));
    // A paused job's engine thread stops at its next check (a batch, a clip); one inside a
    // step it cannot leave (a large SVM fit) must not hold the exit: its job resumes later.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ran?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn defaults_put_the_database_in_the_data_dir() {
        let cli = Cli::parse_from(["serve", "--data-dir", "/tmp/x", "--max-audio-mb", "2"]);
        let config = cli.args.config();
        assert_eq!(config.database_url, "sqlite:///tmp/x/ser.db?mode=rwc");
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_audio_bytes, 2 * MB);
        assert_eq!(config.max_zip_bytes, 500 * MB);
    }
}
