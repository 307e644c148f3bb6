//! `ser eval`: either cross-validates an architecture under a speaker-independent protocol
//! (`--arch`), or scores a trained bundle on a labelled dataset (`--model`). Both write
//! report.json + report.html.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use ser_corpus::SplitOptions;
use ser_model::bundle::ModelSpec;
use ser_train::pipeline::{self, Experiment, Featurised};
use ser_train::report::EvalReport;

use super::training::{self, FitArgs};
use crate::{default_model, output};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["arch", "model"]))]
pub struct Args {
    /// Dataset: a folder (one sub-folder per emotion, or a known corpus naming scheme),
    /// a ZIP of one, or a manifest CSV.
    #[arg(long)]
    data: PathBuf,
    /// Cross-validate this architecture (e.g. cnn1d-mfcc, mlp, svm-rbf, random-forest).
    #[arg(long)]
    arch: Option<String>,
    /// Score this trained bundle instead ("default" = the shipped model). Only an honest
    /// test when the model never saw the dataset's speakers.
    #[arg(long)]
    model: Option<String>,
    /// Evaluation protocol for --arch: speaker-mod:5, speaker-kfold:5, holdout:21,22,23,24
    /// or random:0.2.
    #[arg(long, default_value = "speaker-mod:5")]
    protocol: String,
    /// Folder for report.json and report.html.
    #[arg(long, default_value = "report")]
    report: PathBuf,
    #[command(flatten)]
    fit: FitArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = match (&args.arch, &args.model) {
        (Some(arch), _) => cross_validate(arch, &args)?,
        (None, Some(model)) => score_bundle(model, &args)?,
        (None, None) => unreachable!("clap requires --arch or --model"),
    };
    let files = ser_train::report::write_report(&args.report, &report)
        .with_context(|| format!("cannot write the report to {}", args.report.display()))?;
    let summary = &report.aggregate;
    println!(
        "{} under {}: WA {}  UA {}  macro-F1 {}",
        report.model.name,
        report.protocol.id,
        summary.wa.percent(),
        summary.ua.percent(),
        summary.macro_f1.percent()
    );
    println!(
        "report: {} and {}",
        files.json.display(),
        files.html.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Cross-validates `model` on the dataset; shared with `ser compare`.
pub fn cross_validate_model(
    dataset: &ser_corpus::Dataset,
    model: ModelSpec,
    protocol: &ser_corpus::Protocol,
    fit_args: &FitArgs,
) -> anyhow::Result<EvalReport> {
    let features = fit_args.feature_config(&model)?;
    let featurised = training::featurise(dataset, &features, fit_args)?;
    let experiment = Experiment {
        features,
        fit: fit_args.fit_config(model),
        protocol: protocol.clone(),
        split: SplitOptions {
            seed: fit_args.seed,
            ..Default::default()
        },
    };
    cross_validate_featurised(dataset, &featurised, &experiment)
}

/// Runs `experiment` on already featurised clips, showing per-epoch progress.
pub fn cross_validate_featurised(
    dataset: &ser_corpus::Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
) -> anyhow::Result<EvalReport> {
    let name = experiment.fit.model.name();
    let bar = Mutex::new(output::progress_bar(experiment.fit.epochs as u64, name));
    let report = pipeline::cross_validate(dataset, featurised, experiment, |fold, epoch| {
        let bar = bar.lock().expect("progress bar lock");
        let prefix = format!("{name} {} fold {} ", experiment.protocol, fold + 1);
        output::report_epoch(&bar, &prefix, epoch);
    })?;
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();
    if let Some(alone) = report.provenance.get(pipeline::MEMBERS_ALONE) {
        eprintln!("ensemble members alone: {alone}");
    }
    Ok(report)
}

fn cross_validate(arch: &str, args: &Args) -> anyhow::Result<EvalReport> {
    let model = ModelSpec::from_name(arch)?;
    let protocol: ser_corpus::Protocol = args.protocol.parse()?;
    let dataset = training::open_dataset(&args.data)?;
    cross_validate_model(&dataset, model, &protocol, &args.fit)
}

fn score_bundle(model: &str, args: &Args) -> anyhow::Result<EvalReport> {
    let bundle = default_model::bundle(Some(model))?;
    let features = bundle
        .meta
        .features
        .clone()
        .with_context(|| format!("{model}: the bundle has no feature settings"))?;
    let dataset = training::open_dataset(&args.data)?;
    let trained_on = bundle.meta.provenance.get("dataset");
    if let Some(trained_on) =
        trained_on.filter(|t| std::path::Path::new(t).file_name() == dataset.root.file_name())
    {
        eprintln!(
            "warning: the model was trained on {trained_on}; unless its speakers were held \
             out, these figures are not a speaker-independent test"
        );
    }
    let featurised = training::featurise(&dataset, &features, &args.fit)?;
    Ok(pipeline::evaluate_bundle(&dataset, &featurised, &bundle)?)
}
