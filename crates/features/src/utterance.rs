//! Per-utterance normalisation of frame features: each band's mean (and optionally its
//! standard deviation) over the utterance's active frames is removed. On log-mel or MFCC
//! frames a constant gain and a fixed microphone or room response are additive per band, so
//! this removes them (cepstral mean normalisation); the variance step also evens out how
//! compressed or dynamic a recording is.
//!
//! Statistics come from the frames within [`ACTIVE_RANGE_DB`] of the loudest one, so that the
//! share of silence around the speech (RAVDESS clips have a second of it, other corpora
//! little) does not move the result.

use serde::{Deserialize, Serialize};

use crate::FeatureMatrix;

/// Frames whose mean level is more than this many dB below the loudest frame's are left out
/// of the statistics (they are normalised all the same).
pub const ACTIVE_RANGE_DB: f32 = 40.0;

/// Floor of the standard deviation divided by, in the features' units (dB).
const MIN_STD: f32 = 1.0;

/// Which per-utterance normalisation a feature set applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UtteranceNorm {
    /// None: the features as computed.
    #[default]
    None,
    /// Subtract each band's mean (`+cmn` in a feature-set name).
    Mean,
    /// Subtract each band's mean and divide by its standard deviation (`+cmvn`).
    MeanVar,
    /// Subtract each band's mean over all of the speaker's clips (`+spk`), where several
    /// clips of one speaker are known (training and evaluation, see [`SpeakerMeans`]); a
    /// clip on its own is its speaker's only clip, so prediction subtracts its own mean. The
    /// extractor leaves such features as computed: whoever knows the speakers normalises.
    Speaker,
}

impl UtteranceNorm {
    /// True for [`UtteranceNorm::None`] (serde leaves the field out then).
    pub fn is_none(&self) -> bool {
        *self == UtteranceNorm::None
    }

    /// The feature-set name suffix, e.g. `+cmn`.
    pub fn suffix(self) -> &'static str {
        match self {
            UtteranceNorm::None => "",
            UtteranceNorm::Mean => "+cmn",
            UtteranceNorm::MeanVar => "+cmvn",
            UtteranceNorm::Speaker => "+spk",
        }
    }

    /// What a single clip gets when nothing else is known of its speaker: per-speaker mean
    /// normalisation falls back to the clip's own mean.
    pub fn for_single_clip(self) -> UtteranceNorm {
        match self {
            UtteranceNorm::Speaker => UtteranceNorm::Mean,
            other => other,
        }
    }

    /// Normalises `m` (bands × frames) in place. `level_db` gives each frame's mean level in
    /// dB, used to pick the active frames. [`UtteranceNorm::Speaker`] is left to
    /// [`SpeakerMeans`] (and [`UtteranceNorm::for_single_clip`]).
    pub fn apply(self, m: &mut FeatureMatrix, level_db: &[f32]) {
        if matches!(self, UtteranceNorm::None | UtteranceNorm::Speaker) || m.cols == 0 {
            return;
        }
        let loudest = level_db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let active: Vec<usize> = (0..m.cols)
            .filter(|&t| {
                level_db
                    .get(t)
                    .is_none_or(|&l| l >= loudest - ACTIVE_RANGE_DB)
            })
            .collect();
        let n = active.len().max(1) as f64;
        let cols = m.cols;
        for row in m.data.chunks_exact_mut(cols) {
            let mean = active.iter().map(|&t| f64::from(row[t])).sum::<f64>() / n;
            let scale = match self {
                UtteranceNorm::MeanVar => {
                    let var = active
                        .iter()
                        .map(|&t| (f64::from(row[t]) - mean).powi(2))
                        .sum::<f64>()
                        / n;
                    1.0 / (var.sqrt() as f32).max(MIN_STD)
                }
                _ => 1.0,
            };
            for v in row.iter_mut() {
                *v = (*v - mean as f32) * scale;
            }
        }
    }
}

/// The frames within [`ACTIVE_RANGE_DB`] of the loudest.
fn active_frames(cols: usize, level_db: &[f32]) -> Vec<usize> {
    let loudest = level_db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (0..cols)
        .filter(|&t| {
            level_db
                .get(t)
                .is_none_or(|&l| l >= loudest - ACTIVE_RANGE_DB)
        })
        .collect()
}

/// Per-band means over the active frames of several clips of one speaker.
#[derive(Debug, Clone, Default)]
pub struct SpeakerMeans {
    sums: Vec<f64>,
    frames: usize,
}

impl SpeakerMeans {
    /// Adds one clip (`level_db` per frame picks its active frames).
    pub fn add(&mut self, m: &FeatureMatrix, level_db: &[f32]) {
        let active = active_frames(m.cols, level_db);
        self.sums.resize(m.rows, 0.0);
        for (sum, row) in self.sums.iter_mut().zip(m.data.chunks_exact(m.cols.max(1))) {
            *sum += active.iter().map(|&t| f64::from(row[t])).sum::<f64>();
        }
        self.frames += active.len();
    }

    /// The means of one clip alone.
    pub fn of_clip(m: &FeatureMatrix, level_db: &[f32]) -> SpeakerMeans {
        let mut means = SpeakerMeans::default();
        means.add(m, level_db);
        means
    }

    /// The speaker's means as heard through another channel: moved by as much as `through`
    /// (one clip through that room or device) differs from `clean` (the same clip as
    /// recorded). A training copy normalised by these loses its channel as a test speaker
    /// recorded in that room would, instead of keeping it as an offset no test clip has.
    pub fn through_channel(&self, clean: &SpeakerMeans, through: &SpeakerMeans) -> SpeakerMeans {
        let usable = |m: &SpeakerMeans| m.frames > 0 && m.sums.len() == self.sums.len();
        if !(usable(self) && usable(clean) && usable(through)) {
            return self.clone();
        }
        let mean = |m: &SpeakerMeans, band: usize| m.sums[band] / m.frames as f64;
        let sums = (0..self.sums.len())
            .map(|b| (mean(self, b) + mean(through, b) - mean(clean, b)) * self.frames as f64)
            .collect();
        SpeakerMeans {
            sums,
            frames: self.frames,
        }
    }

    /// Subtracts the speaker's band means from `m` (nothing when no clip was added).
    pub fn subtract(&self, m: &mut FeatureMatrix) {
        if self.frames == 0 || self.sums.len() != m.rows {
            return;
        }
        let cols = m.cols.max(1);
        for (sum, row) in self.sums.iter().zip(m.data.chunks_exact_mut(cols)) {
            let mean = (sum / self.frames as f64) as f32;
            row.iter_mut().for_each(|v| *v -= mean);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[&[f32]]) -> FeatureMatrix {
        let cols = rows[0].len();
        FeatureMatrix::new(rows.len(), cols, rows.concat()).unwrap()
    }

    #[test]
    fn a_gain_and_a_fixed_response_disappear() {
        let base = [[-20.0, -10.0, -30.0, -15.0], [-40.0, -35.0, -50.0, -30.0]];
        let mut a = matrix(&[&base[0], &base[1]]);
        // +12 dB gain on every band, and a tilt of -6 dB on the second band.
        let mut b = matrix(&[&base[0].map(|v| v + 12.0), &base[1].map(|v| v + 12.0 - 6.0)]);
        let level = [0.0; 4];
        for norm in [UtteranceNorm::Mean, UtteranceNorm::MeanVar] {
            let (mut x, mut y) = (a.clone(), b.clone());
            norm.apply(&mut x, &level);
            norm.apply(&mut y, &level);
            for (p, q) in x.data.iter().zip(&y.data) {
                assert!((p - q).abs() < 1e-4, "{norm:?}: {p} vs {q}");
            }
        }
        UtteranceNorm::Mean.apply(&mut a, &level);
        assert!(a.row(0).iter().sum::<f32>().abs() < 1e-4);
        UtteranceNorm::MeanVar.apply(&mut b, &level);
        let var: f32 = b.row(1).iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!((var - 1.0).abs() < 1e-4);
    }

    #[test]
    fn silent_frames_do_not_move_the_statistics() {
        // Two speech frames at -10 dB, then silence at -80 dB, then more or less of it.
        let short = [-10.0, -12.0, -80.0];
        let long = [-10.0, -12.0, -80.0, -80.0, -80.0, -80.0];
        let mut a = matrix(&[&short]);
        let mut b = matrix(&[&long]);
        UtteranceNorm::Mean.apply(&mut a, &short);
        UtteranceNorm::Mean.apply(&mut b, &long);
        assert_eq!(&a.data[..2], &b.data[..2]);
        assert_eq!(a.data[0], 1.0);
    }

    #[test]
    fn speaker_means_keep_the_differences_between_a_speakers_clips() {
        // Two clips of one speaker, the second 6 dB louder: after the speaker's mean is
        // removed they still differ by 6 dB (per-utterance normalisation would erase it).
        let quiet = matrix(&[&[-20.0, -22.0]]);
        let loud = matrix(&[&[-14.0, -16.0]]);
        let mut speaker = SpeakerMeans::default();
        speaker.add(&quiet, &[-20.0, -22.0]);
        speaker.add(&loud, &[-14.0, -16.0]);
        let (mut a, mut b) = (quiet.clone(), loud.clone());
        speaker.subtract(&mut a);
        speaker.subtract(&mut b);
        assert_eq!(a.data, [-2.0, -4.0]);
        assert_eq!(b.data, [4.0, 2.0]);
        assert_eq!(
            UtteranceNorm::Speaker.for_single_clip(),
            UtteranceNorm::Mean
        );
        // The extractor's own step leaves speaker-normalised sets alone.
        let mut raw = quiet.clone();
        UtteranceNorm::Speaker.apply(&mut raw, &[0.0, 0.0]);
        assert_eq!(raw, quiet);
    }

    #[test]
    fn a_copy_through_another_channel_loses_the_channel_as_its_speaker_would() {
        // A speaker's two clips; the first also through a channel that adds +9 dB to the
        // band. Normalised by the speaker's means moved through that channel, the copy
        // equals the clean clip normalised by the clean means.
        let clips = [matrix(&[&[-20.0, -22.0]]), matrix(&[&[-14.0, -16.0]])];
        let copy = matrix(&[&[-11.0, -13.0]]);
        let levels = |m: &FeatureMatrix| m.data.clone();
        let mut speaker = SpeakerMeans::default();
        clips.iter().for_each(|c| speaker.add(c, &levels(c)));
        let moved = speaker.through_channel(
            &SpeakerMeans::of_clip(&clips[0], &levels(&clips[0])),
            &SpeakerMeans::of_clip(&copy, &levels(&copy)),
        );
        let (mut clean, mut through) = (clips[0].clone(), copy.clone());
        speaker.subtract(&mut clean);
        moved.subtract(&mut through);
        assert_eq!(clean.data, [-2.0, -4.0]);
        assert_eq!(through.data, clean.data);
        // Unusable means (an empty clip) leave the speaker's means as they are.
        let empty = SpeakerMeans::default();
        let same = speaker.through_channel(&empty, &empty);
        let mut again = copy.clone();
        same.subtract(&mut again);
        assert_eq!(again.data, [7.0, 5.0]);
    }

    #[test]
    fn none_changes_nothing_and_names_have_suffixes() {
        let mut m = matrix(&[&[1.0, 2.0]]);
        UtteranceNorm::None.apply(&mut m, &[0.0, 0.0]);
        assert_eq!(m.data, [1.0, 2.0]);
        assert_eq!(UtteranceNorm::MeanVar.suffix(), "+cmvn");
    }
}
