//! `ser worker`: runs training and testing jobs from the database, without serving HTTP,
//! beside `ser serve` processes (e.g. `ser serve --workers 0`) on the same database and
//! data folder.

use std::process::ExitCode;
use std::time::Duration;

use ser_server::ServerConfig;

use super::serve::{Storage, run_server};

#[derive(clap::Args)]
pub struct Args {
    /// The database and data folder of the `ser serve` processes.
    #[command(flatten)]
    pub storage: Storage,
    /// Jobs this worker runs at the same time.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seconds a claim on a running job lasts unless renewed: if this worker dies, another
    /// takes its job over (from its last checkpoint) after this long.
    #[arg(long, default_value_t = 30)]
    pub lease_s: u64,
    /// The voice-activity detector for test jobs (see `ser serve --vad`).
    #[arg(long, default_value_t = ser_audio::vad::Detector::Silero)]
    pub vad: ser_audio::vad::Detector,
}

impl Args {
    fn config(&self) -> ServerConfig {
        ServerConfig {
            database_url: self.storage.database_url(),
            data_dir: self.storage.data_dir.clone(),
            storage_url: self.storage.storage.clone(),
            job_workers: self.workers.max(1),
            job_lease: Duration::from_secs(self.lease_s.max(1)),
            ..ServerConfig::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config();
    run_server(&args.storage.data_dir, args.vad, |engine| {
        ser_server::work(config, engine)
    })
}
