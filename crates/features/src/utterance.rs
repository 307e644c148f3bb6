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
    fn none_changes_nothing_and_names_have_suffixes() {
        let mut m = matrix(&[&[1.0, 2.0]]);
        UtteranceNorm::None.apply(&mut m, &[0.0, 0.0]);
        assert_eq!(m.data, [1.0, 2.0]);
        assert_eq!(UtteranceNorm::MeanVar.suffix(), "+cmvn");
    }
}
