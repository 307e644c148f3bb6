//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when reading, decoding or resampling audio.
///
/// Every variant caused by an input file names that file (`file`), so the message alone tells a
/// user which upload or path is at fault and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The file could not be opened or read (missing, permission denied, ...).
    #[error("{file}: cannot read file: {source}")]
    Io {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file has no bytes at all.
    #[error("{file}: file is empty (0 bytes)")]
    Empty {
        /// The file (or upload name) at fault.
        file: PathBuf,
    },

    /// The header is valid but the stream holds no audio samples.
    #[error("{file}: contains no audio samples")]
    NoSamples {
        /// The file (or upload name) at fault.
        file: PathBuf,
    },

    /// The file ends before the audio its header announces (or inside a packet).
    #[error("{file}: truncated: {detail}")]
    Truncated {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// Where the file ends, or how much of the declared audio is missing.
        detail: String,
    },

    /// The container was recognised but its header is invalid.
    #[error("{file}: corrupt header: {detail}")]
    CorruptHeader {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// Which header value is wrong, and how.
        detail: String,
    },

    /// No known audio container was found: random bytes, text, an image, ...
    #[error("{file}: not an audio file (no known audio format recognised)")]
    NotAudio {
        /// The file (or upload name) at fault.
        file: PathBuf,
    },

    /// The container is readable but its codec is not supported.
    #[error("{file}: unsupported codec: {codec}")]
    UnsupportedCodec {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// The codec's name, e.g. "opus".
        codec: String,
    },

    /// The audio is longer than the caller's limit (`LoadOptions::max_duration_s`).
    #[error(
        "{file}: audio is {} long, more than the limit of {}",
        readable_duration(*duration_s),
        readable_duration(*max_s)
    )]
    TooLong {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// Length in seconds: as the header declares it, or as much as was decoded before
        /// passing the limit.
        duration_s: f64,
        /// The limit, in seconds.
        max_s: f64,
    },

    /// The audio data is damaged: a packet failed to decode, samples are not finite, or the
    /// decoder itself failed.
    #[error("{file}: malformed audio data: {detail}")]
    Malformed {
        /// The file (or upload name) at fault.
        file: PathBuf,
        /// What is wrong, e.g. the decoder's own message.
        detail: String,
    },

    /// A sample rate of zero (or another impossible value) was passed to a function.
    #[error("invalid sample rate {rate} Hz: {detail}")]
    InvalidRate {
        /// The rate passed, in Hz.
        rate: u32,
        /// Why it cannot be used.
        detail: &'static str,
    },
}

impl AudioError {
    /// The file this error is about, when it is about a file.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Self::Io { file, .. }
            | Self::Empty { file }
            | Self::NoSamples { file }
            | Self::Truncated { file, .. }
            | Self::CorruptHeader { file, .. }
            | Self::NotAudio { file }
            | Self::UnsupportedCodec { file, .. }
            | Self::TooLong { file, .. }
            | Self::Malformed { file, .. } => Some(file),
            Self::InvalidRate { .. } => None,
        }
    }
}

/// Seconds as a person reads them: "95.0 s", "12.5 min", "10.0 h".
fn readable_duration(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.1} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}
