//! `ser train`, `ser predict`, `ser eval --model` and `ser compare` end to end on the generated
//! tone dataset, plus the shipped model on real RAVDESS clips of the shared fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ser_audio::vad;

mod support;

fn ser(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ser"))
        .env("SER_CACHE_DIR", cache)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Trains `arch` on the tone dataset in `dir` with `extra` flags; returns (dataset root,
/// bundle path).
fn train(dir: &Path, arch: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    support::tone_dataset(&data);
    let model = dir.join(format!("{arch}.ser"));
    let cache = dir.join("cache");
    let mut args = vec![
        "train",
        "--data",
        s(&data),
        "--arch",
        arch,
        "--out",
        s(&model),
    ];
    args.extend(extra);
    let out = ser(&cache, &args);
    let text = ok(&out);
    assert!(text.contains("trained"), "{text}");
    (data, model)
}

/// `ser predict --json` of the tone dataset's first actor with `model`.
fn predict_actor_01(dir: &Path, model: &Path, data: &Path) -> Vec<serde_json::Value> {
    let out = ser(
        &dir.join("cache"),
        &[
            "predict",
            "--model",
            s(model),
            "--json",
            s(&data.join("Actor_01")),
        ],
    );
    let results: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    results.as_array().unwrap().clone()
}

#[test]
fn a_trained_model_predicts_held_in_tones_and_labels_them() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = train(dir.path(), "svm-linear", &["--epochs", "1"]);
    let results = predict_actor_01(dir.path(), &model, &data);
    assert_eq!(results.len(), 10);
    for r in &results {
        // The folder names the true emotion; tones this far apart are always told apart.
        assert_eq!(r["emotion"], r["true_emotion"], "{r}");
        let top = r["top"].as_array().unwrap();
        assert_eq!(top.len(), 2, "only two labels exist");
        assert!(top[0]["prob"].as_f64() >= top[1]["prob"].as_f64());
    }
}

#[test]
fn the_bundle_carries_features_labels_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = train(dir.path(), "mlp", &["--epochs", "2"]);
    let bundle = ser_model::Bundle::load(&model).unwrap();
    let features = bundle
        .meta
        .features
        .expect("feature settings in the bundle");
    assert_eq!(features.name, "pooled-rich");
    assert_eq!(bundle.meta.labels, ["happy", "sad"]);
    assert_eq!(bundle.meta.provenance["epochs"], "2");
    assert!(bundle.meta.provenance["protocol"].starts_with("train-all"));
    assert!(bundle.meta.metrics["validation"]["ua"].as_f64().is_some());
}

#[test]
fn an_ensemble_trains_saves_and_predicts_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = train(dir.path(), "mlp", &["--epochs", "2", "--members", "2"]);
    let bundle = ser_model::Bundle::load(&model).unwrap();
    assert_eq!(bundle.meta.members, 2);
    assert_eq!(bundle.meta.provenance["seed"], "0..=1");
    assert_eq!(predict_actor_01(dir.path(), &model, &data).len(), 10);
    let report = dir.path().join("scored");
    let args = [
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--report",
        s(&report),
    ];
    let text = ok(&ser(&dir.path().join("cache"), &args));
    assert!(text.contains("mlp x2 on pooled-rich"), "{text}");
}

#[test]
fn train_takes_the_figures_of_an_earlier_eval_of_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    support::tone_dataset(&data);
    let cache = dir.path().join("cache");
    let report = dir.path().join("holdout");
    let settings = ["--data", s(&data), "--arch", "mlp", "--epochs", "2"];
    let eval = [
        &["eval"][..],
        &settings,
        &["--protocol", "holdout:1"],
        &["--report", s(&report)],
    ];
    ok(&ser(&cache, &eval.concat()));

    let model = dir.path().join("mlp.ser");
    let train = [
        &["train"][..],
        &settings,
        &["--evaluated", s(&report), "--out", s(&model)],
    ];
    let text = ok(&ser(&cache, &train.concat()));
    assert!(text.contains("holdout:1: WA"), "{text}");
    let bundle = ser_model::Bundle::load(&model).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("report.json")).unwrap()).unwrap();
    let kept = &bundle.meta.metrics["speaker_independent"]["holdout:1"];
    assert_eq!(kept["ua"], written["aggregate"]["ua"]);

    // Other settings than the report's are refused before any training.
    let other_seed = [&train.concat()[..], &["--seed", "3"]].concat();
    let out = ser(&cache, &other_seed);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("report.json evaluated seed\n  0\nthis run trains\n  3"),
        "{stderr}"
    );

    // So are other training settings, which reports and bundles record.
    assert!(bundle.meta.provenance["training"].contains("AdamW lr 0.001"));
    let other_lr = [&train.concat()[..], &["--lr", "0.01"]].concat();
    let out = ser(&cache, &other_lr);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AdamW lr 0.01 weight decay"), "{stderr}");

    // A protocol both taken and asked for is refused before cross-validating.
    let twice = [&train.concat()[..], &["--evaluate", "holdout:1"]].concat();
    let out = ser(&cache, &twice);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holdout:1 is evaluated twice"), "{stderr}");
}

#[test]
fn predict_reports_a_bad_file_by_name_and_still_predicts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.wav");
    support::write_wav(&good, 16_000, 1.0, support::sine(220.0, 0.3));
    let bad = dir.path().join("broken.wav");
    std::fs::write(&bad, b"RIFF this is not audio").unwrap();
    let out = ser(dir.path(), &["predict", "--csv", s(&good), s(&bad)]);
    assert!(!out.status.success(), "a failed file must fail the run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.wav"), "{stderr}");
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with(s(&good)));
    assert!(
        lines[2].contains("broken.wav") && !lines[2].ends_with(','),
        "{csv}"
    );
}

#[test]
fn the_shipped_model_predicts_real_speech_with_a_readable_table() {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/librosa/inputs/ravdess_a12_angry_strong.flac");
    let dir = tempfile::tempdir().unwrap();
    let table = ok(&ser(dir.path(), &["predict", s(&clip)]));
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("file") && header.contains("confidence"),
        "{table}"
    );
    let row = table.lines().nth(2).unwrap();
    let labels =
        ser_model::Bundle::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.ser"))
            .unwrap()
            .meta
            .labels;
    let predicted = row.split_whitespace().nth(1).unwrap();
    assert!(labels.iter().any(|l| l == predicted), "{row}");
    assert_eq!(
        labels.len(),
        8,
        "the shipped model knows RAVDESS's 8 emotions"
    );
}

/// Silence gets "no speech" instead of an emotion (and is no error); a threshold above any
/// confidence marks every answer uncertain; `ser info --model` says what the model knows.
#[test]
fn silence_is_no_speech_and_low_confidence_is_marked_uncertain() {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/librosa/inputs/ravdess_a12_angry_strong.flac");
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    support::write_wav(&silence, 16_000, 2.0, |_| 0.0);
    let json = ok(&ser(
        dir.path(),
        &[
            "predict",
            s(&silence),
            s(&clip),
            "--json",
            "--uncertain-below",
            "1",
        ],
    ));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows[0]["no_speech"], true, "{json}");
    assert!(rows[0].get("emotion").is_none() && rows[0].get("error").is_none());
    assert_eq!(rows[1]["uncertain"], true, "{json}");
    let table = ok(&ser(dir.path(), &["predict", s(&silence)]));
    assert!(table.contains("(no speech)"), "{table}");
    let bad = ser(dir.path(), &["predict", s(&clip), "--uncertain-below", "7"]);
    assert!(!bad.status.success());

    let card = ok(&ser(dir.path(), &["info", "--model", "default"]));
    for needed in ["emotions", "trained on", "speaker-mod:5", "UA"] {
        assert!(card.contains(needed), "{needed} in {card}");
    }
}

#[test]
fn timeline_finds_the_speech_of_a_long_recording() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("call.wav");
    // 2 s silence, 6 s voiced tone, 3 s silence, 2 s tone.
    support::write_wav(&long, 16_000, 13.0, |t| {
        let on = (2.0..8.0).contains(&t) || (11.0..13.0).contains(&t);
        if on {
            support::sine(180.0, 0.3)(t)
        } else {
            0.0
        }
    });
    let out = ok(&ser(
        dir.path(),
        &[
            "predict",
            "--timeline",
            "--vad",
            "energy",
            "--json",
            s(&long),
        ],
    ));
    let results: serde_json::Value = serde_json::from_str(&out).unwrap();
    let segments = results[0]["segments"].as_array().unwrap();
    // 6 s of speech in 4 s windows with 1 s overlap = 2 windows, then the 2 s stretch.
    assert_eq!(segments.len(), 3, "{out}");
    let start = |i: usize| segments[i]["start_s"].as_f64().unwrap();
    assert!((start(0) - 2.0).abs() < 0.2, "{out}");
    assert!((start(2) - 11.0).abs() < 0.2, "{out}");
    let share: f64 = results[0]["speech_share"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["prob"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-4, "{out}");
    let table = ok(&ser(
        dir.path(),
        &["predict", "--timeline", "--vad", "energy", s(&long)],
    ));
    assert!(table.contains("speech time"), "{table}");
    let vtt = ok(&ser(
        dir.path(),
        &[
            "predict",
            "--timeline",
            "--vad",
            "energy",
            "--vtt",
            s(&long),
        ],
    ));
    assert!(vtt.starts_with("WEBVTT\n"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), 3, "{vtt}");
    let last_start = vtt.lines().rfind(|l| l.contains(" --> ")).unwrap();
    let seconds: f64 = last_start[6..12].parse().unwrap();
    assert!(
        last_start.starts_with("00:00:") && (seconds - 11.0).abs() < 0.2,
        "the last cue starts at 11 s: {vtt}"
    );
    let two = ser(
        dir.path(),
        &[
            "predict",
            "--timeline",
            "--vad=energy",
            "--vtt",
            s(&long),
            s(&long),
        ],
    );
    assert!(!two.status.success());
    assert!(String::from_utf8_lossy(&two.stderr).contains("one recording"));
}

#[test]
fn eval_scores_a_trained_bundle_and_compare_tables_two_models() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = train(dir.path(), "svm-linear", &["--epochs", "1"]);
    let cache = dir.path().join("cache");
    let report = dir.path().join("scored");
    let scored = ser(
        &cache,
        &[
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&data),
            "--report",
            s(&report),
        ],
    );
    let text = ok(&scored);
    assert!(text.contains("trained-model"), "{text}");
    let warning = String::from_utf8_lossy(&scored.stderr);
    assert!(
        warning.contains("trained on data") && warning.contains("not a speaker-independent"),
        "scoring a model on its own training corpus says so: {warning}"
    );
    assert!(report.join("report.html").exists());

    let comparison = dir.path().join("comparison");
    let table = ok(&ser(
        &cache,
        &[
            "compare",
            "--data",
            s(&data),
            "--models",
            "svm-linear,mlp",
            "--epochs",
            "2",
            "--protocol",
            "speaker-mod:2",
            "--report",
            s(&comparison),
        ],
    ));
    assert!(table.contains("| svm-linear on pooled-rich |"), "{table}");
    assert!(table.contains("| mlp on pooled-rich |"), "{table}");
    assert!(comparison.join("comparison.html").exists());

    // The same table again from the saved per-model reports, without training.
    let again = dir.path().join("again");
    let rebuilt = ok(&ser(
        &cache,
        &[
            "compare",
            "--from-reports",
            s(&comparison.join("mlp/report.json")),
            s(&comparison.join("svm-linear/report.json")),
            "--report",
            s(&again),
        ],
    ));
    assert_eq!(table_rows(&rebuilt), table_rows(&table));

    // An earlier table keeps its other rows when one model's report is redone.
    let merged = ok(&ser(
        &cache,
        &[
            "compare",
            "--from-reports",
            s(&comparison.join("comparison.json")),
            s(&comparison.join("mlp/report.json")),
            "--report",
            s(&dir.path().join("merged")),
        ],
    ));
    assert_eq!(table_rows(&merged), table_rows(&table));

    // An interrupted comparison resumes: reports of the same settings are taken as they are,
    // one of other settings is evaluated again.
    let base = [
        "compare",
        "--data",
        s(&data),
        "--protocol",
        "speaker-mod:2",
        "--report",
        s(&comparison),
        "--resume",
    ];
    let resumed = ser(
        &cache,
        &[&base[..], &["--models", "svm-linear,mlp", "--epochs", "2"]].concat(),
    );
    assert_eq!(table_rows(&ok(&resumed)), table_rows(&table));
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(stderr.matches("taken from").count(), 2, "{stderr}");
    let redone = ser(
        &cache,
        &[&base[..], &["--models", "mlp", "--epochs", "3"]].concat(),
    );
    ok(&redone);
    let stderr = String::from_utf8_lossy(&redone.stderr);
    assert!(
        stderr.contains("differs (epochs): evaluating again"),
        "{stderr}"
    );
    let mlp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(comparison.join("mlp/report.json")).unwrap())
            .unwrap();
    assert_eq!(mlp["provenance"]["epochs"], "3");
}

/// The rows of the Markdown table in `text` (without the trailing file list).
fn table_rows(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("| ")).collect()
}

#[test]
fn compare_refuses_an_unknown_model_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = ser(
        dir.path(),
        &["compare", "--data", s(dir.path()), "--models", "mlp,nope"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// A model trained on per-speaker normalised features (`+spk`) tells the tones apart in a
/// recording holding both (the recording's windows share their means, as a speaker's clips
/// did in training), while a steady tone alone, minus its own mean, says nothing.
#[test]
fn speaker_normalised_model_uses_the_whole_recording_in_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--features", "logmel64-frames+spk", "--epochs", "3"];
    let (_, model) = train(dir.path(), "svm-linear", &extra);
    let long = dir.path().join("both.wav");
    // 2 s of the low ("sad") tone, 1 s silence, 2 s of the high ("happy") one.
    support::write_wav(&long, 16_000, 5.0, |t| {
        let freq = if t < 2.0 { 150.0 } else { 900.0 };
        let on = !(2.0..3.0).contains(&t);
        if on { support::sine(freq, 0.4)(t) } else { 0.0 }
    });
    let out = ok(&ser(
        dir.path(),
        &[
            "predict",
            "--model",
            s(&model),
            "--timeline",
            "--vad",
            "energy",
            "--json",
            s(&long),
        ],
    ));
    let results: serde_json::Value = serde_json::from_str(&out).unwrap();
    let segments = results[0]["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{out}");
    let emotion = |i: usize| segments[i]["prediction"]["ranked"][0]["label"].clone();
    assert_eq!(emotion(0), "sad", "{out}");
    assert_eq!(emotion(1), "happy", "{out}");
}

/// A timeline decoded as a stream (a file, an upload's bytes) is the timeline of the
/// recording decoded into memory, bit for bit: windows, speaker means and all, through the
/// resampler too (44.1 kHz in, 16 kHz model).
#[test]
fn streamed_timeline_equals_the_timeline_of_the_decoded_recording() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--features", "logmel64-frames+spk", "--epochs", "3"];
    let (_, model) = train(dir.path(), "svm-linear", &extra);
    let long = dir.path().join("long.wav");
    // Speech-like stretches of both tones (longer than a window) between short silences.
    support::write_wav(&long, 44_100, 23.0, |t| {
        let freq = if (t % 10.0) < 5.0 { 150.0 } else { 900.0 };
        let syllables = 0.5 + 0.5 * (t * 3.0 * std::f32::consts::PI).sin().abs();
        let on = (t % 7.0) < 6.2;
        if on {
            syllables * support::sine(freq, 0.4)(t)
        } else {
            0.0
        }
    });
    let classifier = ser_infer::Classifier::load(&model).unwrap();
    // Tones, not a voice: the energy detector (Silero hears no speech in them).
    let options = ser_infer::TimelineOptions {
        vad: vad::VadConfig::default(),
        ..Default::default()
    };
    let decoded = classifier.decode_file(&long).unwrap();
    let in_memory = classifier
        .timeline(
            ser_infer::Recording::Samples(&decoded.samples),
            "long.wav",
            &options,
        )
        .unwrap();
    assert!(in_memory.len() >= 5, "{in_memory:?}");
    let streamed = classifier
        .timeline(ser_infer::Recording::File(&long), "long.wav", &options)
        .unwrap();
    assert_eq!(streamed, in_memory);
    let bytes = std::fs::read(&long).unwrap();
    let upload = ser_infer::Recording::Bytes {
        bytes: &bytes,
        name: "long.wav",
    };
    assert_eq!(
        classifier.timeline(upload, "long.wav", &options).unwrap(),
        in_memory
    );

    // Unsmoothed, the windows are the voice-activity windows classified together.
    let raw = ser_infer::TimelineOptions {
        smooth: false,
        ..options.clone()
    };
    let speech: Vec<_> = vad::detect_speech(&decoded.samples, 16_000, &raw.vad)
        .into_iter()
        .filter(|s| s.duration_s() >= raw.min_segment_s)
        .collect();
    let windows = vad::split_long_segments(&speech, raw.window_s, raw.overlap_s);
    let clips = windows
        .iter()
        .map(|w| {
            let samples = w.slice(&decoded.samples, 16_000);
            classifier.speech_features(samples, "window").unwrap()
        })
        .collect();
    let together: Vec<_> = classifier
        .classify_together(clips)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let streamed = classifier
        .timeline(ser_infer::Recording::File(&long), "long.wav", &raw)
        .unwrap();
    let answers: Vec<_> = streamed.into_iter().map(|t| t.prediction).collect();
    assert_eq!(answers, together);
}

/// A list predicted as 4 shards into JSON-lines parts covers every file exactly once; a
/// shard restarted after being killed mid-line carries on without duplicates; `ser merge`
/// joins the parts and says when an expected file is missing.
#[test]
fn sharded_prediction_covers_a_list_once_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::from("path\n");
    for i in 0..12 {
        let name = format!("call{i:02}.wav");
        support::write_wav(
            &dir.path().join(&name),
            16_000,
            1.0,
            support::sine(150.0 + 10.0 * i as f32, 0.3),
        );
        list.push_str(&format!("{name}\n"));
    }
    let csv = dir.path().join("calls.csv");
    std::fs::write(&csv, list).unwrap();
    let part = |i: usize| dir.path().join(format!("part-{i}.jsonl"));
    for i in 0..4 {
        let shard = format!("{i}/4");
        ok(&ser(
            dir.path(),
            &["predict", s(&csv), "--shard", &shard, "--out", s(&part(i))],
        ));
    }
    let lines = |i: usize| std::fs::read_to_string(part(i)).unwrap().lines().count();
    assert_eq!((0..4).map(lines).sum::<usize>(), 12);

    // Shard 0 killed while writing a line: the cut line is dropped and redone, once.
    let first = std::fs::read_to_string(part(0)).unwrap();
    let kept: Vec<&str> = first.lines().collect();
    assert!(!kept.is_empty(), "shard 0 holds some of the 12 files");
    let cut = format!("{}\n{}", kept[1..].join("\n"), &kept[0][..10]);
    std::fs::write(part(0), cut.trim_start()).unwrap();
    let again = ok(&ser(
        dir.path(),
        &["predict", s(&csv), "--shard", "0/4", "--out", s(&part(0))],
    ));
    assert!(again.contains("1 results written"), "{again}");
    assert_eq!(lines(0), kept.len());

    let merged = dir.path().join("all.csv");
    let parts: Vec<String> = (0..4).map(|i| part(i).display().to_string()).collect();
    let mut args = vec!["merge", "--out", s(&merged), "--expect", s(&csv), "--"];
    args.extend(parts.iter().map(String::as_str));
    let report = ok(&ser(dir.path(), &args));
    assert!(
        report.contains("12 files from 4 parts, 0 duplicate"),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(&merged).unwrap().lines().count(),
        13
    );

    // Without shard 3, its files are reported missing and the exit status says so.
    let mut args = vec!["merge", "--out", s(&merged), "--expect", s(&csv), "--"];
    args.extend(parts[..3].iter().map(String::as_str));
    let incomplete = ser(dir.path(), &args);
    assert!(!incomplete.status.success());
    assert!(String::from_utf8_lossy(&incomplete.stderr).contains("in no part"));
}
