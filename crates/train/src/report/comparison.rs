//! Several models under one protocol, report-000 style but with honest splits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{count, duration, millis, or_dash};
use super::html::{
    Cell, escape_html, header, inline_svg, mean_std_html, page, protocol_html, section, table,
};
use super::{
    DatasetInfo, EvalReport, Protocol, REPORT_SCHEMA_VERSION, ReportError, create_dir, write_file,
    write_json,
};
use crate::metrics::MeanStd;
use crate::plots;

/// One model's line in the comparison table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// The model's human name, from its report.
    pub model: String,
    /// Registry id of the architecture, e.g. "cnn1d-pooled".
    pub kind: String,
    /// Weighted accuracy over folds.
    pub wa: MeanStd,
    /// Unweighted accuracy over folds; rows are sorted by its mean.
    pub ua: MeanStd,
    /// Macro F1 over folds.
    pub macro_f1: MeanStd,
    /// Total training wall-clock seconds over all folds, when known.
    #[serde(default)]
    pub train_seconds: Option<f64>,
    /// Mean inference time per clip in milliseconds, when known.
    #[serde(default)]
    pub inference_ms_per_clip: Option<f64>,
    /// Number of trainable parameters, when the model has such a notion.
    #[serde(default)]
    pub parameters: Option<u64>,
}

impl From<&EvalReport> for ComparisonRow {
    fn from(report: &EvalReport) -> Self {
        Self {
            model: report.model.name.clone(),
            kind: report.model.kind.clone(),
            wa: report.aggregate.wa,
            ua: report.aggregate.ua,
            macro_f1: report.aggregate.macro_f1,
            train_seconds: report.timing.train_seconds,
            inference_ms_per_clip: report.timing.inference_ms_per_clip,
            parameters: report.model.parameters,
        }
    }
}

/// Models evaluated on the same data under the same protocol, best UA first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonReport {
    /// Version of the JSON layout ([`REPORT_SCHEMA_VERSION`] when written by this build).
    pub schema_version: u32,
    /// The data every model was evaluated on.
    pub dataset: DatasetInfo,
    /// The protocol every model was evaluated under.
    pub protocol: Protocol,
    /// One row per model, best mean UA first.
    pub rows: Vec<ComparisonRow>,
    /// Free-form facts about how the comparison was made (e.g. epochs, seed).
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
}

impl ComparisonReport {
    /// Collects reports that share a dataset name and protocol id; numbers from different
    /// protocols (say, a random split against speaker folds) must never share a table.
    pub fn from_reports(reports: &[EvalReport]) -> Result<Self, ReportError> {
        let first = reports
            .first()
            .ok_or_else(|| ReportError::Incomparable("no reports given".into()))?;
        for report in reports {
            check_comparable(first, report)?;
        }
        let mut rows: Vec<ComparisonRow> = reports.iter().map(ComparisonRow::from).collect();
        rows.sort_by(|a, b| b.ua.mean.total_cmp(&a.ua.mean));
        Ok(Self {
            schema_version: REPORT_SCHEMA_VERSION,
            dataset: first.dataset.clone(),
            protocol: first.protocol.clone(),
            rows,
            provenance: BTreeMap::new(),
        })
    }

    /// Adds the rows of an earlier comparison of the same dataset and protocol; its row for a
    /// model replaces ours only where we have none (fresh results win).
    pub fn merge(mut self, earlier: ComparisonReport) -> Result<Self, ReportError> {
        if earlier.protocol.id != self.protocol.id || earlier.dataset.name != self.dataset.name {
            return Err(ReportError::Incomparable(format!(
                "a comparison under {} on {} cannot join one under {} on {}",
                earlier.protocol.id, earlier.dataset.name, self.protocol.id, self.dataset.name
            )));
        }
        for row in earlier.rows {
            if !self.rows.iter().any(|r| r.model == row.model) {
                self.rows.push(row);
            }
        }
        self.rows.sort_by(|a, b| b.ua.mean.total_cmp(&a.ua.mean));
        Ok(self)
    }

    /// A GitHub-flavoured Markdown table (percentages as mean ± std).
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "Protocol: `{}` ({}). Dataset: {}. Mean ± sample std over folds.\n\n",
            self.protocol.id.replace('`', "'"),
            markdown_text(self.protocol.description.trim_end_matches('.')),
            markdown_text(&self.dataset.name)
        );
        out.push_str(
            "| Model | WA % | UA % | Macro-F1 % | Train time | Inference / clip | Params |\n",
        );
        out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for row in &self.rows {
            let cells = [
                markdown_text(&row.model),
                row.wa.percent(),
                row.ua.percent(),
                row.macro_f1.percent(),
                or_dash(row.train_seconds, duration),
                or_dash(row.inference_ms_per_clip, millis),
                or_dash(row.parameters, count),
            ];
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }

    /// A self-contained HTML page: UA chart with error bars, then the table.
    pub fn to_html(&self) -> Result<String, ReportError> {
        let entries: Vec<(&str, MeanStd)> =
            self.rows.iter().map(|r| (r.model.as_str(), r.ua)).collect();
        let chart = plots::comparison_svg(&entries)?;
        let lede =
            "Bars: mean unweighted accuracy over folds; whiskers: ± one sample standard deviation.";
        let chart_html = format!(
            "<div class=\"chart\">{}</div>",
            inline_svg(&chart, "UA per model")
        );
        let mut body = section("Unweighted accuracy", lede, &chart_html);
        body += &section("All models", "Sorted by UA.", &self.table_html());
        let meta = [
            ("Protocol", protocol_html(&self.protocol)),
            ("Dataset", escape_html(&self.dataset.description)),
            ("Models", self.rows.len().to_string()),
        ];
        let head = header("Model comparison", &self.dataset.name, "", &meta);
        Ok(page("Model comparison", &head, &body))
    }

    fn table_html(&self) -> String {
        let rows: Vec<Vec<Cell>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    Cell::Text(r.model.clone()),
                    Cell::Code(r.kind.clone()),
                    Cell::Html(mean_std_html(&r.wa)),
                    Cell::Html(mean_std_html(&r.ua)),
                    Cell::Html(mean_std_html(&r.macro_f1)),
                    Cell::Num(or_dash(r.train_seconds, duration)),
                    Cell::Num(or_dash(r.inference_ms_per_clip, millis)),
                    Cell::Num(or_dash(r.parameters, count)),
                ]
            })
            .collect();
        let headers = [
            ("Model", false),
            ("Kind", false),
            ("WA %", true),
            ("UA %", true),
            ("Macro-F1 %", true),
            ("Train time", true),
            ("Inference / clip", true),
            ("Params", true),
        ];
        table(&headers, &rows)
    }
}

fn check_comparable(first: &EvalReport, other: &EvalReport) -> Result<(), ReportError> {
    if other.protocol.id != first.protocol.id {
        return Err(ReportError::Incomparable(format!(
            "{} used protocol {} but {} used {}",
            other.model.name, other.protocol.id, first.model.name, first.protocol.id
        )));
    }
    if other.dataset.name != first.dataset.name {
        return Err(ReportError::Incomparable(format!(
            "{} was evaluated on {} but {} on {}",
            other.model.name, other.dataset.name, first.model.name, first.dataset.name
        )));
    }
    Ok(())
}

/// Keeps user text from breaking a Markdown table row or line.
fn markdown_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// The files [`write_comparison`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparisonFiles {
    /// Path of `comparison.json`.
    pub json: PathBuf,
    /// Path of `comparison.html`.
    pub html: PathBuf,
    /// Path of `comparison.md`.
    pub markdown: PathBuf,
}

/// Writes `comparison.json`, `comparison.html` and `comparison.md` into `dir`.
pub fn write_comparison(
    dir: &Path,
    report: &ComparisonReport,
) -> Result<ComparisonFiles, ReportError> {
    let html = report.to_html()?;
    create_dir(dir)?;
    let files = ComparisonFiles {
        json: dir.join("comparison.json"),
        html: dir.join("comparison.html"),
        markdown: dir.join("comparison.md"),
    };
    write_json(&files.json, report)?;
    write_file(&files.html, &html)?;
    write_file(&files.markdown, &report.to_markdown())?;
    Ok(files)
}
