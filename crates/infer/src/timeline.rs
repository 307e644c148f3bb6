//! Timelines of long recordings: voice activity finds the speech, long stretches are cut into
//! overlapping windows, and the windows are classified together (one recording, one speaker).
//!
//! A recording in a file or an upload is decoded as a stream: once for voice activity (the
//! Silero network by default, `TimelineOptions::vad`), once more for the speaker's means
//! (per-speaker feature sets), and once for the windows' answers. Memory holds one packet,
//! one window and the answers, never the whole decoded recording or all its features, so it
//! does not grow with the recording's length (but for the detector's 4 bytes per 10-32 ms). The answers are those of the recording decoded into
//! memory and of [`Classifier::classify_together`] on its windows, bit for bit.

use std::path::Path;

use ser_audio::vad::{self, Detector, Segment, SpeechDetector, VadConfig};
use ser_features::SpeakerMeans;

use crate::{Classifier, ClipFeatures, ClipPrediction, InferenceError, Scored};

/// Where a recording's samples come from.
#[derive(Debug, Clone, Copy)]
pub enum Recording<'a> {
    /// Decoded already, at the classifier's rate.
    Samples(&'a [f32]),
    /// An audio file, decoded as a stream.
    File(&'a Path),
    /// An uploaded file's bytes (`name` tells the format and names errors), decoded as a
    /// stream.
    Bytes {
        /// The file's contents, still encoded.
        bytes: &'a [u8],
        /// The upload's file name.
        name: &'a str,
    },
}

/// Decoded samples are handed on in pieces of this many, like a decoder's packets.
const SAMPLES_PER_PIECE: usize = 1 << 14;

impl Recording<'_> {
    /// Hands the samples at `classifier`'s rate to `on_block` in order.
    fn for_each_block(
        &self,
        classifier: &Classifier,
        on_block: &mut dyn FnMut(&[f32]) -> Result<(), InferenceError>,
    ) -> Result<(), InferenceError> {
        let opts = classifier.load_options();
        match *self {
            Recording::Samples(samples) => samples.chunks(SAMPLES_PER_PIECE).try_for_each(on_block),
            Recording::File(path) => ser_audio::stream(path, &opts, on_block).map(drop),
            Recording::Bytes { bytes, name } => {
                ser_audio::stream_bytes(bytes, name, &opts, on_block).map(drop)
            }
        }
    }
}

/// One classified stretch of a long recording.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimedPrediction {
    /// Start of the stretch, in seconds from the start of the recording.
    pub start_s: f64,
    /// End of the stretch, in seconds from the start of the recording.
    pub end_s: f64,
    /// Its emotions (mixed with its neighbours' when [`TimelineOptions::smooth`] is set).
    pub prediction: ClipPrediction,
}

/// How [`Classifier::timeline`] cuts a recording.
#[derive(Debug, Clone)]
pub struct TimelineOptions {
    /// How speech is found: the detector and its thresholds.
    pub vad: VadConfig,
    /// Speech longer than this is classified in windows of this length.
    pub window_s: f64,
    /// Seconds that consecutive windows of one long stretch share.
    pub overlap_s: f64,
    /// Speech segments shorter than this are skipped (too short to judge).
    pub min_segment_s: f64,
    /// Average each window's probabilities with those of the windows touching it (weights
    /// 1/4, 1/2, 1/4): emotions change over seconds, not from one window to the next.
    pub smooth: bool,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        Self {
            // The trained detector: in noise it finds the speech the energy one misses
            // (BENCHMARKS.md, "Voice activity on real speech").
            vad: VadConfig::for_detector(Detector::Silero),
            window_s: 4.0,
            overlap_s: 1.0,
            min_segment_s: 0.5,
            smooth: true,
        }
    }
}

fn timed(segment: &Segment, prediction: ClipPrediction) -> TimedPrediction {
    TimedPrediction {
        start_s: segment.start_s,
        end_s: segment.end_s,
        prediction,
    }
}

/// Windows closer than this (seconds) count as neighbours when smoothing.
const NEIGHBOUR_GAP_S: f64 = 0.25;

/// Each window's probabilities averaged with its touching neighbours' (1/4, 1/2, 1/4; the
/// weights of a missing neighbour go to the window itself), re-ranked.
fn smooth(
    timeline: &[TimedPrediction],
    labels: &[String],
    uncertain_below: f32,
) -> Vec<TimedPrediction> {
    let probs = |t: &TimedPrediction| -> Vec<f32> {
        labels
            .iter()
            .map(|label| {
                t.prediction
                    .ranked
                    .iter()
                    .find(|s| &s.label == label)
                    .map_or(0.0, |s| s.prob)
            })
            .collect()
    };
    let touching =
        |a: &TimedPrediction, b: &TimedPrediction| b.start_s <= a.end_s + NEIGHBOUR_GAP_S;
    (0..timeline.len())
        .map(|i| {
            let own = probs(&timeline[i]);
            let before = (i > 0 && touching(&timeline[i - 1], &timeline[i]))
                .then(|| probs(&timeline[i - 1]));
            let after = (i + 1 < timeline.len() && touching(&timeline[i], &timeline[i + 1]))
                .then(|| probs(&timeline[i + 1]));
            let mixed: Vec<f32> = (0..labels.len())
                .map(|k| {
                    let side = |n: &Option<Vec<f32>>| n.as_ref().map_or(own[k], |p| p[k]);
                    0.5 * own[k] + 0.25 * side(&before) + 0.25 * side(&after)
                })
                .collect();
            TimedPrediction {
                prediction: ClipPrediction::new(labels, &mixed, uncertain_below),
                ..timeline[i].clone()
            }
        })
        .collect()
}

/// The share of the classified speech time that each emotion won (most first); overlapping
/// windows count their shared stretch once, for the earlier window.
pub fn speech_share(timeline: &[TimedPrediction]) -> Vec<Scored> {
    let mut seconds: Vec<(String, f64)> = Vec::new();
    let mut covered_until = f64::NEG_INFINITY;
    for t in timeline {
        let start = t.start_s.max(covered_until);
        let length = (t.end_s - start).max(0.0);
        covered_until = covered_until.max(t.end_s);
        let label = &t.prediction.top().label;
        match seconds.iter_mut().find(|(l, _)| l == label) {
            Some((_, s)) => *s += length,
            None => seconds.push((label.clone(), length)),
        }
    }
    let total: f64 = seconds.iter().map(|(_, s)| s).sum();
    let mut share: Vec<Scored> = seconds
        .into_iter()
        .map(|(label, s)| Scored {
            label,
            prob: if total > 0.0 { (s / total) as f32 } else { 0.0 },
        })
        .collect();
    share.sort_by(|a, b| b.prob.total_cmp(&a.prob));
    share
}

impl Classifier {
    /// Classifies the speech of a long recording window by window (see the module docs).
    pub fn timeline(
        &self,
        recording: Recording<'_>,
        name: &str,
        options: &TimelineOptions,
    ) -> Result<Vec<TimedPrediction>, InferenceError> {
        let speech: Vec<Segment> = self
            .speech(recording, &options.vad)?
            .into_iter()
            .filter(|s| s.duration_s() >= options.min_segment_s)
            .collect();
        if speech.is_empty() {
            return Err(InferenceError::NoSpeech {
                name: name.to_string(),
            });
        }
        let windows = vad::split_long_segments(&speech, options.window_s, options.overlap_s);
        let mut speaker = SpeakerMeans::default();
        if self.normalises_by_speaker() {
            self.each_window(recording, name, &windows, &mut |_, clip| {
                self.hear(&mut speaker, &clip);
                Ok(())
            })?;
        }
        let mut timeline = Vec::with_capacity(windows.len());
        self.each_window(recording, name, &windows, &mut |segment, clip| {
            timeline.push(timed(segment, self.classify_as(&speaker, clip)?));
            Ok(())
        })?;
        if options.smooth {
            timeline = smooth(&timeline, self.labels(), self.uncertain_below);
        }
        Ok(timeline)
    }

    /// The speech segments of `recording` (the timeline's first pass over it).
    pub fn speech(
        &self,
        recording: Recording<'_>,
        vad: &VadConfig,
    ) -> Result<Vec<Segment>, InferenceError> {
        let mut detector = SpeechDetector::new(self.sample_rate(), vad);
        recording.for_each_block(self, &mut |block| {
            detector.push(block);
            Ok(())
        })?;
        Ok(detector.finish(vad))
    }

    /// Hands the features of each window (in time order) of `recording` to `out`, in one
    /// pass over it.
    fn each_window(
        &self,
        recording: Recording<'_>,
        name: &str,
        windows: &[Segment],
        out: &mut dyn FnMut(&Segment, ClipFeatures) -> Result<(), InferenceError>,
    ) -> Result<(), InferenceError> {
        let mut cutter = WindowCutter::new(windows, self.sample_rate());
        let mut featurise = |segment: &Segment, samples: &[f32]| {
            let label = format!("{name} at {:.2} s", segment.start_s);
            let features = self.extract(samples, &label)?;
            out(
                segment,
                ClipFeatures {
                    name: label,
                    features,
                },
            )
        };
        recording.for_each_block(self, &mut |block| cutter.push(block, &mut featurise))?;
        cutter.finish(&mut featurise)
    }
}

/// Cuts windows (in time order, starts and ends never decreasing) out of samples that arrive
/// in pieces, holding only the samples from the next window's start on. Window bounds are
/// those of [`Segment::slice`].
struct WindowCutter<'w> {
    windows: &'w [Segment],
    sample_rate: u32,
    next: usize,
    /// The last samples received: `held[0]` is sample `samples - held.len()`.
    held: Vec<f32>,
    samples: usize,
}

type WindowSink<'s> = dyn FnMut(&Segment, &[f32]) -> Result<(), InferenceError> + 's;

impl<'w> WindowCutter<'w> {
    fn new(windows: &'w [Segment], sample_rate: u32) -> Self {
        Self {
            windows,
            sample_rate,
            next: 0,
            held: Vec::new(),
            samples: 0,
        }
    }

    /// Hands on every window that `block` completes, then drops what no later window needs.
    fn push(&mut self, block: &[f32], out: &mut WindowSink<'_>) -> Result<(), InferenceError> {
        self.samples += block.len();
        self.held.extend_from_slice(block);
        while let Some(window) = self.windows.get(self.next) {
            if window.sample_range(self.sample_rate, usize::MAX).end > self.samples {
                break;
            }
            self.cut(out)?;
        }
        let keep_from = self.windows.get(self.next).map_or(self.samples, |w| {
            w.sample_range(self.sample_rate, self.samples).start
        });
        let held_from = self.samples - self.held.len();
        self.held.drain(..keep_from.saturating_sub(held_from));
        Ok(())
    }

    /// Hands on the windows that reach the end of the recording (clamped to it).
    fn finish(&mut self, out: &mut WindowSink<'_>) -> Result<(), InferenceError> {
        while self.next < self.windows.len() {
            self.cut(out)?;
        }
        Ok(())
    }

    fn cut(&mut self, out: &mut WindowSink<'_>) -> Result<(), InferenceError> {
        let window = self.windows[self.next];
        let held_from = self.samples - self.held.len();
        let range = window.sample_range(self.sample_rate, self.samples);
        debug_assert!(range.start >= held_from, "windows out of order");
        out(
            &window,
            &self.held[range.start - held_from..range.end - held_from],
        )?;
        self.next += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<String> {
        vec!["sad".into(), "happy".into()]
    }

    fn window(start_s: f64, end_s: f64, sad: f32) -> TimedPrediction {
        TimedPrediction {
            start_s,
            end_s,
            prediction: ClipPrediction::new(&labels(), &[sad, 1.0 - sad], 0.4),
        }
    }

    fn prob_of(t: &TimedPrediction, label: &str) -> f32 {
        t.prediction
            .ranked
            .iter()
            .find(|s| s.label == label)
            .unwrap()
            .prob
    }

    #[test]
    fn smoothing_mixes_touching_windows_only() {
        let timeline = vec![
            window(0.0, 4.0, 1.0),
            window(3.0, 7.0, 0.0),
            window(6.0, 10.0, 1.0),
            // 5 s later: a stretch of its own, left as it was.
            window(15.0, 17.0, 0.2),
        ];
        let smoothed = smooth(&timeline, &labels(), 0.4);
        assert!((prob_of(&smoothed[0], "sad") - 0.75).abs() < 1e-6);
        // The middle window's neighbours both say sad: it flips to sad at 0.5.
        assert!((prob_of(&smoothed[1], "sad") - 0.5).abs() < 1e-6);
        assert!((prob_of(&smoothed[2], "sad") - 0.75).abs() < 1e-6);
        assert_eq!(smoothed[3], timeline[3]);
        assert_eq!((smoothed[1].start_s, smoothed[1].end_s), (3.0, 7.0));
    }

    #[test]
    fn speech_share_counts_overlaps_once() {
        // sad 0-4 s; happy 3-7 s counts 4-7 s; sad again 10-12 s.
        let timeline = vec![
            window(0.0, 4.0, 0.9),
            window(3.0, 7.0, 0.1),
            window(10.0, 12.0, 0.9),
        ];
        let share = speech_share(&timeline);
        assert_eq!(share[0].label, "sad");
        assert!((share[0].prob - 6.0 / 9.0).abs() < 1e-6, "{share:?}");
        assert!((share[1].prob - 3.0 / 9.0).abs() < 1e-6, "{share:?}");
        assert!(speech_share(&[]).is_empty());
    }
}
