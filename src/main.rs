//! `ser`: the command-line front end. Argument parsing and output formatting only;
//! the work lives in the library crates.

mod commands;
mod output;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ser",
    version,
    about = "Speech emotion recognition: decode, featurise, train, evaluate, predict, serve."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show format, sample rate, channels and duration of audio files.
    Info(commands::info::Args),
    /// Cross-validate a model on a dataset and write an evaluation report.
    Eval(commands::eval::Args),
    /// Compute a named feature set for audio files.
    Features(commands::features::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => commands::info::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Features(args) => commands::features::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
