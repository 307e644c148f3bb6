//! Evaluation reports: one model under one protocol ([`EvalReport`]) and several models side by
//! side ([`ComparisonReport`]), written as JSON plus a self-contained offline HTML page.

mod comparison;
mod format;
mod html;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use crate::history::{EpochRecord, TrainingHistory};
pub use crate::plots::{
    PlotError, comparison_svg, confusion_svg, curves_svg, per_class_svg, speaker_accuracy_svg,
};
pub use comparison::{ComparisonFiles, ComparisonReport, ComparisonRow, write_comparison};
pub use html::{escape_html, render_html};

use crate::metrics::{FoldSummary, Metrics, MetricsError, summarise_folds};

/// Version of the JSON layout; bumped on incompatible changes.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// Why a report could not be built, written or read. File errors name the file.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The folds could not be summarised: there are none, their label lists differ, or they
    /// hold no samples.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A chart for an HTML page could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// Reading or writing a file or folder failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file is not a report of the expected shape, or a report could not be written as JSON.
    #[error("{path}: not a valid report: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A report file has a schema version this build does not read.
    #[error(
        "{path}: report schema version {found} is not supported (this build reads {REPORT_SCHEMA_VERSION})"
    )]
    UnsupportedSchema {
        /// The file concerned.
        path: PathBuf,
        /// The version it holds.
        found: u32,
    },
    /// The reports cannot share a table: none were given, or their protocols or datasets differ.
    #[error("cannot compare reports: {0}")]
    Incomparable(String),
}

/// What was evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Human name, e.g. "CNN-1D (report 000)".
    pub name: String,
    /// Registry id of the architecture, e.g. "cnn1d-pooled".
    pub kind: String,
    /// Number of trainable parameters, when the model has such a notion.
    #[serde(default)]
    pub parameters: Option<u64>,
}

/// What it was evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Short name, usually the dataset folder's name.
    pub name: String,
    /// One line on what it holds, e.g. "1440 clips, naming scheme ravdess".
    pub description: String,
    /// Number of clips, when known.
    #[serde(default)]
    pub clips: Option<usize>,
    /// Number of distinct speakers, when known.
    #[serde(default)]
    pub speakers: Option<usize>,
}

/// How train and test data were split; `id` is the machine form, e.g. "speaker-kfold:5".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// The protocol's parseable spec.
    pub id: String,
    /// Human description, e.g. "5-fold cross-validation by speaker: no speaker in both train and test".
    pub description: String,
}

/// Where time went. Either may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Total training wall-clock seconds over all folds.
    #[serde(default)]
    pub train_seconds: Option<f64>,
    /// Mean inference time per clip (features + model), milliseconds.
    #[serde(default)]
    pub inference_ms_per_clip: Option<f64>,
}

/// One fold of a cross-validation: its test metrics and, for trained networks, its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldReport {
    /// Fold number, from 0 (fold k of speaker-mod:5 tests the speakers whose number mod 5 is k).
    pub fold: usize,
    /// Speakers held out for testing in this fold (empty when unknown or not speaker-based).
    #[serde(default)]
    pub test_speakers: Vec<String>,
    /// Scores of the fold's test clips (after temperature scaling, when the model has one).
    pub metrics: Metrics,
    /// The same predictions scored per corpus (and per named subset, such as ASED's common
    /// sentences); empty for one corpus without subsets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_group: BTreeMap<String, Metrics>,
    /// The temperature fitted on this fold's validation speakers, and the test ECE it had
    /// before scaling (`metrics.probability` is after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Under corpus-out: the temperature fitted on the other folds' test corpora (never this
    /// fold's) and this fold's test ECE with it, which says what calibration for a corpus
    /// nobody has seen can do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen_corpus: Option<UnseenCorpusCalibration>,
    /// The fold's training curve; `None` for classical models and for bundles scored as they are.
    #[serde(default)]
    pub history: Option<TrainingHistory>,
}

/// Temperature scaling for a corpus nobody trained or calibrated on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UnseenCorpusCalibration {
    /// The temperature fitted on the other folds' test predictions.
    pub temperature: f32,
    /// Test ECE with that temperature.
    pub ece: f64,
}

/// Suffix of the [`FoldReport::by_group`] rows that score clips normalised as if each came
/// alone (per-speaker normalised sets: what `ser predict` of one file does).
pub const ALONE: &str = "each clip alone";

/// What temperature scaling did on one fold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The temperature fitted on the fold's validation speakers.
    pub temperature: f32,
    /// Test ECE of the unscaled probabilities.
    pub ece_before: f64,
}

/// The evaluation of one model under one protocol: written as `report.json` and `report.html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Version of the JSON layout ([`REPORT_SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// The model evaluated.
    pub model: ModelInfo,
    /// The data it was evaluated on.
    pub dataset: DatasetInfo,
    /// How train and test were separated.
    pub protocol: Protocol,
    /// Class names, in the order the model numbers them.
    pub labels: Vec<String>,
    /// One entry per fold, in fold order.
    pub folds: Vec<FoldReport>,
    /// Mean ± std over `folds` and the pooled metrics.
    pub aggregate: FoldSummary,
    /// Per corpus (and named subset): mean ± std over the folds that tested it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_group: BTreeMap<String, FoldSummary>,
    /// Under corpus-out: the temperature fitted on every fold's test corpus, for a model
    /// trained on all of them to meet a corpus none of them is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen_corpus_temperature: Option<f32>,
    /// Training and inference times.
    #[serde(default)]
    pub timing: Timing,
    /// Free-form facts about how the numbers were made (git commit, seed, features, host...).
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
}

impl EvalReport {
    /// Builds a report and its aggregate; all folds must share one label list.
    pub fn new(
        model: ModelInfo,
        dataset: DatasetInfo,
        protocol: Protocol,
        folds: Vec<FoldReport>,
    ) -> Result<Self, ReportError> {
        let metrics: Vec<Metrics> = folds.iter().map(|f| f.metrics.clone()).collect();
        let aggregate = summarise_folds(&metrics)?;
        let mut grouped: BTreeMap<&str, Vec<Metrics>> = BTreeMap::new();
        for fold in &folds {
            for (group, metrics) in &fold.by_group {
                grouped.entry(group).or_default().push(metrics.clone());
            }
        }
        let by_group = grouped
            .into_iter()
            .map(|(group, metrics)| Ok((group.to_string(), summarise_folds(&metrics)?)))
            .collect::<Result<_, ReportError>>()?;
        Ok(Self {
            schema_version: REPORT_SCHEMA_VERSION,
            model,
            dataset,
            protocol,
            labels: aggregate.pooled.labels().to_vec(),
            folds,
            aggregate,
            by_group,
            unseen_corpus_temperature: None,
            timing: Timing::default(),
            provenance: BTreeMap::new(),
        })
    }

    /// The histories of the folds that have one, in fold order.
    pub fn histories(&self) -> Vec<TrainingHistory> {
        self.folds
            .iter()
            .filter_map(|f| f.history.clone())
            .collect()
    }
}

/// The files [`write_report`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// Path of `report.json`.
    pub json: PathBuf,
    /// Path of `report.html`.
    pub html: PathBuf,
}

/// Writes `report.json` and `report.html` into `dir` (created if missing).
pub fn write_report(dir: &Path, report: &EvalReport) -> Result<ReportFiles, ReportError> {
    let html = render_html(report)?;
    create_dir(dir)?;
    let files = ReportFiles {
        json: dir.join("report.json"),
        html: dir.join("report.html"),
    };
    write_json(&files.json, report)?;
    write_file(&files.html, &html)?;
    Ok(files)
}

/// Reads a `report.json` written by [`write_report`].
pub fn read_report(path: &Path) -> Result<EvalReport, ReportError> {
    read_versioned(path, |r: &EvalReport| r.schema_version)
}

/// Reads a `comparison.json` written by [`write_comparison`].
pub fn read_comparison(path: &Path) -> Result<ComparisonReport, ReportError> {
    read_versioned(path, |r: &ComparisonReport| r.schema_version)
}

/// Parses JSON of our report schema, refusing other schema versions.
fn read_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    schema_version: impl Fn(&T) -> u32,
) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| io_error(path, source))?;
    let report: T = serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let found = schema_version(&report);
    if found != REPORT_SCHEMA_VERSION {
        return Err(ReportError::UnsupportedSchema {
            path: path.to_path_buf(),
            found,
        });
    }
    Ok(report)
}

fn io_error(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| io_error(path, source))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    let json = serde_json::to_string_pretty(value).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_file(path, &json)
}

#[cfg(test)]
mod tests;
