//! Voice-activity detection for long recordings, fixed windows for prediction, and a
//! streaming windower for live microphone input.
//!
//! Two detectors ([`Detector`]), both fed in pieces by [`SpeechDetector`]: the Silero VAD
//! network ([`silero`]: a speech probability every 32 ms, with hysteresis; far better in
//! noise, BENCHMARKS.md) and an energy detector. The energy detector: frame RMS in dB, compared with a threshold set relative to the
//! recording itself, so it works the same on quiet and loud recordings:
//!
//! `threshold = max(reference + relative_threshold_db, floor + floor_margin_db)`, capped at
//! `reference - 3 dB`, where `reference` is a robust maximum (the 95th percentile of frame
//! levels, so a single click does not set it) and `floor` the 10th percentile (the noise
//! floor). In silence the relative term decides; in steady noise the floor term does.
//!
//! Frames are centred on multiples of the hop, so a boundary is placed within half a frame of
//! where the energy changes. Then (the rules both detectors share, with their own defaults,
//! [`VadConfig::for_detector`]): dips shorter than `hangover_s` inside speech are bridged,
//! segments shorter than `min_speech_s` are dropped, segments separated by less than
//! `min_silence_s` are merged, segments whose level hardly varies are dropped (a steady sound
//! — hum, a tone, fan or white noise — is not speech, whose syllables rise and fall by tens of
//! dB), and each segment is widened by `padding_s`.

use serde::{Deserialize, Serialize};

pub mod silero;

/// A stretch of audio in seconds from the start of the recording.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Where the segment starts, in seconds.
    pub start_s: f64,
    /// Where it ends, in seconds (not before `start_s`).
    pub end_s: f64,
}

impl Segment {
    /// Length in seconds, `end_s - start_s`.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }

    /// The samples of `audio` (at `sample_rate`) this segment covers, clamped to the signal.
    pub fn slice<'a>(&self, audio: &'a [f32], sample_rate: u32) -> &'a [f32] {
        &audio[self.sample_range(sample_rate, audio.len())]
    }

    /// The indices of the samples this segment covers in a signal of `len` samples at
    /// `sample_rate`, clamped to it.
    pub fn sample_range(&self, sample_rate: u32, len: usize) -> std::ops::Range<usize> {
        let at = |t: f64| ((t * f64::from(sample_rate)).round().max(0.0) as usize).min(len);
        let (a, b) = (at(self.start_s), at(self.end_s));
        a..b.max(a)
    }
}

/// Settings of [`detect_speech`]. `Default` suits speech at any recording level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VadConfig {
    /// Which detector decides what is speech (the rules after it are shared).
    pub detector: Detector,
    /// Silero: a chunk is speech from this probability on (and stays speech down to 0.15
    /// below it).
    pub speech_probability: f32,
    /// Energy detector: length in seconds of the frames whose RMS level is measured.
    pub frame_s: f64,
    /// Energy detector: seconds between frame centres (the time resolution of boundaries).
    pub hop_s: f64,
    /// Threshold relative to the robust maximum level (dB, negative).
    pub relative_threshold_db: f32,
    /// The threshold is at least this far above the noise floor (dB).
    pub floor_margin_db: f32,
    /// Quieter stretches inside speech shorter than this are kept as speech.
    pub hangover_s: f64,
    /// Shorter speech segments are dropped (clicks, bumps).
    pub min_speech_s: f64,
    /// Segments separated by less silence than this are merged.
    pub min_silence_s: f64,
    /// Each segment is widened by this much on both sides (clamped to the recording).
    pub padding_s: f64,
    /// Segments whose frame levels vary less than this (90th minus 10th percentile, dB) are
    /// steady sounds, not speech. 0 keeps them.
    pub min_variation_db: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            detector: Detector::default(),
            speech_probability: 0.5,
            frame_s: 0.020,
            hop_s: 0.010,
            relative_threshold_db: -35.0,
            floor_margin_db: 10.0,
            hangover_s: 0.080,
            min_speech_s: 0.100,
            min_silence_s: 0.250,
            padding_s: 0.0,
            min_variation_db: 3.0,
        }
    }
}

/// Which detector finds the speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Frame energy against thresholds set by the recording's own levels (module docs).
    #[default]
    Energy,
    /// The Silero VAD network ([`silero`]): a speech probability every 32 ms.
    Silero,
}

impl std::str::FromStr for Detector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "energy" => Ok(Detector::Energy),
            "silero" => Ok(Detector::Silero),
            _ => Err(format!(
                "{text} is not a voice-activity detector (energy, silero)"
            )),
        }
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Detector::Energy => "energy",
            Detector::Silero => "silero",
        })
    }
}

/// Finds the speech of a recording that arrives in pieces, with the detector `cfg` names.
pub struct SpeechDetector {
    inner: Inner,
}

enum Inner {
    Energy(LevelMeter),
    Silero {
        vad: Box<silero::SileroVad>,
        probabilities: Vec<f32>,
        samples: usize,
        sample_rate: u32,
    },
}

impl SpeechDetector {
    /// A detector for audio at `sample_rate` Hz. Silero needs a rate it can resample from;
    /// at any other rate the energy detector is used instead.
    pub fn new(sample_rate: u32, cfg: &VadConfig) -> Self {
        let energy = || Inner::Energy(LevelMeter::new(sample_rate, cfg));
        let inner = match cfg.detector {
            Detector::Energy => energy(),
            // Decoded audio always has a rate the resampler takes; anything else keeps the
            // energy detector rather than failing.
            Detector::Silero => match silero::SileroVad::new(sample_rate) {
                Ok(vad) => Inner::Silero {
                    vad: Box::new(vad),
                    probabilities: Vec::new(),
                    samples: 0,
                    sample_rate,
                },
                Err(_) => energy(),
            },
        };
        Self { inner }
    }

    /// Feeds the next piece of the recording, in order.
    pub fn push(&mut self, samples: &[f32]) {
        match &mut self.inner {
            Inner::Energy(meter) => meter.push(samples),
            Inner::Silero {
                vad,
                probabilities,
                samples: count,
                ..
            } => {
                *count += samples.len();
                vad.push(samples, probabilities);
            }
        }
    }

    /// The speech segments of everything pushed.
    pub fn finish(self, cfg: &VadConfig) -> Vec<Segment> {
        match self.inner {
            Inner::Energy(meter) => meter.finish().speech(cfg),
            Inner::Silero {
                vad,
                mut probabilities,
                samples,
                sample_rate,
            } => {
                vad.finish(&mut probabilities);
                let duration_s = samples as f64 / f64::from(sample_rate);
                silero_speech(&probabilities, duration_s, cfg)
            }
        }
    }
}

/// Speech segments from Silero's probabilities: a chunk turns speech at
/// `speech_probability` and stays speech down to 0.15 below it (Silero's own hysteresis),
/// then the shared rules (hangover, shortest speech, shortest silence, padding).
fn silero_speech(probabilities: &[f32], duration_s: f64, cfg: &VadConfig) -> Vec<Segment> {
    let hop_s = silero::CHUNK as f64 / f64::from(silero::RATE);
    let mut speaking = false;
    let active: Vec<bool> = probabilities
        .iter()
        .map(|&p| {
            let threshold = cfg.speech_probability - if speaking { 0.15 } else { 0.0 };
            speaking = p >= threshold;
            speaking
        })
        .collect();
    let frames = Frames {
        hop_s,
        centre: 0.0,
        max_gap: (cfg.hangover_s / hop_s).round() as usize,
        duration_s,
    };
    frames.speech(active, cfg, |_| true)
}

/// How a detector's per-frame decisions map onto time.
struct Frames {
    hop_s: f64,
    /// ½ for frames centred on multiples of the hop, 0 for chunks that start there.
    centre: f64,
    /// Gaps of at most this many frames inside speech are bridged (`hangover_s`).
    max_gap: usize,
    duration_s: f64,
}

impl Frames {
    /// The rules both detectors share: gaps bridged, short speech dropped, close segments
    /// merged, those `keep` refuses dropped, the rest padded.
    fn speech(
        &self,
        mut active: Vec<bool>,
        cfg: &VadConfig,
        keep: impl Fn(&Segment) -> bool,
    ) -> Vec<Segment> {
        bridge_gaps(&mut active, self.max_gap);
        let segments: Vec<Segment> =
            runs_to_segments(&active, self.hop_s, self.centre, self.duration_s)
                .into_iter()
                .filter(|s| s.duration_s() >= cfg.min_speech_s)
                .collect();
        let segments = merge_close(segments, cfg.min_silence_s)
            .into_iter()
            .filter(keep)
            .collect();
        pad(segments, cfg.padding_s, self.duration_s)
    }
}

impl VadConfig {
    /// The defaults of `detector`: for Silero, its own tools' defaults (speech from 250 ms,
    /// pauses of 100 ms end it, 30 ms of padding), which its probabilities are made for.
    pub fn for_detector(detector: Detector) -> Self {
        match detector {
            Detector::Energy => Self::default(),
            Detector::Silero => Self {
                detector,
                hangover_s: 0.0,
                min_speech_s: 0.250,
                min_silence_s: 0.100,
                padding_s: 0.030,
                ..Self::default()
            },
        }
    }
}

/// Levels below this (dB re full scale) are treated as digital silence.
const SILENCE_DB: f32 = -100.0;

/// Finds the speech segments of a mono recording.
pub fn detect_speech(samples: &[f32], sample_rate: u32, cfg: &VadConfig) -> Vec<Segment> {
    let mut detector = SpeechDetector::new(sample_rate, cfg);
    detector.push(samples);
    detector.finish(cfg)
}

/// The frame levels of a recording that arrives in pieces ([`detect_speech`] of the whole,
/// in memory bounded by one frame plus 4 bytes per 10 ms hop: 1.4 MB for an hour).
pub struct LevelMeter {
    frame: usize,
    hop: usize,
    sample_rate: u32,
    levels: Vec<f32>,
    /// The samples not yet behind every frame that still needs them, from sample `held_from`.
    held: Vec<f32>,
    held_from: usize,
    samples: usize,
}

impl LevelMeter {
    /// A meter for audio at `sample_rate` Hz, framed by `cfg.frame_s` and `cfg.hop_s` (the
    /// hop at least one sample, the frame at least the hop).
    pub fn new(sample_rate: u32, cfg: &VadConfig) -> Self {
        let hop = ((cfg.hop_s * f64::from(sample_rate)).round() as usize).max(1);
        let frame = ((cfg.frame_s * f64::from(sample_rate)).round() as usize).max(hop);
        Self {
            frame,
            hop,
            sample_rate,
            levels: Vec::new(),
            held: Vec::new(),
            held_from: 0,
            samples: 0,
        }
    }

    /// Measures every frame that `samples` completes.
    pub fn push(&mut self, samples: &[f32]) {
        self.held.extend_from_slice(samples);
        self.samples += samples.len();
        let half = self.frame / 2;
        // Frame i covers [i*hop - half, i*hop + frame - half): complete once that end is in.
        while self.levels.len() * self.hop + self.frame - half <= self.samples {
            self.measure_next();
        }
        let needed_from = (self.levels.len() * self.hop).saturating_sub(half);
        if needed_from > self.held_from {
            self.held.drain(..needed_from - self.held_from);
            self.held_from = needed_from;
        }
    }

    /// Measures the last frames (zero-padded past the end) and returns the levels.
    pub fn finish(mut self) -> SpeechLevels {
        while self.levels.len() < self.samples.div_ceil(self.hop) {
            self.measure_next();
        }
        SpeechLevels {
            hop_s: self.hop as f64 / f64::from(self.sample_rate),
            duration_s: self.samples as f64 / f64::from(self.sample_rate),
            levels: self.levels,
        }
    }

    /// RMS level (dB) of the next frame, centred on a multiple of the hop, with zero padding
    /// at the edges. Each frame is summed on its own, in the order of the signal.
    fn measure_next(&mut self) {
        let centre = self.levels.len() * self.hop;
        let half = self.frame / 2;
        let (a, b) = (
            centre.saturating_sub(half),
            (centre + self.frame - half).min(self.samples),
        );
        let held = &self.held[a - self.held_from..b - self.held_from];
        let energy: f64 = held.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let mean = energy / self.frame as f64;
        self.levels.push((10.0 * mean.max(1e-10).log10()) as f32);
    }
}

/// A recording's frame levels ([`LevelMeter`]), from which [`SpeechLevels::speech`] finds its
/// speech.
pub struct SpeechLevels {
    levels: Vec<f32>,
    hop_s: f64,
    duration_s: f64,
}

impl SpeechLevels {
    /// The speech segments (see the module docs for the rules).
    pub fn speech(&self, cfg: &VadConfig) -> Vec<Segment> {
        let levels = &self.levels;
        if levels.is_empty() {
            return Vec::new();
        }
        let threshold = threshold_db(levels, cfg);
        let active = levels
            .iter()
            .map(|&l| l > threshold && l > SILENCE_DB)
            .collect();
        let frames = Frames {
            hop_s: self.hop_s,
            centre: 0.5,
            max_gap: (cfg.hangover_s / cfg.hop_s).round() as usize,
            duration_s: self.duration_s,
        };
        // A steady sound (hum, a tone, fan or white noise) is not speech.
        frames.speech(active, cfg, |s| {
            level_variation_db(levels, s, self.hop_s) >= cfg.min_variation_db
        })
    }
}

/// How much the frame levels inside `segment` vary: 90th minus 10th percentile (dB).
fn level_variation_db(levels: &[f32], segment: &Segment, hop_s: f64) -> f32 {
    let frame = |t: f64| ((t / hop_s).round() as usize).min(levels.len());
    let mut inside = levels[frame(segment.start_s)..frame(segment.end_s)].to_vec();
    if inside.is_empty() {
        return 0.0;
    }
    inside.sort_by(f32::total_cmp);
    let at = |p: f64| inside[((inside.len() - 1) as f64 * p).round() as usize];
    at(0.9) - at(0.1)
}

fn threshold_db(levels: &[f32], cfg: &VadConfig) -> f32 {
    let mut sorted = levels.to_vec();
    sorted.sort_by(f32::total_cmp);
    let percentile = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let (reference, floor) = (percentile(0.95), percentile(0.10));
    (reference + cfg.relative_threshold_db)
        .max(floor + cfg.floor_margin_db)
        .min(reference - 3.0)
}

/// Marks inactive runs of at most `max_gap` frames that lie between active frames as active.
fn bridge_gaps(active: &mut [bool], max_gap: usize) {
    let mut last_active: Option<usize> = None;
    for i in 0..active.len() {
        if !active[i] {
            continue;
        }
        if let Some(prev) = last_active
            && i - prev - 1 <= max_gap
        {
            active[prev + 1..i].fill(true);
        }
        last_active = Some(i);
    }
}

/// Frame i stands for [(i - centre)·hop, (i + 1 - centre)·hop), clamped to the recording:
/// `centre` is ½ for frames centred on multiples of the hop, 0 for chunks that start there.
fn runs_to_segments(active: &[bool], hop_s: f64, centre: f64, duration_s: f64) -> Vec<Segment> {
    let edge = |i: usize| ((i as f64 - centre) * hop_s).clamp(0.0, duration_s);
    let mut segments = Vec::new();
    let mut start = None;
    for (i, &on) in active.iter().chain(std::iter::once(&false)).enumerate() {
        match (on, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                segments.push(Segment {
                    start_s: edge(s),
                    end_s: edge(i),
                });
                start = None;
            }
            _ => {}
        }
    }
    segments
}

fn merge_close(segments: Vec<Segment>, min_silence_s: f64) -> Vec<Segment> {
    let mut merged: Vec<Segment> = Vec::with_capacity(segments.len());
    for s in segments {
        match merged.last_mut() {
            Some(last) if s.start_s - last.end_s < min_silence_s => last.end_s = s.end_s,
            _ => merged.push(s),
        }
    }
    merged
}

fn pad(segments: Vec<Segment>, padding_s: f64, duration_s: f64) -> Vec<Segment> {
    if padding_s <= 0.0 {
        return segments;
    }
    let padded = segments.into_iter().map(|s| Segment {
        start_s: (s.start_s - padding_s).max(0.0),
        end_s: (s.end_s + padding_s).min(duration_s),
    });
    // Padding can make neighbours overlap: merge those.
    merge_close(padded.collect(), 0.0)
}

/// Splits segments longer than `max_window_s` into windows of exactly that length, stepping
/// by `max_window_s - overlap_s`; the last window is aligned to the segment's end so no window
/// is short. Shorter segments pass through unchanged.
pub fn split_long_segments(
    segments: &[Segment],
    max_window_s: f64,
    overlap_s: f64,
) -> Vec<Segment> {
    let step = (max_window_s - overlap_s.clamp(0.0, max_window_s)).max(max_window_s * 0.01);
    let mut out = Vec::new();
    for s in segments {
        // Also passes everything through for a zero, negative or NaN window.
        if max_window_s.is_nan() || max_window_s <= 0.0 || s.duration_s() <= max_window_s {
            out.push(*s);
            continue;
        }
        let count = ((s.duration_s() - max_window_s) / step).ceil() as usize + 1;
        for i in 0..count {
            let start = if i + 1 == count {
                s.end_s - max_window_s
            } else {
                s.start_s + i as f64 * step
            };
            out.push(Segment {
                start_s: start,
                end_s: start + max_window_s,
            });
        }
    }
    out
}

/// A window produced by [`StreamWindower`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamWindow {
    /// Time of the window's first sample since the stream began.
    pub start_s: f64,
    /// The window's samples: a full window, or fewer from [`StreamWindower::flush`].
    pub samples: Vec<f32>,
}

/// Cuts a live stream of sample chunks (any sizes) into windows of `window` samples every
/// `hop` samples, for rolling predictions. Keeps only the samples a future window needs.
#[derive(Debug, Clone)]
pub struct StreamWindower {
    sample_rate: u32,
    window: usize,
    hop: usize,
    /// Samples from `buffer_start` on; `buffer[0]` is the next window's first sample.
    buffer: Vec<f32>,
    /// Stream position (in samples) of `buffer[0]`.
    buffer_start: u64,
    /// Incoming samples to discard first (when the hop is longer than the window).
    skip: usize,
}

impl StreamWindower {
    /// Windows of `window_s` seconds every `hop_s` seconds (both at least one sample).
    pub fn new(sample_rate: u32, window_s: f64, hop_s: f64) -> Self {
        let samples = |s: f64| ((s * f64::from(sample_rate)).round() as usize).max(1);
        Self::new_samples(sample_rate, samples(window_s), samples(hop_s))
    }

    /// Adds a chunk and returns every window it completes, oldest first.
    pub fn push(&mut self, chunk: &[f32]) -> Vec<StreamWindow> {
        let skipped = self.skip.min(chunk.len());
        self.skip -= skipped;
        self.buffer_start += skipped as u64;
        self.buffer.extend_from_slice(&chunk[skipped..]);
        let mut windows = Vec::new();
        let mut offset = 0;
        while offset + self.window <= self.buffer.len() {
            windows.push(self.window_at(offset, self.window));
            offset += self.hop;
        }
        let dropped = offset.min(self.buffer.len());
        self.buffer.drain(..dropped);
        self.buffer_start += dropped as u64;
        self.skip += offset - dropped;
        windows
    }

    /// The samples not yet covered by a full window (shorter than a window), if any; for the
    /// end of a recording. Resets the windower.
    pub fn flush(&mut self) -> Option<StreamWindow> {
        let rest = (!self.buffer.is_empty()).then(|| self.window_at(0, self.buffer.len()));
        *self = Self::new_samples(self.sample_rate, self.window, self.hop);
        rest
    }

    fn new_samples(sample_rate: u32, window: usize, hop: usize) -> Self {
        Self {
            sample_rate,
            window,
            hop,
            buffer: Vec::with_capacity(2 * window),
            buffer_start: 0,
            skip: 0,
        }
    }

    fn window_at(&self, offset: usize, len: usize) -> StreamWindow {
        StreamWindow {
            start_s: (self.buffer_start + offset as u64) as f64 / f64::from(self.sample_rate),
            samples: self.buffer[offset..offset + len].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bursts of a tone with level changes, between silences, with a tail shorter than a hop.
    fn bursts(rate: u32) -> Vec<f32> {
        let n = rate as usize * 5 + 77;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let on = (t % 1.5) < 0.8;
                let syllable = 0.3 + 0.7 * (t * 4.0 * std::f32::consts::PI).sin().abs();
                if on {
                    0.3 * syllable * (t * 900.0).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn levels_measured_in_pieces_equal_levels_of_the_whole() {
        let cfg = VadConfig::default();
        for rate in [8_000, 16_000, 44_100] {
            let signal = bursts(rate);
            let mut whole = LevelMeter::new(rate, &cfg);
            whole.push(&signal);
            let whole = whole.finish();
            for piece in [1, 159, 160, 161, 4_096] {
                let mut meter = LevelMeter::new(rate, &cfg);
                signal.chunks(piece).for_each(|chunk| meter.push(chunk));
                let pieces = meter.finish();
                assert_eq!(
                    pieces.levels.len(),
                    signal.len().div_ceil(whole_hop(rate, &cfg))
                );
                assert_eq!(
                    pieces.levels, whole.levels,
                    "rate {rate}, pieces of {piece}"
                );
                assert_eq!(pieces.speech(&cfg), whole.speech(&cfg));
            }
            assert_eq!(whole.speech(&cfg).len(), 4, "rate {rate}");
        }
    }

    #[test]
    fn the_meter_holds_about_one_frame_of_samples() {
        let cfg = VadConfig::default();
        let mut meter = LevelMeter::new(16_000, &cfg);
        for chunk in bursts(16_000).chunks(1_000) {
            meter.push(chunk);
            assert!(
                meter.held.len() <= 1_000 + 320,
                "{} samples held",
                meter.held.len()
            );
        }
    }

    fn whole_hop(rate: u32, cfg: &VadConfig) -> usize {
        ((cfg.hop_s * f64::from(rate)).round() as usize).max(1)
    }
}
