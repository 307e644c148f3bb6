//! librosa-compatible audio features: STFT, mel, MFCC, chroma, spectral descriptors, pitch.
//!
//! Numerically matching librosa 0.11 (see `tests/librosa_parity.rs` and the fixtures in
//! `shared/fixtures/librosa`). Two layers:
//! - librosa-like functions (`stft_magnitude`, `melspectrogram`, `power_to_db`, `mfcc_from_db`,
//!   `delta`, `chroma_stft`, `zero_crossing_rate`, `rms`, `spectral_features`, `yin`, `pyin`), each
//!   returning a features × frames [`FeatureMatrix`];
//! - named, serialisable feature sets ([`FeatureConfig`]) computed by an [`Extractor`] that owns
//!   its FFT plans, filterbanks and scratch buffers, so nothing is allocated per frame.
//!
//! Storage is f32; sums that need it (means, chroma, spectral moments, YIN) run in f64.

// Parameter checks are written `!(x > 0.0)` on purpose: NaN must fail them too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod chroma;
mod config;
mod delta;
mod error;
mod extractor;
mod kernels;
mod matrix;
mod mel;
mod mfcc;
mod pitch;
mod pyin;
mod spectral;
mod stft;
mod temporal;
mod utterance;

pub use chroma::{ChromaConfig, ChromaFilterbank, chroma_stft, estimate_tuning, pitch_tuning};
pub use config::{FeatureConfig, FeatureKind};
pub use delta::{delta, savgol_deriv_taps};
pub use error::{FeatureError, Result};
pub use extractor::Extractor;
pub use matrix::FeatureMatrix;
pub use mel::{
    DbConfig, MelConfig, MelFilterbank, MelNorm, hz_to_mel, mel_frequencies, mel_to_hz,
    melspectrogram, power_to_db,
};
pub use mfcc::{Dct, mfcc_from_db};
pub use pitch::{Yin, YinConfig, YinFrame, yin};
pub use pyin::{Pyin, PyinConfig, PyinOutput, pyin};
pub use spectral::{SpectralConfig, SpectralFeatures, spectral_features};
pub use stft::{
    SpectrumFloat, Stft, StftConfig, fft_frequencies, hann_periodic, stft_magnitude, stft_power,
};
pub use temporal::{ZCR_THRESHOLD, rms, zero_crossing_rate};
pub use utterance::{ACTIVE_RANGE_DB, SpeakerMeans, UtteranceNorm};

/// Re-export of the complex type [`Stft::for_each_frame`] hands out.
pub use realfft::num_complex::Complex;
