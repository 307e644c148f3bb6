//! Named, serialisable feature sets. A model bundle stores its `FeatureConfig`, so every
//! parameter that changes the output lives here (parameters a kind does not use are
//! recorded anyway, at their librosa defaults, and ignored).

use serde::{Deserialize, Serialize};

use crate::chroma::ChromaConfig;
use crate::error::{FeatureError, Result};
use crate::matrix::FeatureMatrix;
use crate::mel::{DbConfig, MelConfig};
use crate::pitch::YinConfig;
use crate::spectral::SpectralConfig;
use crate::stft::StftConfig;
use crate::utterance::UtteranceNorm;

/// What an [`crate::Extractor`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    /// Time-means of MFCC, chroma and mel power, stacked: `n_mfcc + n_chroma + n_mels` × 1
    /// (report 000's 180-dim vector; means include librosa's padded edge frames).
    PooledMeans,
    /// MFCC frames, `n_mfcc` × T.
    MfccFrames,
    /// Log-mel (dB) frames, `n_mels` × T.
    LogMelFrames,
    /// Mean and std over time of [MFCC, Δ, Δ², chroma, centroid, bandwidth, roll-off,
    /// flatness, ZCR, RMS], then YIN f0 statistics [mean Hz, std Hz, min Hz, max Hz,
    /// voiced fraction] over voiced frames (a trough below the YIN threshold; zeros if none).
    PooledRich,
}

/// A complete, self-describing feature configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// The set's name as [`FeatureConfig::named`] takes it, normalisation suffix included.
    pub name: String,
    /// What is computed, and so the output's shape.
    pub kind: FeatureKind,
    /// Rate the samples must already be at.
    pub sample_rate: u32,
    /// STFT framing; ZCR and RMS use `n_fft` as frame length and the same hop.
    pub stft: StftConfig,
    /// Mel filterbank; MFCCs are computed from the log-mel bands too.
    pub mel: MelConfig,
    /// Power-to-dB conversion of the mel bands (log-mel and MFCC).
    pub db: DbConfig,
    /// Number of MFCCs kept, 1..=`mel.n_mels`; unused by log-mel frames.
    pub n_mfcc: usize,
    /// Cepstral liftering (librosa `lifter`); 0 = none.
    pub lifter: f64,
    /// Chroma parameters; used by the pooled kinds only.
    pub chroma: ChromaConfig,
    /// Savitzky-Golay width of the deltas (shrunk to the largest odd width ≤ frames on short clips).
    pub delta_width: usize,
    /// Spectral descriptor parameters; used by pooled-rich only.
    pub spectral: SpectralConfig,
    /// |y| at or below this counts as zero for the zero-crossing rate.
    pub zcr_threshold: f64,
    /// YIN f0 parameters; used by pooled-rich only.
    pub yin: YinConfig,
    /// Per-utterance normalisation of frame features (`+cmn` / `+cmvn` after a frame set's
    /// name); left out of the JSON when none, so older bundles and cache keys read the same.
    #[serde(default, skip_serializing_if = "UtteranceNorm::is_none")]
    pub utterance_norm: UtteranceNorm,
}

const NAMES: &[&str] = &[
    "pooled180",
    "mfcc40-frames",
    "logmel64-frames",
    "logmel128-frames",
    "pooled-rich",
];

/// Speech framing of the s512 goldens: 32 ms FFT/window, 10 ms hop at 16 kHz.
const S512: StftConfig = StftConfig {
    n_fft: 512,
    hop_length: 160,
    win_length: 512,
    center: true,
};

impl FeatureConfig {
    /// The names [`FeatureConfig::named`] accepts.
    pub fn names() -> &'static [&'static str] {
        NAMES
    }

    /// A built-in feature set by name; a frame set may end in `+cmn` or `+cmvn` for
    /// per-utterance normalisation (e.g. `logmel64-frames+cmn`), or `+spk` for per-speaker
    /// mean normalisation.
    pub fn named(name: &str) -> Result<FeatureConfig> {
        let norms = [
            UtteranceNorm::Mean,
            UtteranceNorm::MeanVar,
            UtteranceNorm::Speaker,
        ];
        if let Some((base, norm)) = norms
            .iter()
            .find_map(|n| name.strip_suffix(n.suffix()).map(|base| (base, *n)))
        {
            let mut cfg = Self::named(base)?;
            if cfg.is_pooled() {
                return Err(FeatureError::invalid(
                    "utterance_norm",
                    "applies to frame features only",
                ));
            }
            cfg.name = name.to_string();
            cfg.utterance_norm = norm;
            return Ok(cfg);
        }
        Self::named_plain(name)
    }

    fn named_plain(name: &str) -> Result<FeatureConfig> {
        let base = |kind, sample_rate, stft, n_mels| FeatureConfig {
            name: name.to_string(),
            kind,
            sample_rate,
            stft,
            mel: MelConfig::librosa(n_mels),
            db: DbConfig::LIBROSA_DEFAULT,
            n_mfcc: 40,
            lifter: 0.0,
            chroma: ChromaConfig::librosa(Some(0.0)),
            delta_width: 9,
            spectral: SpectralConfig::LIBROSA_DEFAULT,
            zcr_threshold: crate::temporal::ZCR_THRESHOLD,
            yin: YinConfig::SPEECH_DEFAULT,
            utterance_norm: UtteranceNorm::None,
        };
        let cfg = match name {
            // librosa defaults at 22.05 kHz; matches the pooled180 goldens.
            "pooled180" => base(
                FeatureKind::PooledMeans,
                22050,
                StftConfig::LIBROSA_DEFAULT,
                128,
            ),
            // matches the s512_mfcc40 goldens (64 mels, 40 coefficients).
            "mfcc40-frames" => base(FeatureKind::MfccFrames, 16000, S512, 64),
            // matches the s512_logmel64 goldens.
            "logmel64-frames" => base(FeatureKind::LogMelFrames, 16000, S512, 64),
            // 128 mels need finer bins than n_fft 512 gives (the lowest filters would be only a
            // bin or two wide): a 1024-point FFT over a 25 ms (400-sample) window, 10 ms hop.
            "logmel128-frames" => base(
                FeatureKind::LogMelFrames,
                16000,
                StftConfig {
                    n_fft: 1024,
                    hop_length: 160,
                    win_length: 400,
                    center: true,
                },
                128,
            ),
            // 64 ms frames / 16 ms hop at 16 kHz; YIN on 128 ms frames every 32 ms.
            "pooled-rich" => base(
                FeatureKind::PooledRich,
                16000,
                StftConfig {
                    n_fft: 1024,
                    hop_length: 256,
                    win_length: 1024,
                    center: true,
                },
                128,
            ),
            _ => {
                return Err(FeatureError::UnknownFeatureSet {
                    name: name.to_string(),
                    known: NAMES.join(", "),
                });
            }
        };
        Ok(cfg)
    }

    /// Length of one output column (features per frame, or of the pooled vector).
    pub fn feature_dim(&self) -> usize {
        match self.kind {
            FeatureKind::PooledMeans => self.n_mfcc + self.chroma.n_chroma + self.mel.n_mels,
            FeatureKind::MfccFrames => self.n_mfcc,
            FeatureKind::LogMelFrames => self.mel.n_mels,
            FeatureKind::PooledRich => 2 * self.rich_frame_rows() + F0_STATS.len(),
        }
    }

    /// Centre frequency in Hz of each output row when the rows are mel bands (log-mel
    /// frames), lowest first; `None` for the other kinds. Frequency-axis augmentation needs it.
    pub fn mel_band_centres(&self) -> Option<Vec<f64>> {
        if self.kind != FeatureKind::LogMelFrames {
            return None;
        }
        let fmax = self.mel.fmax_for(self.sample_rate as f64);
        let edges =
            crate::mel::mel_frequencies(self.mel.n_mels + 2, self.mel.fmin, fmax, self.mel.htk);
        Some(edges[1..=self.mel.n_mels].to_vec())
    }

    /// True when the output is one vector per clip (cols = 1).
    pub fn is_pooled(&self) -> bool {
        matches!(
            self.kind,
            FeatureKind::PooledMeans | FeatureKind::PooledRich
        )
    }

    /// Rows of the per-frame stack that pooled-rich summarises.
    pub(crate) fn rich_frame_rows(&self) -> usize {
        3 * self.n_mfcc + self.chroma.n_chroma + 6
    }

    /// A name for every output row, in order (for reports and model inputs).
    pub fn feature_names(&self) -> Vec<String> {
        fn seq(p: &'static str, n: usize) -> impl Iterator<Item = String> + Clone {
            (0..n).map(move |i| format!("{p}{i}"))
        }
        match self.kind {
            FeatureKind::PooledMeans => seq("mfcc_mean", self.n_mfcc)
                .chain(seq("chroma_mean", self.chroma.n_chroma))
                .chain(seq("mel_mean", self.mel.n_mels))
                .collect(),
            FeatureKind::MfccFrames => seq("mfcc", self.n_mfcc).collect(),
            FeatureKind::LogMelFrames => seq("logmel", self.mel.n_mels).collect(),
            FeatureKind::PooledRich => {
                let rows: Vec<String> = seq("mfcc", self.n_mfcc)
                    .chain(seq("mfcc_delta", self.n_mfcc))
                    .chain(seq("mfcc_delta2", self.n_mfcc))
                    .chain(seq("chroma", self.chroma.n_chroma))
                    .chain(RICH_SCALARS.iter().map(|s| s.to_string()))
                    .collect();
                let means = rows.iter().map(|r| format!("{r}_mean"));
                let stds = rows.iter().map(|r| format!("{r}_std"));
                means
                    .chain(stds)
                    .chain(F0_STATS.iter().map(|s| s.to_string()))
                    .collect()
            }
        }
    }

    /// Normalises a clip of a per-speaker set (`+spk`, which the extractor leaves as computed)
    /// as when it comes alone: its own band means go (all that is known of its speaker). The
    /// extractor has already normalised the clips of every other set, so they stay unchanged.
    pub fn normalise_alone(&self, m: &mut FeatureMatrix) {
        if self.utterance_norm == UtteranceNorm::Speaker {
            let levels = self.frame_levels(m);
            UtteranceNorm::Speaker.for_single_clip().apply(m, &levels);
        }
    }

    /// Each frame's mean level in dB for a frame matrix of this set: the mean of the log-mel
    /// bands (for MFCC frames, from c0: the orthonormal DCT makes it their sum / sqrt(n_mels)).
    /// Per-utterance and per-speaker normalisation pick their active frames by it.
    pub fn frame_levels(&self, m: &FeatureMatrix) -> Vec<f32> {
        match self.kind {
            FeatureKind::MfccFrames => {
                let scale = 1.0 / (self.mel.n_mels as f32).sqrt();
                m.row(0).iter().map(|c0| c0 * scale).collect()
            }
            _ => {
                let mut sums = vec![0f32; m.cols];
                for row in m.data.chunks_exact(m.cols.max(1)) {
                    sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
                }
                sums.iter().map(|s| s / m.rows.max(1) as f32).collect()
            }
        }
    }

    /// Checks every parameter the kind uses.
    pub fn validate(&self) -> Result<()> {
        if self.sample_rate == 0 {
            return Err(FeatureError::invalid("sample_rate", "must be positive"));
        }
        let sr = self.sample_rate as f64;
        self.stft.validate()?;
        self.mel.validate(sr)?;
        self.db.validate()?;
        if self.kind != FeatureKind::LogMelFrames
            && (self.n_mfcc == 0 || self.n_mfcc > self.mel.n_mels)
        {
            return Err(FeatureError::invalid(
                "n_mfcc",
                format!("must be in 1..={}", self.mel.n_mels),
            ));
        }
        if self.is_pooled() {
            self.chroma.validate()?;
        }
        if self.kind == FeatureKind::PooledRich {
            self.spectral.validate()?;
            self.yin.validate(sr)?;
            if self.delta_width < 3 || self.delta_width.is_multiple_of(2) {
                return Err(FeatureError::invalid("delta_width", "must be odd and >= 3"));
            }
            if !(self.zcr_threshold >= 0.0) {
                return Err(FeatureError::invalid("zcr_threshold", "must be >= 0"));
            }
        }
        Ok(())
    }
}

pub(crate) const RICH_SCALARS: [&str; 6] = [
    "spectral_centroid",
    "spectral_bandwidth",
    "spectral_rolloff",
    "spectral_flatness",
    "zcr",
    "rms",
];
pub(crate) const F0_STATS: [&str; 5] = [
    "f0_mean_hz",
    "f0_std_hz",
    "f0_min_hz",
    "f0_max_hz",
    "voiced_fraction",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_set_is_valid_and_round_trips() {
        for name in FeatureConfig::names() {
            let cfg = FeatureConfig::named(name).unwrap();
            cfg.validate().unwrap();
            assert_eq!(cfg.feature_names().len(), cfg.feature_dim(), "{name}");
            let json = serde_json::to_string(&cfg).unwrap();
            assert_eq!(serde_json::from_str::<FeatureConfig>(&json).unwrap(), cfg);
        }
        assert_eq!(
            FeatureConfig::named("pooled180").unwrap().feature_dim(),
            180
        );
        assert_eq!(
            FeatureConfig::named("pooled-rich").unwrap().feature_dim(),
            281
        );
        assert!(FeatureConfig::named("nope").is_err());
    }

    #[test]
    fn utterance_norm_suffixes_name_frame_sets_only() {
        let cmn = FeatureConfig::named("logmel64-frames+cmn").unwrap();
        assert_eq!(cmn.utterance_norm, UtteranceNorm::Mean);
        assert_eq!(cmn.name, "logmel64-frames+cmn");
        let json = serde_json::to_string(&cmn).unwrap();
        assert!(json.contains("\"utterance_norm\":\"mean\""));
        assert_eq!(serde_json::from_str::<FeatureConfig>(&json).unwrap(), cmn);
        let mfcc = FeatureConfig::named("mfcc40-frames+cmvn").unwrap();
        assert_eq!(mfcc.utterance_norm, UtteranceNorm::MeanVar);
        // Without the suffix nothing changes, not even the JSON (bundles, cache keys).
        let plain = serde_json::to_string(&FeatureConfig::named("logmel64-frames").unwrap());
        assert!(!plain.unwrap().contains("utterance_norm"));
        assert!(FeatureConfig::named("pooled-rich+cmn").is_err());
        assert!(FeatureConfig::named("nothing+cmn").is_err());
    }

    #[test]
    fn mel_band_centres_rise_through_the_band_for_log_mel_only() {
        let cfg = FeatureConfig::named("logmel64-frames").unwrap();
        let centres = cfg.mel_band_centres().unwrap();
        assert_eq!(centres.len(), 64);
        assert!(centres.windows(2).all(|w| w[0] < w[1]));
        assert!(centres[0] > 0.0 && centres[63] < 8000.0, "{centres:?}");
        assert!(
            FeatureConfig::named("mfcc40-frames")
                .unwrap()
                .mel_band_centres()
                .is_none()
        );
    }
}
