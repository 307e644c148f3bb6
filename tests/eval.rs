//! `ser eval` end to end on the small generated tone dataset of `support`.

use std::process::Command;

mod support;

#[test]
fn eval_writes_a_speaker_independent_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    support::tone_dataset(&data);
    let report_dir = dir.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .env("SER_CACHE_DIR", dir.path().join("cache"))
        .args([
            "eval",
            "--arch",
            "svm-linear",
            "--protocol",
            "speaker-mod:2",
            "--data",
        ])
        .arg(&data)
        .arg("--report")
        .arg(&report_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = std::fs::read_to_string(report_dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["protocol"]["id"], "speaker-mod:2");
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    // Fold k holds the speakers whose number mod 2 is k: no speaker is tested twice.
    assert_eq!(folds[0]["test_speakers"], serde_json::json!(["2", "4"]));
    assert_eq!(folds[1]["test_speakers"], serde_json::json!(["1", "3"]));
    // Tones two octaves apart are separable by any working pipeline.
    let ua = report["aggregate"]["ua"]["mean"].as_f64().unwrap();
    assert!(ua > 0.9, "UA {ua}");
    assert!(report_dir.join("report.html").exists());
}

#[test]
fn eval_refuses_an_unknown_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["eval", "--arch", "no-such-model", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-model"));
}
