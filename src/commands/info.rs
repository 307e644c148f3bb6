//! `ser info FILE...`: container, codec, rate, channels and duration per file.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output::table;

#[derive(clap::Args)]
pub struct Args {
    /// Audio files to inspect.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let mut failures = 0;
    for path in &args.files {
        match ser_audio::probe(path) {
            Ok(info) => {
                rows.push(vec![
                    path.display().to_string(),
                    info.container.clone(),
                    info.codec.clone(),
                    info.sample_rate.to_string(),
                    info.channels.to_string(),
                    info.bits_per_sample.map_or("-".into(), |b| b.to_string()),
                    format!("{:.3}", info.duration_s),
                ]);
                json_rows.push(serde_json::json!({ "file": path, "info": info }));
            }
            Err(err) => {
                failures += 1;
                eprintln!("error: {err}");
                json_rows.push(serde_json::json!({ "file": path, "error": err.to_string() }));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json_rows)?);
    } else if !rows.is_empty() {
        let header = [
            "file",
            "container",
            "codec",
            "rate",
            "channels",
            "bits",
            "seconds",
        ];
        print!("{}", table(&header, &rows));
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
