//! `ser train --data DIR --arch NAME --out model.ser`: trains one model on a dataset (whole
//! speakers held out for early stopping) and saves it as a bundle that `predict`, `eval
//! --model` and the web app can use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ser_corpus::SplitOptions;
use ser_features::FeatureConfig;
use ser_model::bundle::ModelSpec;
use ser_train::pipeline::{self, Featurised, TrainRun};
use ser_train::report::{EvalReport, read_report};

use super::eval::{KeptFolds, cross_validate_kept, experiment};
use super::training::{self, DataArgs, FitArgs};
use crate::output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Model to train (e.g. cnn1d-mfcc, cnn4, mlp, svm-rbf, random-forest).
    #[arg(long, visible_alias = "model")]
    arch: String,
    /// Where to write the bundle.
    #[arg(long, default_value = "model.ser")]
    out: PathBuf,
    /// Share of the clips (as whole speakers) held out for early stopping.
    #[arg(long, default_value_t = TrainRun::DEFAULT_VAL_FRACTION)]
    val_fraction: f64,
    /// Keep a checkpoint every epoch in this folder (and the best weights).
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// Continue an interrupted run: the cross-validations of --evaluate from the folds they
    /// finished (kept in --reports), the final training from --checkpoints.
    #[arg(long)]
    resume: bool,
    /// Before training, cross-validate the same settings under these protocols (repeatable,
    /// e.g. speaker-mod:5 and holdout:21,22,23,24); the figures go into the bundle's metrics
    /// and each report into --reports.
    #[arg(long = "evaluate")]
    evaluate: Vec<String>,
    /// Take the figures of an earlier `ser eval --arch` run of these same settings (its report
    /// folder or report.json) instead of cross-validating again, e.g. after running the
    /// protocols in parallel; refused when its model, features, seed, epochs, training
    /// settings (crops, optimiser, augmentation, ...) or data differ.
    #[arg(long = "evaluated")]
    evaluated: Vec<PathBuf>,
    /// Folder for the reports of --evaluate (one sub-folder per protocol).
    #[arg(long, default_value = "reports")]
    reports: PathBuf,
    #[command(flatten)]
    fit: FitArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = args.fit.model(&args.arch)?;
    let features = args.fit.feature_config(&model)?;
    let mut fit = args.fit.fit_config(model.clone(), &features)?;
    let dataset = args.data.open()?;
    let featurised = training::featurise(&dataset, &features, &args.fit)?;
    // Earlier reports are read and checked first: a mismatch should not wait for hours of
    // cross-validation.
    let mut evaluations = serde_json::Map::new();
    for path in &args.evaluated {
        let (protocol, figures) = evaluated(path, &args, &dataset, &featurised, &features, &model)?;
        if evaluations.insert(protocol.clone(), figures).is_some() {
            anyhow::bail!("{protocol} is evaluated twice (--evaluated)");
        }
    }
    evaluate(
        &args,
        &dataset,
        &featurised,
        &features,
        &model,
        &mut evaluations,
    )?;
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
    let mut bundle = trained.bundle;
    use_unseen_corpus_temperature(&mut bundle, &evaluations);
    if !evaluations.is_empty() {
        bundle.meta.metrics["speaker_independent"] = serde_json::Value::Object(evaluations);
    }
    bundle
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

/// A model evaluated under corpus-out takes the temperature fitted on corpora its folds never
/// heard instead of the one from its own validation speakers: it is meant for voices and rooms
/// it never heard, and in-corpus validation makes it surer than it should be there.
fn use_unseen_corpus_temperature(
    bundle: &mut ser_model::Bundle,
    evaluations: &serde_json::Map<String, serde_json::Value>,
) {
    let Some(t) = evaluations
        .values()
        .find_map(|figures| figures[UNSEEN_CORPUS_TEMPERATURE].as_f64())
    else {
        return;
    };
    let validation = bundle
        .meta
        .temperature
        .map_or("none".to_string(), |v| format!("{v:.2}"));
    bundle.meta.temperature = Some(t as f32);
    let note = format!(
        "{t:.2}, fitted on the corpus-out test corpora (for corpora not in training; the \
         validation speakers gave {validation})"
    );
    println!("temperature: {note}");
    bundle.meta.provenance.insert("temperature".into(), note);
}

/// The key of the figures that holds a corpus-out report's unseen-corpus temperature.
const UNSEEN_CORPUS_TEMPERATURE: &str = "unseen_corpus_temperature";

/// The key of the figures that holds, per held-out corpus, the ECE under the temperature
/// fitted on the other held-out corpora (`ser info` shows it).
pub const UNSEEN_CORPUS_ECE: &str = "unseen_corpus_ece";

/// Cross-validates the training settings under each `--evaluate` protocol, writes the
/// reports, and adds per protocol the figures to keep in the bundle to `figures` (which
/// holds those of `--evaluated`).
fn evaluate(
    args: &Args,
    dataset: &ser_corpus::Dataset,
    featurised: &Featurised,
    features: &FeatureConfig,
    model: &ModelSpec,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let experiments = args
        .evaluate
        .iter()
        .map(|protocol| {
            let experiment = experiment(
                features.clone(),
                model.clone(),
                protocol.parse()?,
                &args.fit,
            )?;
            if figures.contains_key(&experiment.protocol.to_string()) {
                anyhow::bail!("{protocol} is evaluated twice (--evaluate and --evaluated)");
            }
            Ok((protocol, experiment))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (protocol, experiment) in experiments {
        let dir = args.reports.join(protocol.replace([':', ','], "-"));
        let kept = KeptFolds {
            report_dir: &dir,
            resume: args.resume,
            only: None,
            jobs: args.fit.jobs,
        };
        let (report, _) = cross_validate_kept(dataset, featurised, &experiment, &kept)?
            .expect("every fold runs when none is singled out");
        figures.insert(protocol.clone(), bundle_figures(&report, &dir));
    }
    Ok(())
}

/// Reads an earlier report of the same training settings (`--evaluated`) and returns its
/// protocol and figures, after checking that it evaluated what this run trains.
fn evaluated(
    path: &Path,
    args: &Args,
    dataset: &ser_corpus::Dataset,
    featurised: &Featurised,
    features: &FeatureConfig,
    model: &ModelSpec,
) -> anyhow::Result<(String, serde_json::Value)> {
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let report = read_report(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let experiment = experiment(
        features.clone(),
        model.clone(),
        report.protocol.id.parse()?,
        &args.fit,
    )?;
    for difference in pipeline::report_differences(&report, dataset, featurised, &experiment) {
        match difference.theirs {
            None if difference.what == pipeline::Setting::Training => eprintln!(
                "warning: {} does not record its training settings (an older report), so only \
                 its model, seed, epochs and data are checked",
                file.display()
            ),
            theirs => anyhow::bail!(
                "{} evaluated {}\n  {}\nthis run trains\n  {}\nnot the same settings",
                file.display(),
                difference.what,
                theirs.as_deref().unwrap_or("(not recorded)"),
                difference.ours
            ),
        }
    }
    Ok((report.protocol.id.clone(), bundle_figures(&report, &file)))
}

/// Prints a report's figures and returns what the bundle keeps of them.
fn bundle_figures(report: &EvalReport, source: &Path) -> serde_json::Value {
    let summary = &report.aggregate;
    println!(
        "{}: WA {}  UA {}  macro-F1 {}  (report: {})",
        report.protocol.id,
        summary.wa.percent(),
        summary.ua.percent(),
        summary.macro_f1.percent(),
        source.display()
    );
    let ece =
        |s: &ser_train::metrics::FoldSummary| s.pooled.probability.as_ref().and_then(|p| p.ece);
    let per_corpus: serde_json::Map<String, serde_json::Value> = report
        .by_group
        .iter()
        .map(|(group, s)| {
            println!("  {group}: WA {}  UA {}", s.wa.percent(), s.ua.percent());
            let figures = serde_json::json!({
                "wa": s.wa, "ua": s.ua, "macro_f1": s.macro_f1, "ece": ece(s),
                "clips": s.pooled.n_samples,
            });
            (group.clone(), figures)
        })
        .collect();
    let mut figures = serde_json::json!({
        "wa": summary.wa,
        "ua": summary.ua,
        "macro_f1": summary.macro_f1,
        "ece": ece(summary),
        "folds": report.folds.len(),
        "members_alone": report.provenance.get(pipeline::MEMBERS_ALONE),
        "description": report.protocol.description,
        "labels": report.labels,
    });
    if !per_corpus.is_empty() {
        figures["per_corpus"] = serde_json::Value::Object(per_corpus);
    }
    if let Some(t) = report.unseen_corpus_temperature {
        figures[UNSEEN_CORPUS_TEMPERATURE] = serde_json::json!(t);
        // Each held-out corpus's ECE under the temperature fitted on the others only.
        let ece: serde_json::Map<String, serde_json::Value> = report
            .folds
            .iter()
            .filter_map(|f| {
                let corpus = ser_corpus::corpus_of_speaker(f.test_speakers.first()?)?;
                Some((corpus.to_string(), serde_json::json!(f.unseen_corpus?.ece)))
            })
            .collect();
        figures[UNSEEN_CORPUS_ECE] = serde_json::Value::Object(ece);
    }
    figures
}
