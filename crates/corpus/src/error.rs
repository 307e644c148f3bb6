//! Errors a user can cause while opening, extracting, splitting or caching datasets.
//! Every variant names the file (or the spec) and the problem.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in this crate except leakage (see [`crate::LeakageError`]).
#[derive(Debug, Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{path}: not a dataset (expected a folder, a .zip archive or a .csv manifest)")]
    UnsupportedInput { path: PathBuf },

    #[error("{path}: no usable audio clips found ({detail})")]
    EmptyDataset { path: PathBuf, detail: String },

    #[error("{path}: unreadable ZIP archive: {source}")]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },

    #[error("{path}: ZIP entry '{entry}' refused: {reason}")]
    UnsafeZipEntry {
        path: PathBuf,
        entry: String,
        reason: String,
    },

    #[error("{path}: ZIP archive exceeds a limit: {reason}")]
    ZipLimit { path: PathBuf, reason: String },

    #[error("{path}: line {line}: {reason}")]
    Manifest {
        path: PathBuf,
        line: u64,
        reason: String,
    },

    #[error("{path}: manifest has no '{column}' column (found: {found})")]
    ManifestColumn {
        path: PathBuf,
        column: String,
        found: String,
    },

    #[error("invalid label set: {0}")]
    Label(String),

    #[error("invalid protocol '{spec}': {reason}")]
    Protocol { spec: String, reason: String },

    #[error("cannot split with protocol '{protocol}': {reason}")]
    Split { protocol: String, reason: String },
}

impl CorpusError {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
