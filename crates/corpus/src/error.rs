//! Errors a user can cause while opening, extracting, splitting or caching datasets.
//! Every variant names the file (or the spec) and the problem.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in this crate except leakage (see [`crate::LeakageError`]).
#[derive(Debug, Error)]
pub enum CorpusError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// The path is neither a folder, a `.zip` nor a `.csv`.
    #[error("{path}: not a dataset (expected a folder, a .zip archive or a .csv manifest)")]
    UnsupportedInput {
        /// The path given.
        path: PathBuf,
    },

    /// The dataset opened but yielded no labelled clip.
    #[error("{path}: no usable audio clips found ({detail})")]
    EmptyDataset {
        /// The dataset's root ([`crate::Dataset::root`]).
        path: PathBuf,
        /// Counts of what was skipped, and the first reason.
        detail: String,
    },

    /// The ZIP archive itself is damaged or not a ZIP.
    #[error("{path}: unreadable ZIP archive: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The ZIP reader's error.
        #[source]
        source: zip::result::ZipError,
    },

    /// An entry could escape the destination (absolute, drive or `..` path, NUL byte) or
    /// repeats an earlier one.
    #[error("{path}: ZIP entry '{entry}' refused: {reason}")]
    UnsafeZipEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name as stored in the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The archive demands more than [`crate::ZipLimits`] allow (entries, bytes, ratio).
    #[error("{path}: ZIP archive exceeds a limit: {reason}")]
    ZipLimit {
        /// The archive.
        path: PathBuf,
        /// Which limit, and by how much.
        reason: String,
    },

    /// A manifest row is unusable (empty path or emotion, unknown label, bad split, ...).
    #[error("{path}: line {line}: {reason}")]
    Manifest {
        /// The manifest CSV.
        path: PathBuf,
        /// Line of the row in the CSV, from 1 (0 when unknown).
        line: u64,
        /// What is wrong with the row.
        reason: String,
    },

    /// A manifest lacks a required column, or one named in [`crate::ManifestColumns`].
    #[error("{path}: manifest has no '{column}' column (found: {found})")]
    ManifestColumn {
        /// The manifest CSV.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The header's columns, comma-separated.
        found: String,
    },

    /// A label set or label mapping is invalid (empty, duplicate or unknown class).
    #[error("invalid label set: {0}")]
    Label(String),

    /// A protocol spec does not parse (see [`crate::Protocol`]).
    #[error("invalid protocol '{spec}': {reason}")]
    Protocol {
        /// The spec as given, e.g. `speaker-kfold:1`.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The dataset cannot be split under the protocol (too few speakers, a leak, ...).
    #[error("cannot split with protocol '{protocol}': {reason}")]
    Split {
        /// The protocol's spec.
        protocol: String,
        /// Why no split could be made.
        reason: String,
    },
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
