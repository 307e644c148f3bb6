//! `ser bench`: throughput figures on this machine — prediction latency of the shipped model
//! on a 3 s clip (decode + features + network, one thread), feature extraction speed, and
//! training speed of report 004's CNN. Ratios against librosa and PyTorch are measured by the
//! scripts BENCHMARKS.md names; this command gives the absolute numbers of our side.

use std::process::ExitCode;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ser_audio::Audio;
use ser_features::{Extractor, FeatureConfig};
use ser_model::bundle::ModelSpec;
use ser_train::fit::{FitConfig, TrainData, fit};

use crate::{default_model, output};

#[derive(clap::Args)]
pub struct Args {
    /// Model bundle to time (default: the shipped model).
    #[arg(long)]
    model: Option<String>,
    /// Timed repetitions per measurement.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Skip the training measurement (the slowest part).
    #[arg(long)]
    no_train: bool,
    /// Also time the timeline of a recording this many minutes long (speech-like sound all
    /// the way: every window is classified), decoded from a WAV file as `ser predict
    /// --timeline` does (on one thread: the timeline classifies its windows in turn), with
    /// the process's peak memory.
    #[arg(long, value_name = "MINUTES")]
    timeline_minutes: Option<f64>,
    /// The voice-activity detector of the timeline (energy, silero). Energy by default:
    /// the bench's signal is a tone shaped like speech, which Silero rightly hears as no
    /// voice, so its timeline would classify nothing; its own time is the "voice activity" row.
    #[arg(long, default_value_t = ser_audio::vad::Detector::default())]
    vad: ser_audio::vad::Detector,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runs = args.runs.max(3);
    // Latency targets are per core: run everything on one worker thread.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let mut rows = pool.install(|| -> anyhow::Result<Vec<Vec<String>>> {
        Ok(vec![
            predict_latency(args.model.as_deref(), runs)?,
            feature_speed(runs)?,
        ])
    })?;
    if let Some(minutes) = args.timeline_minutes {
        rows.extend(timeline_speed(args.model.as_deref(), minutes, args.vad)?);
    }
    if !args.no_train {
        rows.push(training_speed()?);
    }
    print!(
        "{}",
        output::table(&["measurement", "result", "detail"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

/// A deterministic speech-like test signal: a harmonic tone gliding around 140 Hz whose level
/// rises and falls like syllables (4 per second), with noise.
fn test_signal(seconds: f64, rate: u32) -> Vec<f32> {
    SpeechLike::new(rate)
        .take((seconds * rate as f64) as usize)
        .collect()
}

/// The samples of [`test_signal`], one at a time (for recordings too long to hold).
struct SpeechLike {
    rng: ChaCha8Rng,
    rate: f64,
    n: u64,
    phase: f64,
}

impl SpeechLike {
    fn new(rate: u32) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(7),
            rate: f64::from(rate),
            n: 0,
            phase: 0.0,
        }
    }
}

impl Iterator for SpeechLike {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        use std::f64::consts::PI;
        let t = self.n as f64 / self.rate;
        self.n += 1;
        let f0 = 140.0 + 40.0 * (2.0 * PI * 0.5 * t).sin();
        self.phase = (self.phase + 2.0 * PI * f0 / self.rate) % (2.0 * PI);
        let voiced: f64 = (1..=5)
            .map(|h| (h as f64 * self.phase).sin() / h as f64)
            .sum();
        let syllables = 0.2 + 0.8 * (PI * 4.0 * t).sin().abs();
        Some((0.2 * syllables * voiced + 0.01 * self.rng.random_range(-1.0..1.0)) as f32)
    }
}

/// Median and 95th percentile of `runs` timings of `f`, in milliseconds.
fn time_ms(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<(f64, f64)> {
    f()?; // warm-up: first-call allocations and lazy initialisation
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let p95 = ms[((ms.len() as f64 * 0.95).ceil() as usize).min(ms.len()) - 1];
    Ok((ms[ms.len() / 2], p95))
}

fn predict_latency(model: Option<&str>, runs: usize) -> anyhow::Result<Vec<String>> {
    let classifier = default_model::classifier(model)?;
    let wav = ser_audio::encode_wav_pcm16(&Audio {
        samples: test_signal(3.0, 16_000),
        sample_rate: 16_000,
    });
    let (median, p95) = time_ms(runs, || {
        let audio = classifier.decode_bytes(&wav, "bench.wav")?;
        classifier.classify_samples(&audio.samples, "bench.wav")?;
        Ok(())
    })?;
    let meta = classifier.bundle_meta();
    Ok(vec![
        "predict 3 s WAV (1 thread)".into(),
        format!("{median:.2} ms median"),
        format!(
            "p95 {p95:.2} ms; decode + features + {} ({})",
            meta.model.label(meta.members),
            meta.features.as_ref().map_or("?", |f| f.name.as_str())
        ),
    ])
}

/// The timeline of a long speech-like recording: written to a temporary 16 kHz WAV a block
/// at a time (so that making it costs no memory), then decoded as a stream and classified
/// window by window (in turn, on one thread); peak resident memory from the kernel's high-water mark.
fn timeline_speed(
    model: Option<&str>,
    minutes: f64,
    vad: ser_audio::vad::Detector,
) -> anyhow::Result<Vec<Vec<String>>> {
    let classifier = default_model::classifier(model)?;
    let rate = classifier.sample_rate();
    let seconds = minutes * 60.0;
    let path = std::env::temp_dir().join(format!("ser-bench-{}.wav", std::process::id()));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&path, spec)?;
    for sample in SpeechLike::new(rate).take((seconds * f64::from(rate)) as usize) {
        writer.write_sample((sample * 32767.0) as i16)?;
    }
    writer.finalize()?;
    let cfg = ser_audio::vad::VadConfig::for_detector(vad);
    let vad_row = voice_activity_speed(&classifier, &path, &cfg, seconds);
    let before_mb = peak_rss_mb();
    let start = Instant::now();
    let timed = (|| -> Result<usize, ser_infer::InferenceError> {
        let options = ser_infer::TimelineOptions {
            vad: cfg.clone(),
            ..Default::default()
        };
        let recording = ser_infer::Recording::File(&path);
        Ok(classifier.timeline(recording, "bench.wav", &options)?.len())
    })();
    let elapsed = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    let vad_row = vad_row?;
    let peak = match (before_mb, peak_rss_mb()) {
        (Some(before), Some(after)) => format!("peak RSS {after:.0} MB ({before:.0} MB before)"),
        _ => "peak RSS unknown on this system".into(),
    };
    let detail = match timed {
        Ok(windows) => {
            format!("{windows} windows; decode + voice activity + features + model; {peak}")
        }
        // A trained detector knows the bench's tone is not a voice.
        Err(ser_infer::InferenceError::NoSpeech { .. }) => {
            format!("no speech found in the synthetic signal by this detector; {peak}")
        }
        Err(e) => return Err(e.into()),
    };
    Ok(vec![
        vad_row,
        vec![
            format!("timeline of {minutes} min ({vad} VAD, 1 thread)"),
            format!("{elapsed:.2} s, {:.0}x real time", seconds / elapsed),
            detail,
        ],
    ])
}

/// Decoding `path` as a stream and finding its speech, alone (the first pass of a timeline).
fn voice_activity_speed(
    classifier: &ser_infer::Classifier,
    path: &std::path::Path,
    cfg: &ser_audio::vad::VadConfig,
    seconds: f64,
) -> anyhow::Result<Vec<String>> {
    let start = Instant::now();
    let segments = classifier
        .speech(ser_infer::Recording::File(path), cfg)?
        .len();
    let elapsed = start.elapsed().as_secs_f64();
    Ok(vec![
        format!(
            "voice activity of {:.0} min ({})",
            seconds / 60.0,
            cfg.detector
        ),
        format!("{elapsed:.2} s, {:.0}x real time", seconds / elapsed),
        format!("decode + detector; {segments} speech segments"),
    ])
}

/// The process's peak resident memory so far (`VmHWM`, Linux), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn feature_speed(runs: usize) -> anyhow::Result<Vec<String>> {
    let config = FeatureConfig::named("pooled180")?;
    let signal = test_signal(60.0, config.sample_rate);
    let mut extractor = Extractor::new(&config)?;
    let (median, _) = time_ms(runs.min(20), || {
        extractor.extract(&signal)?;
        Ok(())
    })?;
    Ok(vec![
        "features pooled180, 60 s (1 thread)".into(),
        format!("{median:.2} ms median"),
        format!("{:.0}x real time", 60_000.0 / median),
    ])
}

/// Report 004's CNN on random 40 x 110 MFCC crops, batch 32, all threads: samples per second
/// of the second epoch (the first includes start-up).
fn training_speed() -> anyhow::Result<Vec<String>> {
    let (rows, cols, n, classes) = (40, 110, 640, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            (0..rows * cols)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let y: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let train = TrainData::new(rows, x, y)?;
    let empty = TrainData::new(rows, Vec::new(), Vec::new())?;
    let labels: Vec<String> = (0..classes).map(|c| format!("c{c}")).collect();
    let mut config = FitConfig::new(ModelSpec::from_name("cnn1d-mfcc")?);
    config.epochs = 2;
    config.frames = cols;
    let outcome = fit(&config, &train, &empty, &labels, |_| {})?;
    let seconds = outcome.reports.last().map_or(f64::NAN, |r| r.seconds);
    Ok(vec![
        "train cnn1d-mfcc, 40 x 110 MFCC".into(),
        format!("{:.0} samples/s", n as f64 / seconds),
        format!(
            "batch 32, {} threads, epoch of {n} in {seconds:.2} s",
            rayon::current_num_threads()
        ),
    ])
}
