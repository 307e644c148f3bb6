//! `ser train --data DIR --arch NAME --out model.ser`: trains one model on a dataset (whole
//! speakers held out for early stopping) and saves it as a bundle that `predict`, `eval
//! --model` and the web app can use.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ser_corpus::SplitOptions;
use ser_model::bundle::ModelSpec;
use ser_train::pipeline::{self, TrainRun};

use super::training::{self, FitArgs};
use crate::output;

#[derive(clap::Args)]
pub struct Args {
    /// Dataset: a folder, a ZIP or a manifest CSV.
    #[arg(long)]
    data: PathBuf,
    /// Model to train (e.g. cnn1d-mfcc, cnn4, mlp, svm-rbf, random-forest).
    #[arg(long, visible_alias = "model")]
    arch: String,
    /// Where to write the bundle.
    #[arg(long, default_value = "model.ser")]
    out: PathBuf,
    /// Share of the clips (as whole speakers) held out for early stopping.
    #[arg(long, default_value_t = 0.15)]
    val_fraction: f64,
    /// Keep a checkpoint every epoch in this folder (and the best weights).
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// Continue from the checkpoint in --checkpoints.
    #[arg(long, requires = "checkpoints")]
    resume: bool,
    #[command(flatten)]
    fit: FitArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = ModelSpec::from_name(&args.arch)?;
    let features = args.fit.feature_config(&model)?;
    let dataset = training::open_dataset(&args.data)?;
    let featurised = training::featurise(&dataset, &features, &args.fit)?;
    let mut fit = args.fit.fit_config(model);
    fit.checkpoint_dir = args.checkpoints.clone();
    fit.resume = args.resume;
    let run = TrainRun {
        features,
        fit,
        split: SplitOptions {
            seed: args.fit.seed,
            val_fraction: args.val_fraction,
        },
    };
    let bar = output::progress_bar(args.fit.epochs as u64, &args.arch);
    let trained = pipeline::train(&dataset, &featurised, &run, |epoch| {
        output::report_epoch(&bar, "", epoch)
    })?;
    bar.finish_and_clear();
    trained
        .bundle
        .save(&args.out)
        .with_context(|| format!("cannot save the model to {}", args.out.display()))?;
    println!(
        "trained {} on {} clips ({} held out for validation)",
        args.arch, trained.train_clips, trained.val_clips
    );
    if let Some(metrics) = &trained.validation {
        println!(
            "validation (speakers that chose the epoch, so optimistic): WA {:.1}%  UA {:.1}%",
            100.0 * metrics.wa,
            100.0 * metrics.ua
        );
    }
    println!("model: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
