//! `ser eval`: either cross-validates an architecture under a speaker-independent protocol
//! (`--arch`), or scores a trained bundle on a labelled dataset (`--model`). Both write
//! report.json + report.html.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use ser_corpus::SplitOptions;
use ser_model::bundle::ModelSpec;
use ser_train::folds::{self, FoldStore};
use ser_train::pipeline::{self, CrossValidation, Experiment, Featurised, FoldEvent, FoldPlan};
use ser_train::report::{EvalReport, ReportFiles};

use super::training::{self, DataArgs, FitArgs};
use crate::{default_model, output};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["arch", "model"]))]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Cross-validate this architecture (e.g. cnn1d-mfcc, mlp, svm-rbf, random-forest).
    #[arg(long)]
    arch: Option<String>,
    /// Score this trained bundle instead ("default" = the shipped model). Only an honest
    /// test when the model never saw the dataset's speakers.
    #[arg(long)]
    model: Option<String>,
    /// Evaluation protocol for --arch: speaker-mod:5, speaker-kfold:5, holdout:21,22,23,24,
    /// corpus-out (several --data: each corpus in turn tested by a model trained on the
    /// others) or random:0.2.
    #[arg(long, default_value = "speaker-mod:5")]
    protocol: String,
    /// Folder for report.json and report.html. While --arch runs, REPORT/folds keeps each
    /// finished fold and the running fold's checkpoints (removed once the report is written).
    #[arg(long, default_value = "report")]
    report: PathBuf,
    /// Continue an interrupted --arch evaluation from REPORT/folds: finished folds are kept,
    /// the running one continues from its last epoch.
    #[arg(long, requires = "arch")]
    resume: bool,
    /// Run only these folds (numbered as in the report: fold k of speaker-mod:5 tests the
    /// speakers whose number mod 5 is k), e.g. 0,2,4 here and 1,3 in a second process on the
    /// same REPORT; whichever run finishes the last fold writes the report.
    #[arg(long, requires = "arch", value_delimiter = ',')]
    folds: Vec<usize>,
    #[command(flatten)]
    fit: FitArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (report, files) = match (&args.arch, &args.model) {
        (Some(arch), _) => match cross_validate(arch, &args)? {
            Some(written) => written,
            None => return Ok(ExitCode::SUCCESS),
        },
        (None, Some(model)) => {
            let report = score_bundle(model, &args)?;
            let files = write_report(&args.report, &report)?;
            (report, files)
        }
        (None, None) => unreachable!("clap requires --arch or --model"),
    };
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

/// The cross-validation of `model` on `features` under `protocol` with the training settings
/// of `fit_args`.
pub fn experiment(
    features: ser_features::FeatureConfig,
    model: ModelSpec,
    protocol: ser_corpus::Protocol,
    fit_args: &FitArgs,
) -> anyhow::Result<Experiment> {
    Ok(Experiment {
        fit: fit_args.fit_config(model, &features)?,
        features,
        protocol,
        split: SplitOptions {
            seed: fit_args.seed,
            ..Default::default()
        },
    })
}

/// Runs the folds of `plan` on already featurised clips, showing per-epoch progress and a
/// line per finished fold.
fn cross_validate_planned(
    dataset: &ser_corpus::Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
    plan: &FoldPlan,
) -> anyhow::Result<CrossValidation> {
    let name = experiment.fit.model.name();
    let bar = Mutex::new(output::progress_bar(experiment.fit.epochs as u64, name));
    // Folds running side by side: the bar follows the one furthest behind.
    let mut running = std::collections::BTreeMap::new();
    let outcome = pipeline::cross_validate(dataset, featurised, experiment, plan, |event| {
        let bar = bar.lock().expect("progress bar lock");
        match event {
            FoldEvent::Epoch(fold, epoch) => {
                let prefix = format!("{name} {} fold {fold} ", experiment.protocol);
                running.insert(fold, epoch.epoch);
                output::report_epoch(&bar, &prefix, epoch);
                bar.set_position(running.values().min().copied().unwrap_or(0) as u64);
            }
            FoldEvent::Finished(result) => {
                running.remove(&result.report.fold);
                output::report_line(
                    &bar,
                    format!(
                        "fold {} finished: WA {:.1} %  UA {:.1} %  ({:.0} s of training)",
                        result.report.fold,
                        100.0 * result.report.metrics.wa,
                        100.0 * result.report.metrics.ua,
                        result.train_seconds
                    ),
                );
            }
        }
    })?;
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();
    if let CrossValidation::Report(report) = &outcome
        && let Some(alone) = report.provenance.get(pipeline::MEMBERS_ALONE)
    {
        eprintln!("ensemble members alone: {alone}");
    }
    Ok(outcome)
}

/// Cross-validates `arch` into `--report`; `None` when other folds are still to run.
fn cross_validate(arch: &str, args: &Args) -> anyhow::Result<Option<(EvalReport, ReportFiles)>> {
    let model = args.fit.model(arch)?;
    let protocol: ser_corpus::Protocol = args.protocol.parse()?;
    let dataset = args.data.open()?;
    training::note_protocol(&dataset, &protocol);
    let features = args.fit.feature_config(&model)?;
    let experiment = experiment(features, model, protocol, &args.fit)?;
    let featurised = training::featurise(&dataset, &experiment.features, &args.fit)?;
    let folds = KeptFolds {
        report_dir: &args.report,
        resume: args.resume,
        only: (!args.folds.is_empty()).then(|| args.folds.clone()),
        jobs: args.fit.jobs,
    };
    cross_validate_kept(&dataset, &featurised, &experiment, &folds)
}

/// Where a cross-validation keeps its finished folds and which it runs.
pub struct KeptFolds<'a> {
    /// The report goes here, the finished folds meanwhile into its `folds` sub-folder.
    pub report_dir: &'a Path,
    /// Continue from folds an earlier run finished.
    pub resume: bool,
    /// Run only these folds (joining the other runs' finished folds).
    pub only: Option<Vec<usize>>,
    /// Folds trained at once (see [`FoldPlan::jobs`]).
    pub jobs: usize,
}

/// Cross-validates keeping each finished fold (and the running fold's checkpoints) on disk,
/// then writes the report and drops the folds; `None` when folds are still to run elsewhere.
pub fn cross_validate_kept(
    dataset: &ser_corpus::Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
    kept: &KeptFolds,
) -> anyhow::Result<Option<(EvalReport, ReportFiles)>> {
    let settings = pipeline::evaluation_settings(dataset, featurised, experiment);
    let dir = kept.report_dir.join("folds");
    let store = FoldStore::open(&dir, &settings, kept.resume || kept.only.is_some())?;
    let finished = store.finished_folds()?;
    if !finished.is_empty() {
        eprintln!(
            "continuing: folds {} are finished in {}",
            folds::list(&finished),
            dir.display()
        );
    }
    let plan = FoldPlan {
        store: Some(store.clone()),
        only: kept.only.clone(),
        jobs: kept.jobs,
    };
    match cross_validate_planned(dataset, featurised, experiment, &plan)? {
        CrossValidation::Report(report) => {
            let files = write_report(kept.report_dir, &report)?;
            // The report now holds what the finished folds held.
            if let Err(e) = store.remove() {
                eprintln!("warning: {e}");
            }
            Ok(Some((*report, files)))
        }
        CrossValidation::Unfinished { missing } => {
            println!(
                "folds {} finished in {}; folds {} are not finished yet (running in another \
                 process, or still to run: --folds, or --resume for all); the run that finishes \
                 the last one writes the report",
                folds::list(kept.only.as_deref().unwrap_or_default()),
                dir.display(),
                folds::list(&missing)
            );
            Ok(None)
        }
    }
}

fn write_report(dir: &Path, report: &EvalReport) -> anyhow::Result<ReportFiles> {
    ser_train::report::write_report(dir, report)
        .with_context(|| format!("cannot write the report to {}", dir.display()))
}

/// The corpus of `dataset` when the bundle was trained on it.
fn training_corpus_of(
    meta: &ser_model::BundleMeta,
    dataset: &ser_corpus::Dataset,
) -> Option<String> {
    let name = ser_corpus::corpus_name_of(&dataset.root);
    pipeline::trained_on_corpus(meta, &name).then_some(name)
}

fn score_bundle(model: &str, args: &Args) -> anyhow::Result<EvalReport> {
    let bundle = default_model::bundle(Some(model))?;
    let features = bundle
        .meta
        .features
        .clone()
        .with_context(|| format!("{model}: the bundle has no feature settings"))?;
    let dataset = args.data.open()?;
    if let Some(corpus) = training_corpus_of(&bundle.meta, &dataset) {
        eprintln!(
            "warning: the model was trained on {corpus} ({}); unless these speakers were held \
             out, these figures are not a speaker-independent test",
            pipeline::trained_on(&bundle.meta)
        );
    }
    let featurised = training::featurise(&dataset, &features, &args.fit)?;
    Ok(pipeline::evaluate_bundle(
        &dataset,
        &featurised,
        &bundle,
        &args.data.merge_pairs()?,
    )?)
}
