//! `ser listen`: the emotion of live audio, one line per hop as the samples arrive: raw PCM on
//! standard input (e.g. `arecord -f S16_LE -r 16000 -c 1 -t raw | ser listen`), or a file
//! played through the same live path (`--realtime` at the speed it was recorded).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ser_audio::Pcm16Decoder;
use ser_infer::{Classifier, LiveStream, LiveWindow};

use super::predict::format_time;
use crate::default_model;

#[derive(clap::Args)]
pub struct Args {
    /// An audio file (any format) to play through the live path; without it, standard input
    /// gives 16-bit little-endian mono PCM at the model's rate (16 kHz).
    file: Option<PathBuf>,
    /// Feed the file no faster than it plays, as a microphone would.
    #[arg(long, requires = "file")]
    realtime: bool,
    /// Window length in seconds.
    #[arg(long, default_value_t = 4.0)]
    window: f64,
    /// A new window every this many seconds.
    #[arg(long, default_value_t = 1.0)]
    hop: f64,
    /// Model bundle (default: the shipped model).
    #[arg(long)]
    model: Option<String>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Voice-activity detector that decides whether a window holds speech: the Silero
    /// network, or frame energy.
    #[arg(long, default_value_t = ser_audio::vad::Detector::Silero)]
    vad: ser_audio::vad::Detector,
}

/// Samples fed at a time (100 ms at 16 kHz).
const CHUNK: usize = 1600;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.window > 0.0 && args.hop > 0.0,
        "--window and --hop must be positive"
    );
    let classifier = default_model::classifier(args.model.as_deref())?;
    let mut stream = LiveStream::new(&classifier, args.window, args.hop)
        .with_vad(ser_audio::vad::VadConfig::for_detector(args.vad));
    let mut out = std::io::stdout().lock();
    let mut emit = |windows: Vec<LiveWindow>| -> anyhow::Result<()> {
        for window in windows {
            writeln!(out, "{}", line(&window, args.json)?)?;
        }
        out.flush()?;
        Ok(())
    };
    match &args.file {
        Some(path) => {
            let audio = classifier.decode_file(path)?;
            let started = Instant::now();
            let rate = f64::from(classifier.sample_rate());
            for (i, chunk) in audio.samples.chunks(CHUNK).enumerate() {
                if args.realtime {
                    let due = Duration::from_secs_f64((i * CHUNK) as f64 / rate);
                    std::thread::sleep(due.saturating_sub(started.elapsed()));
                }
                emit(stream.push(chunk)?)?;
            }
        }
        None => read_pcm(&classifier, std::io::stdin().lock(), |chunk| {
            emit(stream.push(chunk)?)
        })?,
    }
    emit(stream.finish()?.into_iter().collect())?;
    Ok(ExitCode::SUCCESS)
}

/// Reads 16-bit little-endian mono PCM from `input` until it ends, handing over samples as
/// they come (chunks of any size; an odd byte waits for its partner).
fn read_pcm(
    classifier: &Classifier,
    mut input: impl Read,
    mut on_samples: impl FnMut(&[f32]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut bytes = vec![0u8; 2 * CHUNK];
    let mut pcm = Pcm16Decoder::default();
    let mut first = true;
    loop {
        let n = match input.read(&mut bytes) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => anyhow::bail!("cannot read standard input: {e}"),
        };
        if first && bytes[..n].starts_with(b"RIFF") {
            anyhow::bail!(
                "standard input holds a WAV file, but ser listen reads raw 16-bit PCM at {} Hz \
                 there: give the file as an argument, or convert it (ffmpeg -i in.wav -f s16le \
                 -ac 1 -ar {} -)",
                classifier.sample_rate(),
                classifier.sample_rate()
            );
        }
        first = false;
        on_samples(&pcm.decode(&bytes[..n]))?;
    }
}

/// "0:03.0-0:07.0  angry 82%" (or "(no speech)", "... (uncertain)"), or a JSON object.
fn line(window: &LiveWindow, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(window)?);
    }
    let span = format!(
        "{}-{}",
        format_time(window.start_s),
        format_time(window.end_s)
    );
    Ok(match &window.prediction {
        None => format!("{span}  (no speech)"),
        Some(p) => {
            let top = p.top();
            let uncertain = if p.uncertain { " (uncertain)" } else { "" };
            format!("{span}  {} {:.0}%{uncertain}", top.label, 100.0 * top.prob)
        }
    })
}
