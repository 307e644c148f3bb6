//! `ser eval --arch NAME --data DIR --protocol P --report OUT`: cross-validates a model
//! architecture on a dataset under a speaker-independent protocol and writes
//! report.json + report.html.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ser_audio::augment::AugmentSpec;
use ser_corpus::{CacheMode, FeatureCache, OpenOptions, SplitOptions};
use ser_features::FeatureConfig;
use ser_model::bundle::ModelSpec;
use ser_train::fit::FitConfig;
use ser_train::pipeline::{self, Augmentation, Experiment};

#[derive(clap::Args)]
pub struct Args {
    /// Dataset: a folder (one sub-folder per emotion, or a known corpus naming scheme),
    /// a ZIP of one, or a manifest CSV.
    #[arg(long)]
    data: PathBuf,
    /// Model to cross-validate (e.g. cnn1d-mfcc, mlp, svm-rbf, random-forest).
    #[arg(long)]
    arch: String,
    /// Feature set (default: the one that suits the model's input).
    #[arg(long)]
    features: Option<String>,
    /// Evaluation protocol: speaker-mod:5, speaker-kfold:5, holdout:21,22,23,24 or random:0.2.
    #[arg(long, default_value = "speaker-mod:5")]
    protocol: String,
    /// Training epochs (networks).
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Seed for splits, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for report.json and report.html.
    #[arg(long, default_value = "report")]
    report: PathBuf,
    /// Augmented copies of each training clip (noise, shift, stretch, pitch, gain; the
    /// default policy of ser-audio). Validation and test clips are never augmented.
    #[arg(long, default_value_t = 0)]
    augment: usize,
    /// Recompute features instead of using the feature cache.
    #[arg(long)]
    no_cache: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let model = ModelSpec::from_name(&args.arch)?;
    let features =
        FeatureConfig::named(args.features.as_deref().unwrap_or(default_features(&model)))?;
    let protocol: ser_corpus::Protocol = args.protocol.parse()?;
    let dataset = ser_corpus::open_dataset(&args.data, &OpenOptions::default())?;
    eprintln!("{}", dataset.summary());

    let mode = if args.no_cache {
        CacheMode::Off
    } else {
        CacheMode::ReadWrite
    };
    let cache = FeatureCache::new(FeatureCache::default_dir(), mode);
    let bar = progress_bar(dataset.clips.len() as u64, "featurising");
    let augmentation = (args.augment > 0).then(|| Augmentation {
        spec: AugmentSpec::default(),
        copies: args.augment,
        seed: args.seed,
    });
    let featurised =
        pipeline::featurise(&dataset, &features, &cache, augmentation.as_ref(), &|| {
            bar.inc(1)
        })?;
    bar.finish_and_clear();
    for (path, why) in &featurised.failures {
        eprintln!("skipped {}: {why}", path.display());
    }

    let mut fit = FitConfig::new(model);
    fit.epochs = args.epochs;
    fit.seed = args.seed;
    let experiment = Experiment {
        features,
        fit,
        protocol,
        split: SplitOptions {
            seed: args.seed,
            ..Default::default()
        },
    };
    let bar = Mutex::new(progress_bar(args.epochs as u64, "fold 1"));
    let report = pipeline::cross_validate(&dataset, &featurised, &experiment, |fold, epoch| {
        let bar = bar.lock().expect("progress bar lock");
        bar.set_message(format!(
            "fold {} loss {:.3} val UA {}",
            fold + 1,
            epoch.train_loss,
            epoch
                .val_ua
                .map_or("-".into(), |ua| format!("{:.1}%", 100.0 * ua))
        ));
        bar.set_position(epoch.epoch as u64);
    })?;
    bar.into_inner()
        .expect("progress bar lock")
        .finish_and_clear();

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

/// Pooled models get the rich pooled vector; frame models the MFCC frames.
fn default_features(model: &ModelSpec) -> &'static str {
    match model.input_kind() {
        ser_model::InputKind::Pooled => "pooled-rich",
        ser_model::InputKind::Frames => "mfcc40-frames",
    }
}

fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} {eta}")
        .expect("valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(message.to_string());
    bar
}
