//! Writes an example evaluation report and a model comparison from synthetic RAVDESS-shaped
//! results (8 emotions, 24 actors, 5 speaker folds), to see what `ser eval` / `ser compare`
//! produce without training anything.
//!
//! ```text
//! cargo run -p ser-train --example example_report -- [OUT_DIR]   # default: target/example-report
//! ```

use std::path::PathBuf;

use ser_train::demo::ravdess_evaluation;
use ser_train::report::{ComparisonReport, ModelInfo, write_comparison, write_report};

/// (name, kind, parameters, skill, trained with epochs) — a report-000-style line-up.
const MODELS: [(&str, &str, Option<u64>, f64, bool); 6] = [
    (
        "CNN-1D (report 000)",
        "cnn1d-pooled",
        Some(1_218_312),
        0.74,
        true,
    ),
    (
        "CNN-TM (report 003)",
        "cnn-transformer-logmel",
        Some(3_912_456),
        0.78,
        true,
    ),
    (
        "CNN MFCC frames (report 004)",
        "cnn1d-mfcc",
        Some(412_360),
        0.72,
        true,
    ),
    ("MLP 40-128-128", "mlp", Some(23_048), 0.63, true),
    (
        "Random forest (100 trees)",
        "random-forest",
        None,
        0.6,
        false,
    ),
    ("SVM (linear)", "svm-linear", None, 0.56, false),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/example-report"));
    let mut reports = Vec::new();
    for (i, (name, kind, parameters, skill, trained)) in MODELS.into_iter().enumerate() {
        let model = ModelInfo {
            name: name.into(),
            kind: kind.into(),
            parameters,
        };
        reports.push(ravdess_evaluation(model, skill, trained, 1000 + i as u64)?);
    }
    let files = write_report(&out, &reports[0])?;
    println!("{}\n{}", files.json.display(), files.html.display());
    let comparison = ComparisonReport::from_reports(&reports)?;
    let files = write_comparison(&out, &comparison)?;
    println!(
        "{}\n{}\n{}",
        files.json.display(),
        files.html.display(),
        files.markdown.display()
    );
    Ok(())
}
