//! Hand-computed expectations for the metrics module.

use proptest::prelude::*;

use super::*;

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

/// neutral/happy/sad present in y_true; sad is never predicted; angry never occurs in y_true
/// but is predicted once.
///
/// ```text
///            pred: neu hap sad ang
/// true neutral      2   1   0   0
/// true happy        0   1   0   1
/// true sad          2   1   0   0
/// true angry        0   0   0   0
/// ```
fn worked_example() -> (Vec<usize>, Vec<usize>, Vec<String>) {
    (
        vec![0, 0, 0, 1, 1, 2, 2, 2],
        vec![0, 0, 1, 1, 3, 0, 0, 1],
        labels(&["neutral", "happy", "sad", "angry"]),
    )
}

#[test]
fn worked_example_headline_scores() {
    let (t, p, l) = worked_example();
    let m = evaluate(&t, &p, &l).unwrap();
    assert_eq!(m.n_samples, 8);
    assert_close(m.wa, 3.0 / 8.0);
    // Mean of recalls 2/3, 1/2, 0 over the three classes present; angry is excluded.
    assert_close(m.ua, 7.0 / 18.0);
    assert_close(m.macro_recall, m.ua);
    assert_close(m.macro_precision, (0.5 + 1.0 / 3.0 + 0.0) / 3.0);
    assert_close(m.macro_f1, (4.0 / 7.0 + 2.0 / 5.0 + 0.0) / 3.0);
}

#[test]
fn worked_example_per_class() {
    let (t, p, l) = worked_example();
    let m = evaluate(&t, &p, &l).unwrap();
    let row = |i: usize| {
        let c = &m.per_class[i];
        (c.precision, c.recall, c.f1, c.support, c.predicted)
    };
    assert_eq!(
        row(0),
        (
            0.5,
            2.0 / 3.0,
            2.0 * 0.5 * (2.0 / 3.0) / (0.5 + 2.0 / 3.0),
            3,
            4
        )
    );
    assert_eq!(
        row(1),
        (
            1.0 / 3.0,
            0.5,
            2.0 * (1.0 / 3.0) * 0.5 / (1.0 / 3.0 + 0.5),
            2,
            3
        )
    );
    // Never predicted: precision is defined as 0, not NaN.
    assert_eq!(row(2), (0.0, 0.0, 0.0, 3, 0));
    // Absent from y_true: recall 0 but excluded from UA (checked above).
    assert_eq!(row(3), (0.0, 0.0, 0.0, 0, 1));
    assert_close(m.per_class[0].f1, 4.0 / 7.0);
    assert_close(m.per_class[1].f1, 0.4);
}

#[test]
fn worked_example_confusion_and_pairs() {
    let (t, p, l) = worked_example();
    let m = evaluate(&t, &p, &l).unwrap();
    assert_eq!(
        m.confusion.counts(),
        &[
            vec![2, 1, 0, 0],
            vec![0, 1, 0, 1],
            vec![2, 1, 0, 0],
            vec![0, 0, 0, 0]
        ]
    );
    assert_eq!(m.confusion_normalised[1], vec![0.0, 0.5, 0.0, 0.5]);
    assert_eq!(m.confusion_normalised[3], vec![0.0; 4]);
    let pairs: Vec<(&str, &str, usize)> = m
        .most_confused
        .iter()
        .map(|c| (c.true_label.as_str(), c.predicted_label.as_str(), c.count))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("sad", "neutral", 2),
            ("happy", "angry", 1),   // share 1/2
            ("neutral", "happy", 1), // share 1/3, label order breaks the tie
            ("sad", "happy", 1),     // share 1/3
        ]
    );
    assert_close(m.most_confused[0].share_of_true, 2.0 / 3.0);
}

#[test]
fn per_speaker_accuracy_sorted_numerically() {
    let (t, p, l) = worked_example();
    let speakers = labels(&["1", "10", "2", "1", "2", "10", "2", "2"]);
    let m = EvalInput::new(&t, &p, &l)
        .with_speakers(&speakers)
        .evaluate()
        .unwrap();
    let rows: Vec<(&str, usize, usize, f64)> = m
        .per_speaker
        .iter()
        .map(|s| (s.speaker.as_str(), s.correct, s.total, s.accuracy))
        .collect();
    assert_eq!(
        rows,
        vec![("1", 2, 2, 1.0), ("2", 0, 4, 0.0), ("10", 1, 2, 0.5)]
    );
}

#[test]
fn probability_scores() {
    let l = labels(&["a", "b", "c"]);
    let t = [0, 1, 2];
    let p = [0, 0, 0];
    // True class ranks 1st, 2nd and 3rd.
    let probs = [0.7, 0.2, 0.1, 0.5, 0.3, 0.2, 0.6, 0.3, 0.1];
    let m = EvalInput::new(&t, &p, &l)
        .with_probabilities(&probs)
        .evaluate()
        .unwrap();
    let scores = m.probability.unwrap();
    let expected = -(0.7f32.ln() as f64 + 0.3f32.ln() as f64 + 0.1f32.ln() as f64) / 3.0;
    assert!((scores.log_loss - expected).abs() < 1e-6);
    assert_close(scores.top2_accuracy, 2.0 / 3.0);
    // Brier: (0.3² + 0.2² + 0.1²) + (0.5² + 0.7² + 0.2²) + (0.6² + 0.3² + 0.9²), over 3.
    assert!((scores.brier.unwrap() - (0.14 + 0.78 + 1.26) / 3.0).abs() < 1e-6);
    // Top confidences 0.7 (right), 0.5 (wrong), 0.6 (wrong), each alone in its bin:
    // ECE = (0.3 + 0.5 + 0.6) / 3.
    assert!((scores.ece.unwrap() - 1.4 / 3.0).abs() < 1e-6);
    assert_eq!(scores.reliability.len(), 3);
    assert_eq!(scores.reliability[0].count, 1);
}

#[test]
fn perfectly_calibrated_bins_have_no_ece_and_pooling_keeps_it() {
    let l = labels(&["a", "b"]);
    // Confidence 0.75 in every row, right 3 times out of 4.
    let t = [0, 0, 0, 1];
    let probs = [0.75, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0.25];
    let m = EvalInput::new(&t, &[0, 0, 0, 0], &l)
        .with_probabilities(&probs)
        .evaluate()
        .unwrap();
    assert!(m.probability.as_ref().unwrap().ece.unwrap() < 1e-9);
    let pooled = summarise_folds(&[m.clone(), m]).unwrap().pooled;
    let p = pooled.probability.unwrap();
    assert!(p.ece.unwrap() < 1e-9);
    assert_eq!(p.reliability[0].count, 8);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let l = labels(&["a", "b"]);
    assert_eq!(evaluate(&[], &[], &l), Err(MetricsError::Empty));
    assert_eq!(evaluate(&[0], &[0], &[]), Err(MetricsError::NoLabels));
    assert!(matches!(
        evaluate(&[0, 1], &[0], &l),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        evaluate(&[0, 2], &[0, 1], &l),
        Err(MetricsError::ClassOutOfRange { .. })
    ));
    let one = labels(&["7"]);
    let speakers = EvalInput::new(&[0, 1], &[0, 1], &l)
        .with_speakers(&one)
        .evaluate();
    assert!(matches!(
        speakers,
        Err(MetricsError::LengthMismatch {
            what: "speakers",
            ..
        })
    ));
    let short = EvalInput::new(&[0], &[0], &l)
        .with_probabilities(&[1.0])
        .evaluate();
    assert!(matches!(short, Err(MetricsError::ProbabilityShape { .. })));
    let nan = EvalInput::new(&[0], &[0], &l)
        .with_probabilities(&[f32::NAN, 1.0])
        .evaluate();
    assert!(matches!(
        nan,
        Err(MetricsError::InvalidProbability { index: 0, .. })
    ));
}

#[test]
fn errors_name_the_problem() {
    let err = evaluate(&[0, 3], &[0, 1], &labels(&["a", "b"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "y_true[1] is 3, which is not a class index (there are 2 labels)"
    );
    let err = MetricsError::ProbabilityShape {
        samples: 2,
        classes: 3,
        actual: 5,
    };
    assert_eq!(
        err.to_string(),
        "probabilities must be 2 x 3 = 6 values (row-major) but there are 5"
    );
}

#[test]
fn mean_std_uses_sample_std() {
    let s = MeanStd::from_values(&[0.6, 0.7, 0.8]).unwrap();
    assert_close(s.mean, 0.7);
    assert_close(s.std, 0.1); // population std would be 0.0816...
    assert_eq!(s.n, 3);
    assert_eq!(s.percent(), "70.0 ± 10.0");
    let single = MeanStd::from_values(&[0.5]).unwrap();
    assert_eq!((single.std, single.percent()), (0.0, "50.0".to_string()));
    assert!(MeanStd::from_values(&[]).is_none());
}

#[test]
fn fold_summary_means_and_pools() {
    let l = labels(&["a", "b"]);
    let fold_a = EvalInput::new(&[0, 1], &[0, 0], &l)
        .with_speakers(&labels(&["s1", "s1"]))
        .evaluate()
        .unwrap();
    let fold_b = EvalInput::new(&[0, 1, 1, 1], &[0, 1, 1, 1], &l)
        .with_speakers(&labels(&["s2", "s2", "s3", "s3"]))
        .evaluate()
        .unwrap();
    let s = summarise_folds(&[fold_a, fold_b]).unwrap();
    assert_eq!(s.n_folds, 2);
    assert_close(s.wa.mean, 0.75);
    assert_close(s.wa.std, 0.125f64.sqrt()); // sqrt((0.25² + 0.25²) / 1)
    assert_close(s.ua.mean, 0.75);
    assert_eq!(s.pooled.confusion.counts(), &[vec![2, 0], vec![1, 3]]);
    assert_close(s.pooled.wa, 5.0 / 6.0);
    assert_close(s.pooled.ua, (1.0 + 0.75) / 2.0);
    let speakers: Vec<&str> = s
        .pooled
        .per_speaker
        .iter()
        .map(|r| r.speaker.as_str())
        .collect();
    assert_eq!(speakers, vec!["s1", "s2", "s3"]);
    assert!(s.pooled.probability.is_none());
}

#[test]
fn fold_summary_rejects_no_folds_and_mixed_labels() {
    assert_eq!(summarise_folds(&[]), Err(MetricsError::NoFolds));
    let a = evaluate(&[0], &[0], &labels(&["a", "b"])).unwrap();
    let b = evaluate(&[0], &[0], &labels(&["a", "c"])).unwrap();
    assert!(matches!(
        summarise_folds(&[a, b]),
        Err(MetricsError::LabelMismatch { .. })
    ));
}

#[test]
fn metrics_round_trip_through_json() {
    let (t, p, l) = worked_example();
    let m = evaluate(&t, &p, &l).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Metrics>(&json).unwrap(), m);
}

fn predictions() -> impl Strategy<Value = (usize, Vec<(usize, usize)>)> {
    (1usize..9).prop_flat_map(|k| (Just(k), prop::collection::vec((0..k, 0..k), 1..200)))
}

proptest! {
    #[test]
    fn scores_are_bounded_and_consistent((k, pairs) in predictions()) {
        let l: Vec<String> = (0..k).map(|i| format!("c{i}")).collect();
        let (t, p): (Vec<usize>, Vec<usize>) = pairs.into_iter().unzip();
        let m = evaluate(&t, &p, &l).unwrap();
        prop_assert_eq!(m.confusion.total(), t.len());
        prop_assert_eq!(m.per_class.iter().map(|c| c.support).sum::<usize>(), t.len());
        for score in [m.wa, m.ua, m.macro_precision, m.macro_f1] {
            prop_assert!((0.0..=1.0).contains(&score));
        }
        prop_assert_eq!(m.ua, m.macro_recall);
        let all_right = evaluate(&t, &t, &l).unwrap();
        prop_assert_eq!((all_right.wa, all_right.ua, all_right.macro_f1), (1.0, 1.0, 1.0));
    }
}
