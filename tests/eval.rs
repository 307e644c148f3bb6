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

/// `ser eval --arch mlp` (2 epochs, speaker-mod:2) on `data` into `report` with `extra` flags.
fn eval_mlp(
    dir: &std::path::Path,
    report: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ser"))
        .env("SER_CACHE_DIR", dir.join("cache"))
        .args([
            "eval",
            "--arch",
            "mlp",
            "--epochs",
            "2",
            "--protocol",
            "speaker-mod:2",
        ])
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--report")
        .arg(report)
        .args(extra)
        .output()
        .unwrap()
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn folds_run_in_separate_runs_make_the_report_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    support::tone_dataset(&dir.path().join("data"));
    let whole = dir.path().join("whole");
    assert!(eval_mlp(dir.path(), &whole, &[]).status.success());
    assert!(
        !whole.join("folds").exists(),
        "the report replaces its fold store"
    );

    let parts = dir.path().join("parts");
    let first = eval_mlp(dir.path(), &parts, &["--folds", "1"]);
    assert!(first.status.success());
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("folds 0 are not finished yet"), "{stdout}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("fold 1 finished: WA"), "{stderr}");
    assert!(!parts.join("report.json").exists());
    assert!(parts.join("folds/fold-1.json").exists());

    // A plain rerun would silently redo the finished fold: it is refused.
    let again = eval_mlp(dir.path(), &parts, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    // Other settings cannot join the finished fold.
    let other = eval_mlp(dir.path(), &parts, &["--resume", "--lr", "0.01"]);
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(stderr.contains("lr: stored 0.001, now 0.01"), "{stderr}");

    let last = eval_mlp(dir.path(), &parts, &["--folds", "0"]);
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert!(!parts.join("folds").exists());
    let (one, two) = (
        read_json(&whole.join("report.json")),
        read_json(&parts.join("report.json")),
    );
    // Training is deterministic given the seed, so the parts add up to the whole run.
    for fold in 0..2 {
        assert_eq!(one["folds"][fold]["fold"], fold);
        assert_eq!(one["folds"][fold]["metrics"], two["folds"][fold]["metrics"]);
    }
    assert_eq!(one["aggregate"], two["aggregate"]);
    assert!(
        two["provenance"]["training"]
            .as_str()
            .unwrap()
            .contains("batch 32"),
        "{}",
        two["provenance"]
    );
}

#[test]
fn an_unknown_fold_is_refused_by_number() {
    let dir = tempfile::tempdir().unwrap();
    support::tone_dataset(&dir.path().join("data"));
    let out = eval_mlp(dir.path(), &dir.path().join("r"), &["--folds", "7"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("there is no fold 7"), "{stderr}");
}

#[test]
fn bad_training_options_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    support::tone_dataset(&dir.path().join("data"));
    for (flags, says) in [
        (
            ["--freq-warp", "0.1"],
            "--freq-warp needs log-mel frame features; pooled-rich",
        ),
        (
            ["--set", "widths=3"],
            "mlp: widths=3: unknown field `widths`",
        ),
        (["--set", "dropout"], "--set dropout: expected KEY=VALUE"),
        (
            ["--train-alone", "--spec-augment"],
            "--train-alone needs per-speaker normalised features (a +spk set), not pooled-rich",
        ),
    ] {
        let out = eval_mlp(dir.path(), &dir.path().join("r"), &flags);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
        // Refused before featurising: nothing went into the feature cache.
        assert!(!dir.path().join("cache").exists(), "{flags:?}");
    }
}

/// Two corpora (the tone dataset twice, the second 20 dB quieter, plus an emotion only the
/// first has): corpus-out tests each on a model trained on the other, over the shared
/// emotions, with speakers namespaced by corpus; eval --model scores per corpus too.
#[test]
fn corpus_out_over_two_corpora_reports_each_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report_dir) = corpus_out_of_two(dir.path(), "mfcc40-frames");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stderr.contains("phone/1"), "namespaced speakers: {stderr}");
    assert!(
        stderr.contains("1 clips of other emotions take no part"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(report_dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["labels"], serde_json::json!(["happy", "sad"]));
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 2);
    for (fold, corpus) in folds.iter().zip(["studio", "phone"]) {
        let speakers = fold["test_speakers"].as_array().unwrap();
        assert!(
            speakers
                .iter()
                .all(|s| s.as_str().unwrap().starts_with(corpus))
        );
        assert!(fold["metrics"]["probability"]["ece"].is_number());
    }
    // Tones two octaves apart differ in spectral shape, which a 20 dB gap leaves alone.
    for corpus in ["studio", "phone"] {
        let ua = report["by_group"][corpus]["ua"]["mean"].as_f64().unwrap();
        assert!(ua > 0.9, "{corpus}: UA {ua}");
    }
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(html.contains("Per corpus"));
    // Each fold is calibrated by the other fold's test corpus, never its own.
    let unseen = report["unseen_corpus_temperature"].as_f64().unwrap();
    for fold in folds {
        assert!(fold["unseen_corpus"]["ece"].is_number(), "{fold}");
    }
    assert!(html.contains("For a corpus nobody has seen"));

    // A model trained on both takes that temperature, meant for corpora it never heard.
    let model = dir.path().join("both.ser");
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .env("SER_CACHE_DIR", dir.path().join("cache"))
        .args([
            "train",
            "--arch",
            "svm-linear",
            "--features",
            "mfcc40-frames",
        ])
        .arg("--data")
        .arg(dir.path().join("studio"))
        .arg("--data")
        .arg(dir.path().join("phone"))
        .arg("--evaluated")
        .arg(&report_dir)
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bundle = ser_model::Bundle::load(&model).unwrap();
    let temperature = f64::from(bundle.meta.temperature.unwrap());
    assert!(
        (temperature - unseen).abs() < 1e-6,
        "{temperature} vs {unseen}"
    );
    assert!(bundle.meta.provenance["temperature"].contains("corpus-out test corpora"));
    // Each held-out corpus's calibration under the other's temperature, by name, and the
    // model card says it.
    let figures = &bundle.meta.metrics["speaker_independent"]["corpus-out"];
    for (fold, corpus) in folds.iter().zip(["studio", "phone"]) {
        assert_eq!(
            figures["unseen_corpus_ece"][corpus], fold["unseen_corpus"]["ece"],
            "{figures}"
        );
    }
    let card = Command::new(env!("CARGO_BIN_EXE_ser"))
        .args(["info", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    let card = String::from_utf8_lossy(&card.stdout);
    assert!(
        card.contains("ECE with the temperature fitted on the other corpora"),
        "{card}"
    );
}

/// `ser eval --protocol corpus-out` of an SVM on `features` over two tone corpora under
/// `dir`: "studio" and "phone" (20 dB quieter, without the angry clip studio has).
fn corpus_out_of_two(
    dir: &std::path::Path,
    features: &str,
) -> (std::process::Output, std::path::PathBuf) {
    let (first, second) = (dir.join("studio"), dir.join("phone"));
    support::tone_dataset(&first);
    support::tone_dataset(&second);
    let angry = first.join("Actor_01").join("angry");
    std::fs::create_dir_all(&angry).unwrap();
    support::write_wav(
        &angry.join("a.wav"),
        16_000,
        0.75,
        support::sine(3000.0, 0.4),
    );
    for entry in walk(&second) {
        let samples: Vec<i16> = hound::WavReader::open(&entry)
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap() / 10)
            .collect();
        let spec = hound::WavReader::open(&entry).unwrap().spec();
        let mut writer = hound::WavWriter::create(&entry, spec).unwrap();
        samples
            .iter()
            .for_each(|s| writer.write_sample(*s).unwrap());
        writer.finalize().unwrap();
    }
    let report_dir = dir.join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_ser"))
        .env("SER_CACHE_DIR", dir.join("cache"))
        .args(["eval", "--arch", "svm-linear", "--features", features])
        .args(["--protocol", "corpus-out", "--data"])
        .arg(&first)
        .arg("--data")
        .arg(&second)
        .arg("--report")
        .arg(&report_dir)
        .output()
        .unwrap();
    (out, report_dir)
}

/// With per-speaker normalisation, reports also score each test clip normalised by its own
/// mean, as `ser predict` of one file does; steady tones lose what told them apart there.
#[test]
fn per_speaker_features_are_also_scored_clip_by_clip() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report_dir) = corpus_out_of_two(dir.path(), "mfcc40-frames+spk");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(report_dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    for corpus in ["studio", "phone"] {
        let by_speaker = report["by_group"][corpus]["ua"]["mean"].as_f64().unwrap();
        let alone = &report["by_group"][format!("{corpus}, each clip alone")];
        let alone = alone["ua"]["mean"].as_f64().unwrap();
        assert!(by_speaker > 0.9, "{corpus}: UA {by_speaker}");
        assert!(
            alone < by_speaker,
            "{corpus}: alone {alone} vs {by_speaker}"
        );
    }
    let html = std::fs::read_to_string(report_dir.join("report.html")).unwrap();
    assert!(html.contains("as a prediction of one file does"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
