//! `ser`: the command-line front end. Argument parsing and output formatting only;
//! the work lives in the library crates.

mod commands;
mod default_model;
mod engine;
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
    /// Predict the emotion of audio files (the shipped model unless --model is given).
    Predict(commands::predict::Args),
    /// The emotion of live audio (raw PCM on standard input, or a file), one line per hop.
    Listen(commands::listen::Args),
    /// Join the parts of a sharded `ser predict --shard I/N --out part.jsonl` into one file.
    Merge(commands::merge::Args),
    /// Train a model on a dataset and save it as a bundle.
    Train(commands::train::Args),
    /// Cross-validate several models under one protocol: the model-comparison table.
    Compare(commands::compare::Args),
    /// Measure prediction, feature and training speed on this machine.
    Bench(commands::bench::Args),
    /// Show format, sample rate, channels and duration of audio files.
    Info(commands::info::Args),
    /// Cross-validate a model on a dataset and write an evaluation report.
    Eval(commands::eval::Args),
    /// Compute a named feature set for audio files.
    Features(commands::features::Args),
    /// Run the web application and JSON API.
    Serve(commands::serve::Args),
    /// Run training and testing jobs from the database, beside `ser serve` processes.
    Worker(commands::worker::Args),
}

fn main() -> std::process::ExitCode {
    ser_model::keep_large_buffers_in_heap();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        quit_quietly_on_a_closed_pipe();
    }
    let result = match cli.command {
        Command::Predict(args) => commands::predict::run(args),
        Command::Merge(args) => commands::merge::run(args),
        Command::Listen(args) => commands::listen::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Features(args) => commands::features::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Worker(args) => commands::worker::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `ser ... | head` ends as other Unix tools do when the reader goes away (quietly, by
/// SIGPIPE) instead of panicking on the next print. Rust ignores SIGPIPE so that sockets
/// report EPIPE as an error; the server keeps that.
fn quit_quietly_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any other thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
