//! Self-contained HTML: inline CSS and inline SVG only, so a report opens offline and can be
//! mailed as one file. Every piece of text from a report goes through [`escape_html`].

use std::fmt::Write;

use super::format::{count, duration, millis, or_dash, percent};
use super::{EvalReport, ReportError};
use crate::metrics::{ConfusedPair, MeanStd};
use crate::plots::{self, PlotError};

/// How many confused pairs the HTML table lists.
const PAIRS_SHOWN: usize = 10;

/// Escapes `& < > " '` so text is safe in element content and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The full `report.html` page for one evaluation.
pub fn render_html(report: &EvalReport) -> Result<String, ReportError> {
    let mut body = summary_cards(report);
    body += &confusion_section(report)?;
    body += &per_class_section(report)?;
    body += &groups_section(report);
    body += &folds_section(report);
    body += &calibration_section(report)?;
    body += &curves_section(report)?;
    body += &speakers_section(report)?;
    body += &provenance_section(&report.provenance);
    let title = format!("{} — evaluation report", report.model.name);
    Ok(page(&title, &eval_header(report), &body))
}

fn eval_header(report: &EvalReport) -> String {
    let subtitle = format!(
        "<span class=\"badge\">{}</span> evaluated on {}",
        escape_html(&report.model.kind),
        escape_html(&report.dataset.name)
    );
    let classes = format!("{}: {}", report.labels.len(), report.labels.join(", "));
    let meta = [
        ("Protocol", protocol_html(&report.protocol)),
        ("Dataset", escape_html(&report.dataset.description)),
        ("Classes", escape_html(&classes)),
    ];
    header("Evaluation report", &report.model.name, &subtitle, &meta)
}

pub(crate) fn protocol_html(protocol: &super::Protocol) -> String {
    format!(
        "<span class=\"badge\">{}</span> {}",
        escape_html(&protocol.id),
        escape_html(&protocol.description)
    )
}

fn summary_cards(report: &EvalReport) -> String {
    let agg = &report.aggregate;
    let folds_note = match agg.n_folds {
        1 => "single split".to_string(),
        n => format!("mean ± std over {n} folds"),
    };
    let dataset = &report.dataset;
    let clips_note = match (dataset.speakers, dataset.clips) {
        (Some(s), _) => format!("{s} speakers"),
        (None, Some(c)) => format!("of {c} clips"),
        (None, None) => "pooled over folds".to_string(),
    };
    let cards = [
        card("UA", &mean_std_html(&agg.ua), "mean per-class recall", true),
        card("WA", &mean_std_html(&agg.wa), "accuracy", true),
        card("Macro-F1", &mean_std_html(&agg.macro_f1), &folds_note, true),
        card(
            "Test clips",
            &agg.pooled.n_samples.to_string(),
            &clips_note,
            false,
        ),
        card(
            "Parameters",
            &or_dash(report.model.parameters, count),
            "trainable",
            false,
        ),
        card(
            "Training",
            &or_dash(report.timing.train_seconds, duration),
            "all folds",
            false,
        ),
        card(
            "Inference",
            &or_dash(report.timing.inference_ms_per_clip, millis),
            "per clip",
            false,
        ),
    ];
    format!("<div class=\"cards\">{}</div>\n", cards.concat())
}

/// `71.3 ± 2.1%` with the spread de-emphasised.
pub(crate) fn mean_std_html(value: &MeanStd) -> String {
    if value.has_spread() {
        format!(
            "{:.1}<small> ± {:.1}%</small>",
            value.mean * 100.0,
            value.std * 100.0
        )
    } else {
        format!("{:.1}<small>%</small>", value.mean * 100.0)
    }
}

/// A summary card; `value_html` is trusted markup built by this module.
fn card(label: &str, value_html: &str, note: &str, primary: bool) -> String {
    format!(
        "<div class=\"card{}\"><div class=\"label\">{}</div><div class=\"value\">{}</div><div class=\"note\">{}</div></div>",
        if primary { " primary" } else { "" },
        escape_html(label),
        value_html,
        escape_html(note)
    )
}

fn confusion_section(report: &EvalReport) -> Result<String, ReportError> {
    let pooled = &report.aggregate.pooled;
    let chart = plots::confusion_svg(&pooled.confusion)?;
    let lede = format!(
        "Summed over {} ({} clips). Colour: share of the true class (row-normalised); numbers: clips. Share: the part of the true class's clips given the wrong label.",
        plural(report.aggregate.n_folds, "fold"),
        pooled.n_samples
    );
    let body = format!(
        "<div class=\"split natural\"><div class=\"chart\">{}</div><div><h3>Most confused pairs</h3>{}</div></div>",
        inline_svg(&chart, "Confusion matrix"),
        pairs_table(&pooled.most_confused)
    );
    Ok(section("Confusion matrix", &lede, &body))
}

/// "1 fold", "5 folds".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn pairs_table(pairs: &[ConfusedPair]) -> String {
    if pairs.is_empty() {
        return "<p class=\"lede\">No confusions: every clip was classified correctly.</p>".into();
    }
    let rows: Vec<Vec<Cell>> = pairs
        .iter()
        .take(PAIRS_SHOWN)
        .map(|p| {
            vec![
                Cell::Text(p.true_label.clone()),
                Cell::Text(p.predicted_label.clone()),
                Cell::Num(p.count.to_string()),
                Cell::Html(meter(p.share_of_true)),
            ]
        })
        .collect();
    table(
        &[
            ("True", false),
            ("Predicted", false),
            ("Clips", true),
            ("Share", true),
        ],
        &rows,
    )
}

/// A small horizontal bar with the percentage next to it.
fn meter(share: f64) -> String {
    let width = (share.clamp(0.0, 1.0) * 100.0).round();
    format!(
        "<span class=\"meter\"><span style=\"width:{width}%\"></span></span>{}",
        percent(share)
    )
}

fn per_class_section(report: &EvalReport) -> Result<String, ReportError> {
    let pooled = &report.aggregate.pooled;
    let chart = plots::per_class_svg(&pooled.per_class)?;
    let rows: Vec<Vec<Cell>> = pooled
        .per_class
        .iter()
        .map(|c| {
            vec![
                Cell::Text(c.label.clone()),
                Cell::Num(percent(c.precision)),
                Cell::Num(percent(c.recall)),
                Cell::Num(percent(c.f1)),
                Cell::Num(c.support.to_string()),
            ]
        })
        .collect();
    let headers = [
        ("Class", false),
        ("Precision", true),
        ("Recall", true),
        ("F1", true),
        ("Support", true),
    ];
    // Beside its table the chart stays legible up to about ten classes; beyond, stack them.
    let layout = if rows.len() <= 10 { "split" } else { "stack" };
    let body = format!(
        "<div class=\"{layout}\"><div class=\"chart\">{}</div><div>{}</div></div>",
        inline_svg(&chart, "Precision, recall and F1 per class"),
        table(&headers, &rows)
    );
    let lede = "From the pooled confusion matrix. A class never predicted has precision 0.";
    Ok(section("Per-class scores", lede, &body))
}

fn folds_section(report: &EvalReport) -> String {
    let rows: Vec<Vec<Cell>> = report.folds.iter().map(fold_row).collect();
    let headers = [
        ("Fold", false),
        ("Test speakers", false),
        ("Clips", true),
        ("WA", true),
        ("UA", true),
        ("Macro-F1", true),
        ("Epochs", true),
        ("Train time", true),
    ];
    let agg = &report.aggregate;
    let scores = format!(
        "WA {}%, UA {}%, macro-F1 {}%",
        agg.wa.percent(),
        agg.ua.percent(),
        agg.macro_f1.percent()
    );
    let lede = if agg.n_folds > 1 {
        format!("Mean ± sample standard deviation (n − 1) over folds: {scores}.")
    } else {
        format!("A single train/test split, so there is no spread to report: {scores}.")
    };
    section("Folds", &lede, &table(&headers, &rows))
}

/// Per corpus (and named subset): the same predictions scored on their own.
fn groups_section(report: &EvalReport) -> String {
    if report.by_group.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<Cell>> = report
        .by_group
        .iter()
        .map(|(group, summary)| {
            let ece = summary.pooled.probability.as_ref().and_then(|p| p.ece);
            vec![
                Cell::Text(group.clone()),
                Cell::Num(summary.n_folds.to_string()),
                Cell::Num(summary.pooled.n_samples.to_string()),
                Cell::Num(summary.wa.percent()),
                Cell::Num(summary.ua.percent()),
                Cell::Num(summary.macro_f1.percent()),
                Cell::Num(or_dash(ece, |e| format!("{e:.3}"))),
            ]
        })
        .collect();
    let headers = [
        ("Test data", false),
        ("Folds", true),
        ("Clips", true),
        ("WA %", true),
        ("UA %", true),
        ("Macro-F1 %", true),
        ("ECE", true),
    ];
    let lede = "The test predictions of each corpus (and of ASED's common sentences, spoken in \
                every emotion) scored on their own, mean ± std over the folds that tested them. \
                Under corpus-out each row is a corpus the model never heard.";
    let alone = report.by_group.keys().any(|g| g.ends_with(super::ALONE));
    let lede = match alone {
        true => format!(
            "{lede} These features remove each speaker's mean over their clips (no labels); \
             rows marked “{}” normalise each clip by its own mean instead, as a prediction \
             of one file does.",
            super::ALONE
        ),
        false => lede.to_string(),
    };
    section("Per corpus", &lede, &table(&headers, &rows))
}

/// ECE, Brier score, the fitted temperatures and the reliability diagram.
fn calibration_section(report: &EvalReport) -> Result<String, ReportError> {
    let Some(probability) = &report.aggregate.pooled.probability else {
        return Ok(String::new());
    };
    let Some(ece) = probability.ece else {
        return Ok(String::new());
    };
    let mut facts = format!(
        "<p>Pooled over folds: ECE (15 bins) <b>{ece:.3}</b>, Brier score {}, log-loss {:.3}.",
        or_dash(probability.brier, |b| format!("{b:.3}")),
        probability.log_loss
    );
    let temperatures: Vec<String> = report
        .folds
        .iter()
        .filter_map(|f| f.calibration)
        .map(|c| format!("{:.2} (ECE before {:.3})", c.temperature, c.ece_before))
        .collect();
    if !temperatures.is_empty() {
        let _ = write!(
            facts,
            " Temperatures fitted on each fold's validation speakers: {}.",
            escape_html(&temperatures.join(", "))
        );
    }
    let unseen: Vec<String> = report
        .folds
        .iter()
        .filter_map(|f| f.unseen_corpus.map(|u| (f, u)))
        .map(|(f, u)| format!("fold {} {:.3} (T {:.2})", f.fold, u.ece, u.temperature))
        .collect();
    if !unseen.is_empty() {
        let _ = write!(
            facts,
            " For a corpus nobody has seen, a temperature fitted on the other folds' test \
             corpora gives ECE {}",
            escape_html(&unseen.join(", "))
        );
        if let Some(t) = report.unseen_corpus_temperature {
            let _ = write!(facts, "; fitted on all of them, T = {t:.2}");
        }
        facts.push('.');
    }
    facts.push_str("</p>");
    let chart = match optional_chart(plots::reliability_svg(&probability.reliability))? {
        Some(svg) => format!(
            "<div class=\"chart\">{}</div>",
            inline_svg(&svg, "Reliability diagram")
        ),
        None => String::new(),
    };
    let lede = "How far the stated confidence of the top answer is from how often it is right \
                (0 = as sure as it is right).";
    Ok(section("Calibration", lede, &format!("{facts}{chart}")))
}

fn fold_row(fold: &super::FoldReport) -> Vec<Cell> {
    let m = &fold.metrics;
    let epochs = fold.history.as_ref().map(|h| match h.best_epoch {
        Some(best) => format!("{} (best {best})", h.last_epoch()),
        None => h.last_epoch().to_string(),
    });
    let seconds = fold.history.as_ref().map(|h| h.total_seconds());
    vec![
        Cell::Text(fold.fold.to_string()),
        Cell::Text(speaker_list(&fold.test_speakers)),
        Cell::Num(m.n_samples.to_string()),
        Cell::Num(percent(m.wa)),
        Cell::Num(percent(m.ua)),
        Cell::Num(percent(m.macro_f1)),
        Cell::Num(epochs.unwrap_or_else(|| "–".into())),
        Cell::Num(or_dash(seconds, duration)),
    ]
}

fn speaker_list(speakers: &[String]) -> String {
    if speakers.is_empty() {
        "–".to_string()
    } else {
        speakers.join(", ")
    }
}

fn curves_section(report: &EvalReport) -> Result<String, ReportError> {
    let Some(chart) = optional_chart(plots::curves_svg(&report.histories()))? else {
        return Ok(String::new());
    };
    let lede = "Loss and accuracy per epoch on the training data and on the validation data \
                held out from it (the test fold is never used for training decisions).";
    let body = format!(
        "<div class=\"chart\">{}</div>",
        inline_svg(&chart, "Training curves")
    );
    Ok(section("Training curves", lede, &body))
}

fn speakers_section(report: &EvalReport) -> Result<String, ReportError> {
    let per_speaker = &report.aggregate.pooled.per_speaker;
    let Some(chart) = optional_chart(plots::speaker_accuracy_svg(per_speaker))? else {
        return Ok(String::new());
    };
    let lede = "Accuracy on each speaker's clips when that speaker was in the test fold; \
                the dashed line is the mean over speakers.";
    let body = format!(
        "<div class=\"chart\">{}</div>",
        inline_svg(&chart, "Accuracy per speaker")
    );
    Ok(section("Per-speaker accuracy", lede, &body))
}

fn provenance_section(provenance: &std::collections::BTreeMap<String, String>) -> String {
    let rows: Vec<Vec<Cell>> = provenance
        .iter()
        .map(|(k, v)| vec![Cell::Text(k.clone()), Cell::Code(v.clone())])
        .collect();
    let notes = "<ul class=\"notes\"><li><b>WA</b> is accuracy over clips; <b>UA</b> is the \
                 mean recall over the classes present in the test data.</li><li>Spreads are \
                 sample standard deviations over folds (divisor n − 1).</li></ul>";
    let table = if rows.is_empty() {
        String::new()
    } else {
        table(&[("Key", false), ("Value", false)], &rows)
    };
    section("Method and provenance", "", &format!("{notes}{table}"))
}

/// A chart that may legitimately be absent (no histories, no speakers).
pub(crate) fn optional_chart(
    chart: Result<String, PlotError>,
) -> Result<Option<String>, ReportError> {
    match chart {
        Ok(svg) => Ok(Some(svg)),
        Err(PlotError::NoData { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Prepares a standalone SVG for inlining: HTML parsers know the SVG namespace, so the `xmlns`
/// URL is dropped (the page then contains no URLs at all), and an accessible name is added.
pub(crate) fn inline_svg(svg: &str, name: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen(
            "<svg",
            &format!("<svg role=\"img\" aria-label=\"{}\"", escape_html(name)),
            1,
        )
}

/// A table cell; only `Html` is inserted unescaped, and only this module builds it.
pub(crate) enum Cell {
    Text(String),
    Num(String),
    Code(String),
    Html(String),
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Text(t) => format!("<td>{}</td>", escape_html(t)),
            Cell::Num(t) => format!("<td class=\"num\">{}</td>", escape_html(t)),
            Cell::Code(t) => format!("<td><code>{}</code></td>", escape_html(t)),
            Cell::Html(h) => format!("<td class=\"num\">{h}</td>"),
        }
    }
}

/// `headers` are (title, numeric); numeric columns are right-aligned.
pub(crate) fn table(headers: &[(&str, bool)], rows: &[Vec<Cell>]) -> String {
    let mut out = String::from("<div class=\"table\"><table><thead><tr>");
    for (title, numeric) in headers {
        let class = if *numeric { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape_html(title));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        row.iter().for_each(|cell| out.push_str(&cell.render()));
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A titled card-like section; `body_html` is trusted markup.
pub(crate) fn section(title: &str, lede: &str, body_html: &str) -> String {
    let lede = if lede.is_empty() {
        String::new()
    } else {
        format!("<p class=\"lede\">{}</p>", escape_html(lede))
    };
    format!(
        "<section><h2>{}</h2>{lede}{body_html}</section>\n",
        escape_html(title)
    )
}

/// The dark page header; `subtitle_html` and meta values are trusted markup.
pub(crate) fn header(
    eyebrow: &str,
    title: &str,
    subtitle_html: &str,
    meta: &[(&str, String)],
) -> String {
    let mut items = String::new();
    for (term, value_html) in meta {
        let _ = write!(
            items,
            "<div><dt>{}</dt><dd>{value_html}</dd></div>",
            escape_html(term)
        );
    }
    format!(
        "<header class=\"top\"><div class=\"wrap\"><div class=\"eyebrow\">{}</div><h1>{}</h1>\
         <p class=\"subtitle\">{subtitle_html}</p><dl class=\"meta\">{items}</dl></div></header>\n",
        escape_html(eyebrow),
        escape_html(title)
    )
}

/// The HTML document around a header and body.
pub(crate) fn page(title: &str, header_html: &str, body_html: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{header_html}\
         <main class=\"wrap\">\n{body_html}</main>\n<footer class=\"wrap\">Generated by ser-train {} \
         · self-contained: no external resources</footer>\n</body>\n</html>\n",
        escape_html(title),
        env!("CARGO_PKG_VERSION"),
    )
}

const STYLE: &str = r#"
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f3f4f6;--card:#fff;--accent:#4e79a7;
--font:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 var(--font);-webkit-font-smoothing:antialiased}
.wrap{max-width:1180px;margin:0 auto;padding:0 28px}
header.top{background:linear-gradient(135deg,#0f172a,#334155);color:#f8fafc;padding:30px 0 34px}
.eyebrow{text-transform:uppercase;letter-spacing:.09em;font-size:12px;color:#94a3b8;font-weight:600}
h1{margin:4px 0 6px;font-size:30px;line-height:1.2;font-weight:650;letter-spacing:-.01em}
.subtitle{color:#cbd5e1;margin:0}
.meta{display:flex;flex-wrap:wrap;gap:12px 36px;margin:20px 0 0}
.meta dt{color:#94a3b8;font-size:11.5px;text-transform:uppercase;letter-spacing:.08em;font-weight:600}
.meta dd{margin:2px 0 0;color:#e2e8f0;font-size:14px;max-width:560px}
.badge{display:inline-block;font:12.5px/1.6 var(--mono);background:rgba(255,255,255,.1);
border:1px solid rgba(255,255,255,.28);border-radius:999px;padding:0 9px;margin-right:4px}
main.wrap{padding-top:24px;padding-bottom:28px}
main .badge{background:#eef2f7;border-color:#d6dde8;color:#334155}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:13px 16px 12px;
box-shadow:0 1px 2px rgba(15,23,42,.04)}
.card.primary{border-top:3px solid var(--accent)}
.card .label{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.07em;font-weight:600}
.card .value{font-size:25px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px;white-space:nowrap}
.card:not(.primary) .value{font-size:21px;margin-top:5px}
.card .value small{font-size:14px;color:var(--muted);font-weight:500}
.card .note{font-size:12.5px;color:var(--muted)}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:20px 24px 22px;
margin-top:20px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h2{font-size:18px;margin:0 0 2px;font-weight:650}
h3{font-size:13px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.07em;color:var(--muted)}
.lede{color:var(--muted);margin:0 0 16px;font-size:14px}
.split{display:grid;grid-template-columns:minmax(0,3fr) minmax(280px,2fr);gap:28px;align-items:start}
.stack>*+*{margin-top:20px}
.split.natural{grid-template-columns:minmax(0,max-content) minmax(350px,1fr)}
.split th,.split td{padding-left:8px;padding-right:8px}
@media (max-width:1100px){.split,.split.natural{grid-template-columns:1fr}}
.chart svg{display:block;max-width:100%;height:auto;margin:0 auto}
.chart svg text{font-family:var(--font)}
.table{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:11.5px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);font-weight:600;
border-bottom:2px solid var(--line);white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:#f9fafb}
td code{font:12.5px var(--mono);background:#f3f4f6;border-radius:4px;padding:1px 5px;word-break:break-all}
.meter{display:inline-block;width:34px;height:7px;background:#eef2f7;border-radius:4px;margin-right:8px;
vertical-align:middle;overflow:hidden}
.meter span{display:block;height:100%;background:var(--accent)}
.notes{margin:0 0 14px;padding-left:20px;color:#374151;font-size:14px}
footer.wrap{color:var(--muted);font-size:12.5px;text-align:center;padding-bottom:30px}
@media print{body{background:#fff}section,.card{box-shadow:none}header.top{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;
