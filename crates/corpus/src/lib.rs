//! Emotion dataset readers, label vocabularies, speaker-independent splits and leakage checks.
//!
//! This crate never decodes audio: it deals with paths, names, labels, speakers, splits and
//! (for the feature cache) bytes.

pub mod archive;
pub mod cache;
pub mod dataset;
pub mod error;
pub mod labels;
pub mod merge;
pub mod read;
pub mod scheme;
pub mod split;
pub mod summary;

pub use archive::{ExtractReport, ZipLimits, extract_zip};
pub use cache::{CacheKey, CacheMode, FeatureCache, FeatureMatrix};
pub use dataset::{
    AUDIO_EXTENSIONS, Clip, Corpus, Dataset, Skipped, UNKNOWN_SPEAKER, is_audio_path,
    is_manifest_path,
};
pub use error::CorpusError;
pub use labels::{Emotion, LabelMap, LabelSet, MapOptions, Unmapped, canonical_label};
pub use merge::{
    ASED_COMMON_SENTENCES, CORPUS_KEY, corpus_name_of, corpus_of_speaker, evaluation_groups,
    known_language, merge, speaker_in_corpus,
};
pub use read::{
    ListedFile, ManifestColumns, OpenOptions, SchemeChoice, open_dataset, read_file_list,
    read_folder, read_manifest, read_zip,
};
pub use scheme::{detect_scheme, guess_emotion, speakers_of};
pub use split::{
    LeakageError, Protocol, Split, SplitOptions, TRAINING_PROTOCOL, check_no_leakage, make_splits,
    training_split,
};
pub use summary::DatasetSummary;
