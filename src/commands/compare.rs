//! `ser compare --data DIR --models all`: cross-validates several models under one
//! speaker-independent protocol and writes the comparison table of report 000 (WA, UA,
//! macro-F1 as mean ± std, training time, inference time per clip, parameters), plus each
//! model's own evaluation report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use ser_model::bundle::ModelSpec;
use ser_train::pipeline;
use ser_train::report::{
    ComparisonReport, EvalReport, read_comparison, read_report, write_comparison,
};

use super::eval::{KeptFolds, cross_validate_kept, experiment};
use super::training::{self, DataArgs, FitArgs};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["data", "from_reports"]))]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Build the table from existing report.json files (of `ser eval`, `ser train
    /// --evaluate` or earlier comparisons) instead of training; they must share a dataset
    /// and protocol. A comparison.json adds its rows for models no report.json covers.
    #[arg(long, num_args = 1..)]
    from_reports: Vec<PathBuf>,
    /// Comma-separated model names, or "all".
    #[arg(long, default_value = "all")]
    models: String,
    /// Evaluation protocol (speaker-independent by default: fold k = actors with number mod 5 = k).
    #[arg(long, default_value = "speaker-mod:5")]
    protocol: String,
    /// Folder for comparison.{md,html,json} and one report folder per model (where each
    /// model's finished folds are kept while it runs).
    #[arg(long, default_value = "comparison")]
    report: PathBuf,
    /// Continue an interrupted comparison: models whose report in --report has these same
    /// settings are taken as they are, the interrupted one continues from its finished folds.
    #[arg(long, requires = "data")]
    resume: bool,
    #[command(flatten)]
    fit: FitArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.data.paths.is_empty() {
        write_table(&args, comparison_from_files(&args.from_reports)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let models = model_list(&args.models, &args.fit)?;
    let protocol: ser_corpus::Protocol = args.protocol.parse()?;
    let dataset = args.data.open()?;
    training::note_protocol(&dataset, &protocol);
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for model in models {
        let name = model.name().to_string();
        eprintln!("== {name}");
        match evaluate_model(&args, &dataset, model, &protocol) {
            Ok(report) => {
                eprintln!(
                    "{name}: WA {}  UA {}",
                    report.aggregate.wa.percent(),
                    report.aggregate.ua.percent()
                );
                reports.push(report);
            }
            // One model failing must not throw away the others' hours of work.
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                failed.push(name);
            }
        }
    }
    anyhow::ensure!(!reports.is_empty(), "no model could be evaluated");
    write_table(&args, ComparisonReport::from_reports(&reports)?)?;
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("failed: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}

/// Cross-validates one model into `--report/<model>`, or with `--resume` takes the report an
/// earlier run wrote there for these same settings.
fn evaluate_model(
    args: &Args,
    dataset: &ser_corpus::Dataset,
    model: ModelSpec,
    protocol: &ser_corpus::Protocol,
) -> anyhow::Result<EvalReport> {
    let dir = args.report.join(model.name());
    let features = args.fit.feature_config(&model)?;
    let experiment = experiment(features, model, protocol.clone(), &args.fit)?;
    let featurised = training::featurise(dataset, &experiment.features, &args.fit)?;
    let earlier = dir.join("report.json");
    if args.resume && earlier.is_file() {
        let report = read_report(&earlier)?;
        let differences = pipeline::report_differences(&report, dataset, &featurised, &experiment);
        if differences.is_empty() {
            eprintln!("taken from {}", earlier.display());
            return Ok(report);
        }
        let what: Vec<String> = differences.iter().map(|d| d.what.to_string()).collect();
        eprintln!(
            "{} differs ({}): evaluating again",
            earlier.display(),
            what.join(", ")
        );
    }
    let kept = KeptFolds {
        report_dir: &dir,
        resume: args.resume,
        only: None,
        jobs: args.fit.jobs,
    };
    let (report, _) = cross_validate_kept(dataset, &featurised, &experiment, &kept)?
        .expect("every fold runs when none is singled out");
    Ok(report)
}

/// The rows of `report.json` files, plus those of earlier `comparison.json` files for
/// models the reports do not cover.
fn comparison_from_files(paths: &[PathBuf]) -> anyhow::Result<ComparisonReport> {
    let (earlier, reports): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|p| p.file_name().is_some_and(|n| n == "comparison.json"));
    let reports = reports
        .into_iter()
        .map(|path| Ok(read_report(path)?))
        .collect::<anyhow::Result<Vec<EvalReport>>>()?;
    let mut earlier = earlier.into_iter().map(|path| read_comparison(path));
    let mut comparison = match reports.is_empty() {
        true => earlier.next().context("no reports given")??,
        false => ComparisonReport::from_reports(&reports)?,
    };
    for table in earlier {
        comparison = comparison.merge(table?)?;
    }
    Ok(comparison)
}

/// Writes comparison.{md,html,json} and prints the Markdown table.
fn write_table(args: &Args, mut comparison: ComparisonReport) -> anyhow::Result<()> {
    if !args.data.paths.is_empty() {
        comparison
            .provenance
            .insert("epochs".into(), args.fit.epochs.to_string());
        comparison
            .provenance
            .insert("seed".into(), args.fit.seed.to_string());
    }
    let files = write_comparison(&args.report, &comparison)
        .with_context(|| format!("cannot write {}", args.report.display()))?;
    print!("{}", comparison.to_markdown());
    println!(
        "\ncomparison: {} ({} and {})",
        files.markdown.display(),
        files.html.display(),
        files.json.display()
    );
    Ok(())
}

/// "all" or a comma-separated list, each with the `--set` hyper-parameters; unknown names
/// and settings are refused before any work starts.
fn model_list(spec: &str, fit: &FitArgs) -> anyhow::Result<Vec<ModelSpec>> {
    let names: Vec<&str> = if spec.trim() == "all" {
        ModelSpec::all_names()
    } else {
        spec.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    };
    anyhow::ensure!(!names.is_empty(), "--models names no model");
    names.into_iter().map(|name| fit.model(name)).collect()
}
