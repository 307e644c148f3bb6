//! The in-memory dataset: labelled clips plus the files that were left out and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::labels::{LabelMap, LabelSet, canonical_label, label_order};

/// File extensions (lower case, no dot) treated as audio.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "webm", "m4a", "mp4", "aac", "aif", "aiff",
    "caf", "wma", "mka",
];

/// Speaker name used when neither the file name nor a folder tells who speaks.
pub const UNKNOWN_SPEAKER: &str = "unknown";

/// True when the path's extension is one of [`AUDIO_EXTENSIONS`] (case-insensitive).
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// True for a manifest: a `.csv` listing clips with their labels.
pub fn is_manifest_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// True for names an archive or a folder walk must ignore: dotfiles (incl. macOS `._x.wav`
/// resource forks) and `__MACOSX`.
pub fn is_junk_name(name: &str) -> bool {
    name.starts_with('.') || name.eq_ignore_ascii_case("__MACOSX")
}

/// Where a clip's labels came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corpus {
    /// RAVDESS names: `03-01-05-02-01-01-12` (modality, ..., emotion, ..., actor).
    Ravdess,
    /// CREMA-D names: `1001_DFA_ANG_XX` (speaker, sentence, emotion, level).
    CremaD,
    /// TESS names: `OAF_back_angry` (speaker, word, emotion).
    Tess,
    /// SAVEE names: `DC_a01`, or `a01` in a speaker folder (speaker, emotion code, sentence).
    Savee,
    /// EmoDB names: `03a01Fa` (speaker, text, emotion letter, version).
    EmoDb,
    /// CASIA layout: `speaker/emotion/201.wav`.
    Casia,
    /// Report 004's `a_01.wav`, `sa_03.wav`, ... scheme.
    ShortCode,
    /// Labelled by an emotion-named folder only.
    Folders,
    /// Labelled by a manifest CSV.
    Manifest,
}

impl Corpus {
    /// The name `Display` gives, e.g. `"crema-d"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Corpus::Ravdess => "ravdess",
            Corpus::CremaD => "crema-d",
            Corpus::Tess => "tess",
            Corpus::Savee => "savee",
            Corpus::EmoDb => "emodb",
            Corpus::Casia => "casia",
            Corpus::ShortCode => "short-code",
            Corpus::Folders => "folders",
            Corpus::Manifest => "manifest",
        }
    }
}

impl fmt::Display for Corpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One labelled audio file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    /// The audio file, joined onto the dataset's root (or the manifest's folder).
    pub path: PathBuf,
    /// Speaker id, namespaced by corpus in a merged dataset (`ased/1`); [`UNKNOWN_SPEAKER`]
    /// when nothing tells.
    pub speaker: String,
    /// Canonical label (see [`crate::labels::canonical_label`]).
    pub emotion: String,
    /// Identifies the source recording: copies derived from one recording share it, so a
    /// split can keep them on one side.
    pub recording_id: String,
    /// The naming scheme (or folders, or manifest) that gave the labels.
    pub corpus: Corpus,
    /// Scheme- or manifest-specific fields (intensity, statement, gender, split, ...).
    pub extra: BTreeMap<String, String>,
}

/// A file that was seen but not used, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file left out.
    pub path: PathBuf,
    /// Why, in words for a person (e.g. "no emotion: ...").
    pub reason: String,
}

/// Labelled clips read from one folder, archive or manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    /// The folder read (for a ZIP, where it was extracted; for a manifest, its folder).
    pub root: PathBuf,
    /// The labelled clips, in the order found.
    pub clips: Vec<Clip>,
    /// Audio files seen but not used, with the reason.
    pub skipped: Vec<Skipped>,
    /// Files ignored as not audio (manifests, text files, images); counted, not listed.
    pub non_audio: usize,
    /// Naming scheme in use, when one was detected or forced.
    pub scheme: Option<Corpus>,
    /// Keeps extracted ZIPs alive as long as any copy of the dataset lives.
    #[serde(skip)]
    pub(crate) extracted: Vec<Arc<tempfile::TempDir>>,
}

impl Dataset {
    /// A dataset with the given clips (mainly for tests and callers assembling their own).
    pub fn new(root: impl Into<PathBuf>, clips: Vec<Clip>) -> Self {
        Self {
            root: root.into(),
            clips,
            skipped: Vec::new(),
            non_audio: 0,
            scheme: None,
            extracted: Vec::new(),
        }
    }

    /// Number of clips.
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    /// True when there are no clips.
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// The distinct labels, in canonical order.
    pub fn label_set(&self) -> Option<LabelSet> {
        LabelSet::from_labels(self.clips.iter().map(|c| c.emotion.as_str())).ok()
    }

    /// The distinct speakers, sorted.
    pub fn speakers(&self) -> BTreeSet<&str> {
        self.clips.iter().map(|c| c.speaker.as_str()).collect()
    }

    /// Number of clips per label, in canonical label order.
    pub fn emotion_counts(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for clip in &self.clips {
            *counts.entry(clip.emotion.clone()).or_default() += 1;
        }
        let mut out: Vec<_> = counts.into_iter().collect();
        out.sort_by_key(|(label, _)| label_order(label));
        out
    }

    /// Renames emotions: each clip labelled `from` of a pair `(from, to)` becomes `to` (e.g.
    /// calm counted as neutral). Names are compared in canonical form.
    pub fn rename_labels(&self, pairs: &[(String, String)]) -> Dataset {
        let mut out = self.clone();
        for clip in &mut out.clips {
            if let Some((_, to)) = pairs
                .iter()
                .find(|(from, _)| canonical_label(from) == clip.emotion)
            {
                clip.emotion = canonical_label(to);
            }
        }
        out
    }

    /// Relabels through `map`; clips whose label is dropped move to `skipped`.
    pub fn relabel(&self, map: &LabelMap) -> Dataset {
        let mut out = self.clone();
        out.clips.clear();
        for clip in &self.clips {
            match map.map_label(&clip.emotion) {
                Some(target) => out.clips.push(Clip {
                    emotion: target.to_string(),
                    ..clip.clone()
                }),
                None => out.skipped.push(Skipped {
                    path: clip.path.clone(),
                    reason: format!("label '{}' not in target label set", clip.emotion),
                }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::MapOptions;

    fn clip(emotion: &str) -> Clip {
        Clip {
            path: PathBuf::from(format!("{emotion}.wav")),
            speaker: "1".into(),
            emotion: emotion.into(),
            recording_id: emotion.into(),
            corpus: Corpus::Folders,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn audio_extensions_are_case_insensitive() {
        assert!(is_audio_path(Path::new("a/b.WAV")));
        assert!(is_audio_path(Path::new("b.opus")));
        assert!(!is_audio_path(Path::new("MANIFEST.csv")));
        assert!(!is_audio_path(Path::new("wav")));
    }

    #[test]
    fn junk_names() {
        assert!(is_junk_name("._03-01.wav"));
        assert!(is_junk_name("__MACOSX"));
        assert!(!is_junk_name("Actor_01"));
    }

    #[test]
    fn rename_labels_counts_calm_as_neutral() {
        let data = Dataset::new("x", vec![clip("calm"), clip("neutral"), clip("sad")]);
        let out = data.rename_labels(&[("Calm".into(), "neutral".into())]);
        assert_eq!(
            out.emotion_counts(),
            [("neutral".into(), 2), ("sad".into(), 1)]
        );
    }

    #[test]
    fn relabel_moves_dropped_clips_to_skipped() {
        let data = Dataset::new("x", vec![clip("calm"), clip("angry"), clip("surprised")]);
        let map = LabelMap::new(
            &LabelSet::ravdess(),
            &LabelSet::crema_d(),
            &MapOptions::project().merge("calm", "neutral"),
        )
        .unwrap();
        let out = data.relabel(&map);
        let labels: Vec<_> = out.clips.iter().map(|c| c.emotion.as_str()).collect();
        assert_eq!(labels, ["neutral", "angry"]);
        assert_eq!(out.skipped.len(), 1);
        assert_eq!(
            out.emotion_counts(),
            [("neutral".into(), 1), ("angry".into(), 1)]
        );
    }
}
