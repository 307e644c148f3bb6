//! `ser predict FILE...`: the emotion of each clip (file, emotion, confidence, top 3, and the
//! true emotion when the file name or folder tells it), or with `--timeline` the emotions of
//! the speech segments of long recordings. A file that cannot be read is reported and the
//! others still predicted. For models normalised per speaker, clips whose speaker is known
//! are normalised together (`--speakers`). `--shard I/N --out part.jsonl` predicts one share of a large list
//! for a job array, resumably.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use ser_infer::{
    Classifier, ClipFeatures, ClipPrediction, InferenceError, Recording, Scored, TimedPrediction,
    TimelineOptions, speech_share,
};
use serde::{Deserialize, Serialize};

use super::batch::{JsonLines, Shard};
use crate::{default_model, output};

#[derive(clap::Args)]
pub struct Args {
    /// Audio files, or folders to search for audio files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Model bundle (default: the shipped model).
    #[arg(long)]
    model: Option<String>,
    /// Per-segment emotions with start and end times (for long recordings).
    #[arg(long)]
    timeline: bool,
    /// Speech longer than this is classified in windows of this many seconds (--timeline).
    #[arg(long, default_value_t = 4.0)]
    window: f64,
    /// The voice-activity detector that finds the speech of a timeline: `silero` (the Silero
    /// VAD network: finds the speech in noise) or `energy` (frame levels: faster, takes any
    /// sound that rises and falls for speech; BENCHMARKS.md).
    #[arg(long, default_value_t = ser_audio::vad::Detector::Silero)]
    vad: ser_audio::vad::Detector,
    /// How many of the most likely emotions to list.
    #[arg(long, default_value_t = 3)]
    top: usize,
    /// Mark answers whose confidence is below this (0-1) as uncertain (default: the
    /// model's own threshold, else 0.4).
    #[arg(long, value_parser = unit_interval)]
    uncertain_below: Option<f32>,
    /// Refuse recordings longer than this many hours (0: no limit). Timelines are decoded as
    /// a stream, so a longer recording costs time, not memory.
    #[arg(long, default_value_t = ser_audio::DEFAULT_MAX_DURATION_S / 3600.0, value_parser = hours)]
    max_hours: f64,
    #[arg(long, conflicts_with_all = ["csv", "vtt"])]
    json: bool,
    #[arg(long, conflicts_with = "vtt")]
    csv: bool,
    /// The timeline as WebVTT captions (one cue per segment), for a video or audio player
    /// (one recording; needs --timeline).
    #[arg(long, requires = "timeline")]
    vtt: bool,
    /// Predict only shard I of N (0-based) of the files: a stable share by hash of each
    /// path, for job arrays (Slurm, Kubernetes Indexed Jobs); `ser merge` joins the parts.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Append each result as a JSON line to this file as it is done, skipping files already
    /// in it (a restarted shard carries on where it stopped).
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["json", "csv", "vtt"])]
    out: Option<PathBuf>,
    /// Which clips come from one speaker, for models normalised per speaker (`ser info`
    /// says so), which are more accurate when several clips of a speaker are known: `auto`
    /// groups the clips whose speaker a list's speaker column, the file names of a known
    /// corpus or speaker folders (Actor_01, speaker_3) name; `one` takes all the files for
    /// one speaker; `alone` predicts each clip on its own. `--timeline` and `--out` predict
    /// each file on its own.
    #[arg(long, value_enum, default_value_t = Speakers::Auto)]
    speakers: Speakers,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Speakers {
    Auto,
    One,
    Alone,
}

/// A file to predict, with what its list or name says of it.
pub(crate) struct Listed {
    pub(crate) path: PathBuf,
    /// Its emotion from a list's emotion column (else guessed from its name when predicted).
    truth: Option<String>,
    /// Its speaker, namespaced by the argument that listed it.
    speaker: Option<String>,
}

/// One file's outcome: a line of `--json` / `--out`, a row of the table or CSV.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FileResult {
    pub(crate) file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    emotion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    confidence: Option<f32>,
    /// No emotion stands out (confidence below the threshold).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    uncertain: bool,
    /// The clip holds no speech (silence), so no emotion is named.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_speech: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    top: Vec<Scored>,
    #[serde(skip_serializing_if = "Option::is_none")]
    true_emotion: Option<String>,
    /// The speaker whose clips this one was normalised with (see `--speakers`).
    #[serde(skip_serializing_if = "Option::is_none")]
    speaker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segments: Option<Vec<TimedPrediction>>,
    /// With --timeline: the share of the speech time each emotion won.
    #[serde(skip_serializing_if = "Option::is_none")]
    speech_share: Option<Vec<Scored>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl FileResult {
    /// Whether this is a `--timeline` result (its rows are segments).
    pub(crate) fn has_timeline(&self) -> bool {
        self.segments.is_some()
    }

    /// "ok", "uncertain", "no speech" or "error".
    fn status(&self) -> &'static str {
        match (self.error.is_some(), self.no_speech, self.uncertain) {
            (true, _, _) => "error",
            (_, true, _) => "no speech",
            (_, _, true) => "uncertain",
            _ => "ok",
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut classifier = default_model::classifier(args.model.as_deref())?;
    if let Some(threshold) = args.uncertain_below {
        classifier = classifier.with_uncertain_below(threshold);
    }
    let max_s = (args.max_hours > 0.0).then_some(args.max_hours * 3600.0);
    classifier = classifier.with_max_duration(max_s);
    let mut files = expand(&args.files)?;
    if let Some(shard) = args.shard {
        files.retain(|file| shard.holds(&file.path));
    }
    if args.speakers == Speakers::One && (args.out.is_some() || args.timeline) {
        anyhow::bail!(
            "--speakers one needs every clip in one run: --out and --timeline predict each file on its own"
        );
    }
    if let Some(out) = &args.out {
        return predict_into(&classifier, files, out, &args);
    }
    if args.vtt && files.len() != 1 {
        anyhow::bail!(
            "WebVTT captions describe one recording, but {} files were given",
            files.len()
        );
    }
    let results = predict_files(&classifier, &files, &args);
    for failed in results.iter().filter_map(|r| r.error.as_ref()) {
        eprintln!("error: {failed}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else if args.csv {
        write_csv(&results, &args)?;
    } else if args.vtt {
        print!("{}", webvtt(&results[0]));
    } else if args.timeline {
        print!("{}", timeline_table(&results));
        for r in &results {
            if let Some(share) = r.speech_share.as_ref().filter(|s| !s.is_empty()) {
                println!("{}: speech time {}", r.file, ranked_text(share));
            }
        }
    } else {
        print!("{}", clip_table(&results));
        if let Some(summary) = accuracy_summary(&results) {
            println!("{summary}");
        }
    }
    let all_ok = results.iter().all(|r| r.error.is_none());
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Predicts `files` into the JSON-lines file `out`, skipping those already in it; the exit
/// status says whether every file of this run could be read.
fn predict_into(
    classifier: &Classifier,
    mut files: Vec<Listed>,
    out: &Path,
    args: &Args,
) -> anyhow::Result<ExitCode> {
    let (lines, done) = JsonLines::open_resuming::<FileResult>(out)?;
    let finished: HashSet<String> = done.into_iter().map(|r| r.file).collect();
    let total = files.len();
    files.retain(|file| !finished.contains(&file.path.display().to_string()));
    let bar = output::progress_bar(
        files.len() as u64,
        &format!("predicting into {}", out.display()),
    );
    let failures = AtomicUsize::new(0);
    files.par_iter().try_for_each(|file| {
        let result = predict_file(classifier, file, args);
        if let Some(error) = &result.error {
            bar.suspend(|| eprintln!("error: {error}"));
            failures.fetch_add(1, Ordering::Relaxed);
        }
        bar.inc(1);
        lines.append(&result)
    })?;
    bar.finish_and_clear();
    let failures = failures.into_inner();
    println!(
        "{}: {} results written, {} already there ({total} files in this share), {failures} unreadable",
        out.display(),
        files.len(),
        total - files.len(),
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Files as given, each with its true emotion and speaker when known: folders are replaced by
/// the audio files inside them (sorted; a `MANIFEST.csv` at the top names their emotions and
/// speakers), CSV lists by the files they list (with the emotions and speakers of their
/// columns).
pub(crate) fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<Listed>> {
    let mut files = Vec::new();
    for (source, path) in paths.iter().enumerate() {
        // Speaker 1 of one folder is not speaker 1 of another.
        let speaker = |id: String| format!("{source}/{id}");
        if path.is_dir() {
            let mut found = Vec::new();
            collect_audio(path, &mut found)?;
            found.sort();
            if found.is_empty() {
                anyhow::bail!("{}: no audio files in this folder", path.display());
            }
            let rels: Vec<&Path> = found
                .iter()
                .map(|f| f.strip_prefix(path).unwrap_or(f))
                .collect();
            let speakers = ser_corpus::speakers_of(&rels);
            let mut listed = folder_manifest(path)?;
            files.extend(found.iter().zip(speakers).map(|(f, id)| {
                let entry = listed.remove(f);
                let (truth, from_list) = entry.map_or((None, None), |e| (e.emotion, e.speaker));
                Listed {
                    path: f.clone(),
                    truth,
                    speaker: from_list.or(id).map(speaker),
                }
            }));
        } else if ser_corpus::is_manifest_path(path) {
            let listed = ser_corpus::read_file_list(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            files.extend(listed.into_iter().map(|f| Listed {
                path: f.path,
                truth: f.emotion,
                speaker: f.speaker.map(speaker),
            }));
        } else {
            files.push(Listed {
                path: path.clone(),
                truth: None,
                speaker: None,
            });
        }
    }
    Ok(files)
}

/// Predicts every file; with a per-speaker model, the clips of each known speaker together.
fn predict_files(classifier: &Classifier, files: &[Listed], args: &Args) -> Vec<FileResult> {
    let groups = speaker_groups(classifier, files, args);
    if groups.is_empty() {
        return files
            .par_iter()
            .map(|file| predict_file(classifier, file, args))
            .collect();
    }
    let mut results: Vec<Option<FileResult>> = files.iter().map(|_| None).collect();
    for (speaker, members) in &groups {
        let clips: Vec<Result<ClipFeatures, InferenceError>> = members
            .par_iter()
            .map(|&i| classifier.clip_features(&files[i].path))
            .collect();
        let (heard, clips): (Vec<usize>, Vec<ClipFeatures>) = members
            .iter()
            .zip(clips)
            .filter_map(|(&i, clip)| match clip {
                Ok(clip) => Some((i, clip)),
                Err(e) => {
                    results[i] = Some(file_result(&files[i], Err(e), args));
                    None
                }
            })
            .unzip();
        for (i, prediction) in heard.into_iter().zip(classifier.classify_together(clips)) {
            let mut result = file_result(&files[i], prediction.map(Outcome::Clip), args);
            result.speaker = Some(speaker.clone());
            results[i] = Some(result);
        }
    }
    // Every clip of a group has its result now; the rest go alone.
    let alone: Vec<(usize, FileResult)> = (0..files.len())
        .into_par_iter()
        .filter(|&i| results[i].is_none())
        .map(|i| (i, predict_file(classifier, &files[i], args)))
        .collect();
    for (i, result) in alone {
        results[i] = Some(result);
    }
    results.into_iter().flatten().collect()
}

/// The clips to normalise together, by speaker (none when each clip goes alone), and a line
/// on standard error saying how the clips were grouped.
fn speaker_groups(
    classifier: &Classifier,
    files: &[Listed],
    args: &Args,
) -> std::collections::BTreeMap<String, Vec<usize>> {
    let mut groups = std::collections::BTreeMap::<String, Vec<usize>>::new();
    if !classifier.normalises_by_speaker() || args.timeline || args.out.is_some() {
        return groups;
    }
    for (i, file) in files.iter().enumerate() {
        let speaker = match args.speakers {
            Speakers::Alone => None,
            Speakers::One => Some("all".to_string()),
            Speakers::Auto => file.speaker.clone(),
        };
        if let Some(speaker) = speaker {
            groups.entry(speaker).or_default().push(i);
        }
    }
    let together: usize = groups.values().map(Vec::len).sum();
    if together > 0 {
        eprintln!(
            "{together} of the {} clips normalised with the other clips of their speaker ({} speakers); --speakers alone predicts each clip on its own",
            files.len(),
            groups.len()
        );
    }
    groups
}

/// The files a folder's own manifest (`MANIFEST.csv` at its top, as a prepared dataset has)
/// lists, by path: their emotions and speakers beat what names and folders suggest.
fn folder_manifest(
    dir: &Path,
) -> anyhow::Result<std::collections::HashMap<PathBuf, ser_corpus::ListedFile>> {
    let manifest = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot list folder: {e}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.eq_ignore_ascii_case("manifest.csv"))
        });
    let Some(manifest) = manifest else {
        return Ok(Default::default());
    };
    let listed = ser_corpus::read_file_list(&manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(listed.into_iter().map(|f| (f.path.clone(), f)).collect())
}

fn collect_audio(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot list folder: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_audio(&path, out)?;
        } else if ser_corpus::is_audio_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Predicts one file on its own.
fn predict_file(classifier: &Classifier, file: &Listed, args: &Args) -> FileResult {
    let outcome = if args.timeline {
        timeline(classifier, &file.path, args.window, args.vad).map(Outcome::Timeline)
    } else {
        classifier.classify_file(&file.path).map(Outcome::Clip)
    };
    file_result(file, outcome, args)
}

/// What predicting a file gave.
enum Outcome {
    Clip(ClipPrediction),
    Timeline(Vec<TimedPrediction>),
}

fn file_result(file: &Listed, outcome: Result<Outcome, InferenceError>, args: &Args) -> FileResult {
    let guessed = || ser_corpus::guess_emotion(&file.path).map(|(e, _)| e.to_string());
    let mut result = FileResult {
        file: file.path.display().to_string(),
        true_emotion: file.truth.clone().or_else(guessed),
        ..FileResult::default()
    };
    match outcome {
        Ok(Outcome::Clip(prediction)) => fill(&mut result, &prediction, args.top),
        Ok(Outcome::Timeline(segments)) => {
            result.speech_share = Some(speech_share(&segments));
            result.segments = Some(segments);
        }
        Err(InferenceError::NoSpeech { .. }) if !args.timeline => result.no_speech = true,
        Err(e) => result.error = Some(e.to_string()),
    }
    result
}

fn unit_interval(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{text} is not a number from 0 to 1")),
    }
}

fn hours(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text} is not a number of hours (0 or more)")),
    }
}

fn timeline(
    classifier: &Classifier,
    path: &Path,
    window_s: f64,
    vad: ser_audio::vad::Detector,
) -> Result<Vec<TimedPrediction>, ser_infer::InferenceError> {
    let options = TimelineOptions {
        window_s,
        vad: ser_audio::vad::VadConfig::for_detector(vad),
        ..Default::default()
    };
    let name = path.display().to_string();
    classifier.timeline(Recording::File(path), &name, &options)
}

fn fill(result: &mut FileResult, prediction: &ClipPrediction, top: usize) {
    let best = prediction.top();
    result.emotion = Some(best.label.clone());
    result.confidence = Some(best.prob);
    result.uncertain = prediction.uncertain;
    result.top = prediction.ranked.iter().take(top.max(1)).cloned().collect();
}

fn ranked_text(ranked: &[Scored]) -> String {
    ranked
        .iter()
        .map(|s| format!("{} {:.0}%", s.label, 100.0 * s.prob))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clip_table(results: &[FileResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| {
            let emotion = match (&r.emotion, r.no_speech, r.uncertain) {
                (_, true, _) => "(no speech)".to_string(),
                (Some(e), _, true) => format!("{e} (uncertain)"),
                (e, _, _) => e.clone().unwrap_or_default(),
            };
            vec![
                r.file.clone(),
                emotion,
                r.confidence
                    .map_or(String::new(), |c| format!("{:.1}%", 100.0 * c)),
                ranked_text(&r.top),
                r.true_emotion.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    output::table(&["file", "emotion", "confidence", "top", "true"], &rows)
}

fn timeline_table(results: &[FileResult]) -> String {
    let mut rows = Vec::new();
    for r in results {
        for s in r.segments.iter().flatten() {
            let best = s.prediction.top();
            let uncertain = if s.prediction.uncertain {
                " (uncertain)"
            } else {
                ""
            };
            rows.push(vec![
                r.file.clone(),
                format_time(s.start_s),
                format_time(s.end_s),
                format!("{}{uncertain}", best.label),
                format!("{:.1}%", 100.0 * best.prob),
            ]);
        }
    }
    output::table(&["file", "start", "end", "emotion", "confidence"], &rows)
}

/// A timeline as WebVTT: one cue per segment saying its emotion and confidence.
fn webvtt(result: &FileResult) -> String {
    let stamp = |seconds: f64| {
        let ms = (seconds * 1000.0).round() as u64;
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            (ms / 60_000) % 60,
            (ms / 1000) % 60,
            ms % 1000
        )
    };
    let mut vtt = String::from("WEBVTT\n");
    for (i, s) in result.segments.iter().flatten().enumerate() {
        let best = s.prediction.top();
        let uncertain = if s.prediction.uncertain {
            " (uncertain)"
        } else {
            ""
        };
        vtt.push_str(&format!(
            "\n{}\n{} --> {}\n{}{uncertain} {:.0}%\n",
            i + 1,
            stamp(s.start_s),
            stamp(s.end_s),
            best.label,
            100.0 * best.prob
        ));
    }
    vtt
}

/// Seconds as m:ss.s (h:mm:ss.s past an hour).
pub(crate) fn format_time(seconds: f64) -> String {
    let tenths = (seconds * 10.0).round() as u64;
    let (h, m, s) = (
        tenths / 36_000,
        (tenths / 600) % 60,
        (tenths % 600) as f64 / 10.0,
    );
    if h > 0 {
        format!("{h}:{m:02}:{s:04.1}")
    } else {
        format!("{m}:{s:04.1}")
    }
}

/// "accuracy on the N clips whose emotion is known: X%", when some are known.
fn accuracy_summary(results: &[FileResult]) -> Option<String> {
    let known: Vec<&FileResult> = results
        .iter()
        .filter(|r| r.true_emotion.is_some() && r.emotion.is_some())
        .collect();
    if known.is_empty() {
        return None;
    }
    let right = known.iter().filter(|r| r.true_emotion == r.emotion).count();
    Some(format!(
        "{right} of the {} clips whose emotion is known were predicted right ({:.1}%)",
        known.len(),
        100.0 * right as f64 / known.len() as f64
    ))
}

fn write_csv(results: &[FileResult], args: &Args) -> anyhow::Result<()> {
    write_csv_to(std::io::stdout(), results, args.timeline)
}

/// Results as CSV: one row per file, or with `timeline` one row per segment.
pub(crate) fn write_csv_to(
    writer: impl std::io::Write,
    results: &[FileResult],
    timeline: bool,
) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(writer);
    if timeline {
        out.write_record(["file", "start_s", "end_s", "emotion", "confidence"])?;
        for r in results {
            for s in r.segments.iter().flatten() {
                let best = s.prediction.top();
                out.write_record([
                    r.file.clone(),
                    format!("{:.2}", s.start_s),
                    format!("{:.2}", s.end_s),
                    best.label.clone(),
                    format!("{:.4}", best.prob),
                ])?;
            }
        }
    } else {
        out.write_record([
            "file",
            "emotion",
            "confidence",
            "top",
            "true_emotion",
            "error",
            "status",
        ])?;
        for r in results {
            out.write_record([
                r.file.clone(),
                r.emotion.clone().unwrap_or_default(),
                r.confidence.map_or(String::new(), |c| format!("{c:.4}")),
                ranked_text(&r.top),
                r.true_emotion.clone().unwrap_or_default(),
                r.error.clone().unwrap_or_default(),
                r.status().to_string(),
            ])?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn times_read_as_minutes_and_hours() {
        assert_eq!(format_time(0.0), "0:00.0");
        assert_eq!(format_time(65.25), "1:05.3");
        assert_eq!(format_time(3_725.0), "1:02:05.0");
    }
}
