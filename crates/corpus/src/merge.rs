//! Several corpora in one dataset: each clip remembers its corpus, and speakers and recordings
//! are namespaced by it (RAVDESS actor 1 and ASED speaker 01 are different people), so the
//! speaker-independent splits and the leakage check stay honest across corpora.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::dataset::{Clip, Dataset};

/// The `extra` key that names a clip's corpus (set by [`merge`]; a manifest may also carry
/// a `corpus` column of its own).
pub const CORPUS_KEY: &str = "corpus";

/// Separates the corpus from the speaker id in a merged dataset, e.g. `ased/1`.
pub const NAMESPACE_SEPARATOR: char = '/';

impl Clip {
    /// The corpus this clip came from, when the dataset was merged from several (or its
    /// manifest says so).
    pub fn corpus_name(&self) -> Option<&str> {
        self.extra.get(CORPUS_KEY).map(String::as_str)
    }

    /// The speaker's own id, without the corpus namespace (`ased/1` -> `1`).
    pub fn speaker_in_corpus(&self) -> &str {
        speaker_in_corpus(&self.speaker)
    }
}

/// A speaker id without its corpus namespace.
pub fn speaker_in_corpus(speaker: &str) -> &str {
    speaker
        .rsplit_once(NAMESPACE_SEPARATOR)
        .map_or(speaker, |(_, own)| own)
}

/// The corpus of a namespaced speaker id (`ased/1` -> `ased`); `None` outside a merged
/// dataset.
pub fn corpus_of_speaker(speaker: &str) -> Option<&str> {
    speaker
        .split_once(NAMESPACE_SEPARATOR)
        .map(|(corpus, _)| corpus)
}

/// The language of a well-known corpus, by the name [`corpus_name_of`] gives it (`ravdess`,
/// `ased`, ...), so that a model card can say which languages a model has heard.
pub fn known_language(corpus_name: &str) -> Option<&'static str> {
    Some(match corpus_name {
        "ravdess" | "crema-d" | "cremad" | "tess" | "iemocap" | "msp-podcast" => "English",
        "savee" => "English (British)",
        "emodb" | "emo-db" => "German",
        "casia" => "Mandarin",
        "ased" => "Amharic",
        "emovo" => "Italian",
        "shemo" => "Persian",
        "urdu" => "Urdu",
        "aesdd" => "Greek",
        "cafe" => "French (Canadian)",
        _ => return None,
    })
}

/// The name a dataset path gives its corpus: a folder's name, a ZIP's stem, and for a
/// manifest CSV its own stem unless that says only "manifest" (then its folder's name, as
/// for `ased/MANIFEST.csv`). Lower case.
pub fn corpus_name_of(path: &Path) -> String {
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    };
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let name = if is_csv && matches!(stem(path).as_str(), "manifest" | "metadata" | "labels") {
        path.parent().map(stem).unwrap_or_default()
    } else if path.is_dir() {
        path.file_name()
            .map(|s| s.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    } else {
        stem(path)
    };
    let name = name.replace(NAMESPACE_SEPARATOR, "-");
    if name.is_empty() {
        "corpus".into()
    } else {
        name
    }
}

/// One dataset of several, each named by its corpus (see [`corpus_name_of`]; a repeated name
/// gets `-2`, `-3`, ...). One dataset comes back as it is, so single-corpus runs, their
/// reports and their stored folds are unchanged.
pub fn merge(mut parts: Vec<Dataset>) -> Dataset {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    let mut taken = BTreeSet::new();
    let mut merged = Dataset::new(PathBuf::new(), Vec::new());
    let mut names = Vec::new();
    for part in parts {
        let name = unique_name(corpus_name_of(&part.root), &mut taken);
        for mut clip in part.clips {
            clip.speaker = format!("{name}{NAMESPACE_SEPARATOR}{}", clip.speaker);
            clip.recording_id = format!("{name}{NAMESPACE_SEPARATOR}{}", clip.recording_id);
            clip.extra.insert(CORPUS_KEY.into(), name.clone());
            merged.clips.push(clip);
        }
        merged.skipped.extend(part.skipped);
        merged.non_audio += part.non_audio;
        merged.extracted.extend(part.extracted);
        names.push(name);
    }
    merged.root = PathBuf::from(names.join("+"));
    merged
}

/// Name of the ASED subset whose figures a report gives apart: the two common sentences
/// (01-02), spoken in every emotion. ASED's other sentences were each spoken in one emotion
/// only, so their words give the emotion away (see ASED's README).
pub const ASED_COMMON_SENTENCES: &str = "ased common sentences (01-02)";

/// The groups a report scores a clip in beyond the whole test set: its corpus (named
/// `corpus` when the clip does not say, i.e. a dataset of one corpus), and for ASED its
/// common sentences.
pub fn evaluation_groups(clip: &Clip, corpus: &str) -> Vec<String> {
    let name = clip.corpus_name().unwrap_or(corpus);
    let mut groups = vec![name.to_string()];
    let sentence = clip
        .extra
        .get("sentence")
        .map(|s| s.trim_start_matches('0'));
    if name.starts_with("ased") && matches!(sentence, Some("1" | "2")) {
        groups.push(ASED_COMMON_SENTENCES.to_string());
    }
    groups
}

fn unique_name(name: String, taken: &mut BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    candidate
}

impl Dataset {
    /// The corpora of a merged dataset, in the order they were given (empty for one corpus).
    pub fn corpus_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for clip in &self.clips {
            if let Some(name) = clip.corpus_name()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
        names
    }

    /// Clips per corpus and emotion (empty for one corpus).
    pub fn corpus_counts(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut counts: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for clip in &self.clips {
            if let Some(name) = clip.corpus_name() {
                *counts
                    .entry(name.to_string())
                    .or_default()
                    .entry(clip.emotion.clone())
                    .or_default() += 1;
            }
        }
        counts
    }

    /// The emotions every corpus has (all emotions for one corpus), in canonical order.
    pub fn shared_labels(&self) -> Vec<String> {
        let counts = self.corpus_counts();
        let mut shared: Vec<String> = match counts.values().next() {
            None => self.emotion_counts().into_iter().map(|(l, _)| l).collect(),
            Some(first) => first
                .keys()
                .filter(|label| counts.values().all(|c| c.contains_key(*label)))
                .cloned()
                .collect(),
        };
        shared.sort_by_key(|l| crate::labels::label_order(l));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Corpus;

    #[test]
    fn well_known_corpora_have_a_language_and_others_none() {
        assert_eq!(known_language("ravdess"), Some("English"));
        assert_eq!(
            known_language(&corpus_name_of(Path::new("x/ased/MANIFEST.csv"))),
            Some("Amharic")
        );
        assert_eq!(known_language("my-recordings"), None);
    }

    fn clip(speaker: &str, emotion: &str) -> Clip {
        Clip {
            path: PathBuf::from(format!("{speaker}-{emotion}.wav")),
            speaker: speaker.into(),
            emotion: emotion.into(),
            recording_id: format!("{speaker}-{emotion}"),
            corpus: Corpus::Folders,
            extra: BTreeMap::new(),
        }
    }

    fn two_corpora() -> Dataset {
        let ravdess = Dataset::new(
            "/data/ravdess",
            vec![clip("1", "angry"), clip("1", "calm"), clip("2", "sad")],
        );
        let ased = Dataset::new(
            "/data/ased/MANIFEST.csv",
            vec![clip("1", "angry"), clip("3", "sad"), clip("3", "neutral")],
        );
        merge(vec![ravdess, ased])
    }

    #[test]
    fn speakers_and_recordings_are_namespaced_by_corpus() {
        let merged = two_corpora();
        let speakers: Vec<&str> = merged.speakers().into_iter().collect();
        assert_eq!(speakers, ["ased/1", "ased/3", "ravdess/1", "ravdess/2"]);
        assert_eq!(merged.clips[0].recording_id, "ravdess/1-angry");
        assert_eq!(merged.clips[3].corpus_name(), Some("ased"));
        assert_eq!(merged.clips[3].speaker_in_corpus(), "1");
        assert_eq!(merged.corpus_names(), ["ravdess", "ased"]);
        assert_eq!(merged.root, PathBuf::from("ravdess+ased"));
    }

    #[test]
    fn one_dataset_is_left_as_it_is() {
        let one = Dataset::new("/data/ravdess", vec![clip("1", "angry")]);
        let merged = merge(vec![one]);
        assert_eq!(merged.clips[0].speaker, "1");
        assert!(merged.corpus_names().is_empty());
    }

    #[test]
    fn the_label_set_is_the_union_and_shared_labels_the_intersection() {
        let merged = two_corpora();
        let union: Vec<String> = merged
            .emotion_counts()
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(union.len(), 4);
        assert_eq!(merged.shared_labels(), ["sad", "angry"]);
        let counts = merged.corpus_counts();
        assert_eq!(counts["ravdess"]["calm"], 1);
        assert!(!counts["ased"].contains_key("calm"));
    }

    #[test]
    fn ased_common_sentences_form_their_own_group() {
        let mut common = clip("1", "sad");
        common.extra.insert("sentence".into(), "02".into());
        let mut specific = clip("1", "sad");
        specific.extra.insert("sentence".into(), "05".into());
        assert_eq!(
            evaluation_groups(&common, "ased"),
            ["ased", ASED_COMMON_SENTENCES]
        );
        assert_eq!(evaluation_groups(&specific, "ased"), ["ased"]);
        assert_eq!(evaluation_groups(&common, "ravdess"), ["ravdess"]);
    }

    #[test]
    fn names_come_from_folders_zips_and_manifests_and_stay_unique() {
        assert_eq!(corpus_name_of(Path::new("x/ased/MANIFEST.csv")), "ased");
        assert_eq!(corpus_name_of(Path::new("x/CREMA.zip")), "crema");
        assert_eq!(corpus_name_of(Path::new("x/emodb.csv")), "emodb");
        let a = Dataset::new("/a/ravdess", vec![clip("1", "sad")]);
        let b = Dataset::new("/b/ravdess", vec![clip("1", "sad")]);
        let merged = merge(vec![a, b]);
        assert_eq!(merged.corpus_names(), ["ravdess", "ravdess-2"]);
        assert_eq!(merged.speakers().len(), 2);
    }
}
