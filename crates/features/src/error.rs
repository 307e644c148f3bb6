//! Errors of the feature crate: every way a caller can misuse it, none of them a panic.

/// What can go wrong when configuring or running feature extraction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// The signal has no samples; no librosa frame can be centred on nothing.
    #[error("empty signal: feature extraction needs at least one sample")]
    EmptySignal,
    /// NaN or infinity in the input (librosa's `valid_audio` rejects these too).
    #[error("signal contains a non-finite sample ({value}) at index {index}")]
    NonFinite {
        /// Index of the first non-finite sample.
        index: usize,
        /// Its value: NaN or ±infinity.
        value: f32,
    },
    /// A configuration value is out of its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name, e.g. `n_mels` or `yin.fmax`.
        name: &'static str,
        /// What the value must be, or why it does not fit.
        reason: String,
    },
    /// `FeatureConfig::named` got a name it does not know.
    #[error("unknown feature set `{name}`; known sets: {known}")]
    UnknownFeatureSet {
        /// The name asked for.
        name: String,
        /// The names that exist, comma-separated.
        known: String,
    },
    /// An operation needs more frames than the signal yields.
    #[error("{what} needs at least {needed} frames, got {frames}")]
    TooFewFrames {
        /// The operation that needs them.
        what: &'static str,
        /// Frames the signal gives.
        frames: usize,
        /// Frames the operation needs at least.
        needed: usize,
    },
    /// Matrix dimensions do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The FFT library refused a buffer (a bug in this crate, reported instead of panicking).
    #[error("FFT failed: {0}")]
    Fft(String),
}

impl FeatureError {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        FeatureError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = FeatureError> = std::result::Result<T, E>;

/// Rejects empty and non-finite signals up front, so no later stage has to.
pub(crate) fn check_signal(samples: &[f32]) -> Result<()> {
    if samples.is_empty() {
        return Err(FeatureError::EmptySignal);
    }
    // branch-free scan in blocks (vectorises); locate the culprit only if there is one
    let all_finite = samples
        .chunks(4096)
        .all(|block| block.iter().fold(true, |ok, s| ok & s.is_finite()));
    if all_finite {
        return Ok(());
    }
    match samples.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(FeatureError::NonFinite {
            index,
            value: samples[index],
        }),
        None => Ok(()),
    }
}
