//! Smoke tests: every chart is a complete SVG that shows its labels, escaped.

use super::*;
use crate::history::{EpochRecord, TrainingHistory};
use crate::metrics::{ConfusionMatrix, MeanStd, evaluate};

fn labels() -> Vec<String> {
    ["neutral", "<script>", "sad"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn assert_svg(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("viewBox"));
    assert!(!svg.contains("<script>"), "unescaped label in SVG");
}

#[test]
fn confusion_svg_shows_labels_and_counts() {
    let cm = ConfusionMatrix::from_predictions(&[0, 1, 2, 2], &[0, 1, 2, 0], &labels()).unwrap();
    let svg = confusion_svg(&cm).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("&lt;script&gt;"));
    assert!(svg.contains("neutral") && svg.contains("Predicted class"));
}

#[test]
fn bar_charts_render() {
    let m = evaluate(&[0, 1, 2, 2], &[0, 1, 2, 0], &labels()).unwrap();
    assert_svg(&per_class_svg(&m.per_class).unwrap());
    let speakers = crate::metrics::EvalInput::new(&[0, 1], &[0, 0], &labels())
        .with_speakers(&["<script>".to_string(), "2".to_string()])
        .evaluate()
        .unwrap();
    let svg = speaker_accuracy_svg(&speakers.per_speaker).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("mean 50%"));
    let ua = MeanStd {
        mean: 0.7,
        std: 0.05,
        n: 5,
    };
    let svg = comparison_svg(&[("cnn", ua), ("<script>", ua)]).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("70.0 ± 5.0%"));
}

#[test]
fn curves_svg_renders_folds_and_single_runs() {
    let epoch = |epoch: usize, loss: f64| EpochRecord {
        epoch,
        train_loss: loss,
        train_accuracy: 1.0 - loss / 2.0,
        val_loss: Some(loss * 1.2),
        val_accuracy: Some(0.9 - loss / 2.0),
        val_ua: None,
        learning_rate: 1e-3,
        seconds: 1.5,
    };
    let history = TrainingHistory {
        epochs: vec![epoch(1, 1.5), epoch(2, 1.0), epoch(3, f64::NAN)],
        best_epoch: Some(2),
    };
    let svg = curves_svg(std::slice::from_ref(&history)).unwrap();
    assert_svg(&svg);
    assert!(svg.contains("best epoch") && svg.contains("validation"));
    assert!(
        !svg.contains("validation UA"),
        "series without data get no legend entry"
    );
    let svg = curves_svg(&[history.clone(), history]).unwrap();
    assert!(svg.contains("mean of 2 folds"));
}

#[test]
fn empty_input_is_an_error() {
    assert!(matches!(per_class_svg(&[]), Err(PlotError::NoData { .. })));
    assert!(matches!(
        speaker_accuracy_svg(&[]),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(comparison_svg(&[]), Err(PlotError::NoData { .. })));
    assert!(matches!(curves_svg(&[]), Err(PlotError::NoData { .. })));
    let empty = TrainingHistory::default();
    assert!(matches!(
        curves_svg(&[empty]),
        Err(PlotError::NoData { .. })
    ));
}
