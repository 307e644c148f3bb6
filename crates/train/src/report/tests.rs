//! Report files: JSON round trip, self-contained and escaped HTML, comparison tables.

use super::*;
use crate::demo::ravdess_evaluation;
use crate::metrics::EvalInput;

fn model(name: &str) -> ModelInfo {
    ModelInfo {
        name: name.into(),
        kind: "cnn1d-pooled".into(),
        parameters: Some(123_456),
    }
}

fn demo(name: &str, skill: f64) -> EvalReport {
    ravdess_evaluation(model(name), skill, true, 42).unwrap()
}

/// A small report whose labels, model and provenance contain markup.
fn hostile_report() -> EvalReport {
    let labels: Vec<String> = ["<script>alert(1)</script>", "calm & quiet", "sad"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let speakers: Vec<String> = ["<b>1</b>", "2", "2", "3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let metrics = EvalInput::new(&[0, 1, 2, 2], &[0, 2, 2, 0], &labels)
        .with_speakers(&speakers)
        .evaluate()
        .unwrap();
    let fold = FoldReport {
        fold: 1,
        test_speakers: vec!["<b>1</b>".into()],
        metrics,
        by_group: Default::default(),
        calibration: None,
        unseen_corpus: None,
        history: None,
    };
    let dataset = DatasetInfo {
        name: "<img src=x onerror=alert(1)>".into(),
        description: "see https://example.com".into(),
        clips: None,
        speakers: None,
    };
    let protocol = Protocol {
        id: "random:0.2".into(),
        description: "random split \"leaky\"".into(),
    };
    let mut report = EvalReport::new(model("<i>model</i>"), dataset, protocol, vec![fold]).unwrap();
    report
        .provenance
        .insert("note".into(), "</td><script>x</script>".into());
    report
}

/// The values of `src` and `href` attributes in real tags (escaped text has no raw `<`).
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for tag in html.split('<').skip(1).filter_map(|t| t.split('>').next()) {
        let tag = tag.to_lowercase();
        for attr in [" src=", " href="] {
            for (at, _) in tag.match_indices(attr) {
                let value = tag[at + attr.len()..].trim_start_matches(['"', '\'']);
                urls.push(
                    value
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect(),
                );
            }
        }
    }
    urls
}

#[test]
fn json_round_trips() {
    let report = demo("CNN-1D", 0.72);
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(dir.path(), &report).unwrap();
    assert_eq!(files.json, dir.path().join("report.json"));
    assert_eq!(read_report(&files.json).unwrap(), report);
}

#[test]
fn html_embeds_every_chart_and_is_self_contained() {
    let report = demo("CNN-1D", 0.72);
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(&dir.path().join("nested/out"), &report).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    // Confusion matrix, per-class bars, reliability diagram, curves, per-speaker bars.
    assert_eq!(html.matches("<svg").count(), 5);
    for name in [
        "Confusion matrix",
        "Per-class scores",
        "Calibration",
        "Reliability diagram",
        "Training curves",
        "Per-speaker accuracy",
    ] {
        assert!(html.contains(name), "missing section {name}");
    }
    assert!(html.contains("speaker-kfold:5"));
    assert!(html.contains("surprised"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(linked_urls(&html).is_empty(), "{:?}", linked_urls(&html));
    assert!(!html.contains("<link") && !html.contains("<script") && !html.contains("@import"));
}

#[test]
fn html_escapes_all_report_text() {
    let html = render_html(&hostile_report()).unwrap();
    assert!(
        !html.contains("<script>"),
        "label or provenance was not escaped"
    );
    assert!(!html.contains("<img") && !html.contains("<b>1</b>") && !html.contains("<i>model"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("calm &amp; quiet"));
    assert!(html.contains("random split &quot;leaky&quot;"));
    // No histories: no curves section, and nothing breaks.
    assert!(!html.contains("Training curves"));
    // Text that mentions a URL is text, not a link.
    assert!(linked_urls(&html).is_empty());
}

#[test]
fn read_report_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let err = read_report(&missing).unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"schema_version\": 1}").unwrap();
    let err = read_report(&garbage).unwrap_err();
    assert!(matches!(err, ReportError::Json { .. }) && err.to_string().contains("garbage.json"));

    let mut future = serde_json::to_value(hostile_report()).unwrap();
    future["schema_version"] = 99.into();
    let path = dir.path().join("future.json");
    std::fs::write(&path, future.to_string()).unwrap();
    assert!(matches!(
        read_report(&path),
        Err(ReportError::UnsupportedSchema { found: 99, .. })
    ));
}

#[test]
fn report_without_folds_is_an_error() {
    let err = EvalReport::new(
        model("m"),
        hostile_report().dataset,
        hostile_report().protocol,
        vec![],
    );
    assert!(matches!(
        err,
        Err(ReportError::Metrics(crate::metrics::MetricsError::NoFolds))
    ));
}

#[test]
fn comparison_sorts_by_ua_and_renders() {
    let reports = [
        demo("SVM | linear", 0.55),
        demo("CNN-1D", 0.75),
        demo("MLP", 0.62),
    ];
    let comparison = ComparisonReport::from_reports(&reports).unwrap();
    let order: Vec<&str> = comparison.rows.iter().map(|r| r.model.as_str()).collect();
    assert_eq!(order, vec!["CNN-1D", "MLP", "SVM | linear"]);

    let markdown = comparison.to_markdown();
    let lines: Vec<&str> = markdown.lines().collect();
    assert!(lines[0].contains("`speaker-kfold:5`"));
    assert_eq!(
        lines[2],
        "| Model | WA % | UA % | Macro-F1 % | Train time | Inference / clip | Params |"
    );
    assert!(lines[4].starts_with("| CNN-1D | "));
    assert!(
        markdown.contains("| SVM \\| linear |"),
        "pipes in names are escaped"
    );
    let ua = &comparison.rows[0].ua;
    assert!(lines[4].contains(&format!(" {} ", ua.percent())));

    let dir = tempfile::tempdir().unwrap();
    let files = write_comparison(dir.path(), &comparison).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(html.contains("SVM | linear") && !html.contains("https://"));
    assert_eq!(std::fs::read_to_string(&files.markdown).unwrap(), markdown);
    let json = std::fs::read_to_string(&files.json).unwrap();
    assert_eq!(
        serde_json::from_str::<ComparisonReport>(&json).unwrap(),
        comparison
    );
}

#[test]
fn comparison_refuses_mixed_protocols() {
    let speaker_folds = demo("A", 0.7);
    let mut random = demo("B", 0.7);
    random.protocol.id = "random:0.2".into();
    let err = ComparisonReport::from_reports(&[speaker_folds, random]).unwrap_err();
    assert!(matches!(err, ReportError::Incomparable(_)), "{err}");
    assert!(ComparisonReport::from_reports(&[]).is_err());
}

#[test]
fn per_corpus_figures_are_aggregated_over_the_folds_that_tested_each_corpus() {
    let base = demo("CNN-1D", 0.72);
    let mut folds = base.folds.clone();
    // Fold 0 tested corpus A only, the others A and B.
    for (k, fold) in folds.iter_mut().enumerate() {
        fold.by_group.insert("a".into(), fold.metrics.clone());
        if k > 0 {
            fold.by_group.insert("b".into(), fold.metrics.clone());
        }
    }
    let report = EvalReport::new(
        base.model.clone(),
        base.dataset.clone(),
        base.protocol.clone(),
        folds,
    )
    .unwrap();
    assert_eq!(report.by_group["a"].n_folds, base.folds.len());
    assert_eq!(report.by_group["b"].n_folds, base.folds.len() - 1);
    let html = render_html(&report).unwrap();
    assert!(html.contains("Per corpus"));
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(dir.path(), &report).unwrap();
    assert_eq!(read_report(&files.json).unwrap(), report);
}
