//! A dataset at a glance: counts per emotion and speaker, what was skipped and why.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::dataset::{Dataset, Skipped, UNKNOWN_SPEAKER};
use crate::labels::label_order;

/// How many skipped files the table lists one by one.
const SKIPPED_SHOWN: usize = 20;

/// Counts of a dataset, what was skipped, and warnings; `Display` prints it as tables.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    /// The dataset's root.
    pub root: PathBuf,
    /// Naming scheme (or `manifest`), `None` when labels came from folders.
    pub scheme: Option<String>,
    /// Number of labelled clips.
    pub clips: usize,
    /// Number of distinct speakers ([`UNKNOWN_SPEAKER`] counts as one).
    pub speakers: usize,
    /// Number of distinct source recordings.
    pub recordings: usize,
    /// Clips whose speaker nothing told (speaker-independent splits cannot separate them).
    pub unknown_speaker_clips: usize,
    /// Clips per emotion label.
    pub per_emotion: BTreeMap<String, usize>,
    /// Clips per speaker id.
    pub per_speaker: BTreeMap<String, usize>,
    /// Clips per corpus and emotion, for a dataset merged from several corpora.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_corpus: BTreeMap<String, BTreeMap<String, usize>>,
    /// Files ignored as not audio.
    pub non_audio: usize,
    /// Audio files left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Warnings a person should read before trusting numbers from this dataset.
    pub notes: Vec<String>,
}

impl DatasetSummary {
    /// Counts `dataset` and adds the warnings that apply.
    pub fn of(dataset: &Dataset) -> Self {
        let mut per_emotion = BTreeMap::new();
        let mut per_speaker = BTreeMap::new();
        let mut recordings = std::collections::BTreeSet::new();
        for clip in &dataset.clips {
            *per_emotion.entry(clip.emotion.clone()).or_default() += 1;
            *per_speaker.entry(clip.speaker.clone()).or_default() += 1;
            recordings.insert(clip.recording_id.as_str());
        }
        let unknown = per_speaker.get(UNKNOWN_SPEAKER).copied().unwrap_or(0);
        let mut summary = Self {
            root: dataset.root.clone(),
            scheme: match dataset.corpus_names() {
                names if names.len() > 1 => Some(format!("several corpora ({})", names.join(", "))),
                _ => dataset.scheme.map(|s| s.to_string()),
            },
            clips: dataset.clips.len(),
            speakers: per_speaker.len(),
            recordings: recordings.len(),
            unknown_speaker_clips: unknown,
            per_emotion,
            per_speaker,
            per_corpus: dataset.corpus_counts(),
            non_audio: dataset.non_audio,
            skipped: dataset.skipped.clone(),
            notes: Vec::new(),
        };
        summary.notes = summary.warnings();
        summary
    }

    fn warnings(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.unknown_speaker_clips > 0 {
            notes.push(format!(
                "speaker unknown for {} of {} clips (no naming scheme or speaker folder says who \
                 speaks): they count as one speaker '{UNKNOWN_SPEAKER}', so speaker-independent \
                 splits keep them together",
                self.unknown_speaker_clips, self.clips
            ));
        }
        if self.speakers < 2 && self.clips > 0 {
            notes
                .push("fewer than two speakers: no speaker-independent evaluation possible".into());
        }
        if let (Some(min), Some(max)) = (
            self.per_emotion.values().min(),
            self.per_emotion.values().max(),
        ) && *max > 2 * *min
        {
            notes.push(format!(
                "classes are imbalanced ({min} to {max} clips): report UA as well as WA"
            ));
        }
        notes
    }

    fn emotions_in_order(&self) -> Vec<(&String, &usize)> {
        let mut rows: Vec<_> = self.per_emotion.iter().collect();
        rows.sort_by_key(|(label, _)| label_order(label));
        rows
    }

    fn speakers_in_order(&self) -> Vec<(&String, &usize)> {
        let mut rows: Vec<_> = self.per_speaker.iter().collect();
        // Numeric ids in numeric order (2 before 10), then the rest by name.
        // In a merged dataset, by corpus and then by number (ased/2 before ased/10).
        rows.sort_by_key(|(s, _)| {
            let own = crate::speaker_in_corpus(s);
            let corpus = &s[..s.len() - own.len()];
            (
                corpus.to_string(),
                own.parse::<u64>().map_err(|_| own.to_string()),
                s.to_string(),
            )
        });
        rows
    }
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Dataset {}", self.root.display())?;
        writeln!(
            f,
            "  scheme:     {}",
            self.scheme.as_deref().unwrap_or("emotion folders")
        )?;
        writeln!(f, "  clips:      {}", self.clips)?;
        writeln!(f, "  speakers:   {}", self.speakers)?;
        writeln!(f, "  recordings: {}", self.recordings)?;
        writeln!(f, "\n  {:<14} {:>6} {:>7}", "emotion", "clips", "share")?;
        for (label, count) in self.emotions_in_order() {
            let share = 100.0 * *count as f64 / self.clips.max(1) as f64;
            writeln!(f, "  {label:<14} {count:>6} {share:>6.1}%")?;
        }
        self.fmt_corpora(f)?;
        writeln!(f, "\n  {:<14} {:>6}", "speaker", "clips")?;
        for (speaker, count) in self.speakers_in_order() {
            writeln!(f, "  {speaker:<14} {count:>6}")?;
        }
        self.fmt_skipped(f)?;
        for note in &self.notes {
            writeln!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

impl DatasetSummary {
    /// Clips per corpus (rows) and emotion (columns); nothing for one corpus.
    fn fmt_corpora(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.per_corpus.is_empty() {
            return Ok(());
        }
        let labels: Vec<&String> = self
            .emotions_in_order()
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        write!(f, "\n  {:<14}", "corpus")?;
        for label in &labels {
            write!(f, " {:>9}", label)?;
        }
        writeln!(f, " {:>7}", "all")?;
        for (corpus, counts) in &self.per_corpus {
            write!(f, "  {corpus:<14}")?;
            for label in &labels {
                match counts.get(*label) {
                    Some(n) => write!(f, " {n:>9}")?,
                    None => write!(f, " {:>9}", "-")?,
                }
            }
            writeln!(f, " {:>7}", counts.values().sum::<usize>())?;
        }
        Ok(())
    }

    fn fmt_skipped(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n  non-audio files ignored: {}", self.non_audio)?;
        writeln!(f, "  skipped audio files:     {}", self.skipped.len())?;
        for s in self.skipped.iter().take(SKIPPED_SHOWN) {
            writeln!(f, "    {}: {}", s.path.display(), s.reason)?;
        }
        if self.skipped.len() > SKIPPED_SHOWN {
            writeln!(f, "    ... and {} more", self.skipped.len() - SKIPPED_SHOWN)?;
        }
        Ok(())
    }
}

impl Dataset {
    /// Counts and warnings for this dataset.
    pub fn summary(&self) -> DatasetSummary {
        DatasetSummary::of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Clip, Corpus};

    fn clip(speaker: &str, emotion: &str, n: usize) -> Clip {
        Clip {
            path: format!("{speaker}/{emotion}/{n}.wav").into(),
            speaker: speaker.into(),
            emotion: emotion.into(),
            recording_id: format!("{speaker}/{emotion}/{n}"),
            corpus: Corpus::Folders,
            extra: BTreeMap::new(),
        }
    }

    fn sample() -> Dataset {
        let mut data = Dataset::new(
            "root",
            vec![
                clip("10", "sad", 0),
                clip("2", "angry", 1),
                clip("2", "neutral", 2),
                clip(UNKNOWN_SPEAKER, "sad", 3),
            ],
        );
        data.skipped.push(Skipped {
            path: "root/x.wav".into(),
            reason: "no emotion".into(),
        });
        data
    }

    #[test]
    fn counts_and_notes() {
        let s = sample().summary();
        assert_eq!((s.clips, s.speakers, s.recordings), (4, 3, 4));
        assert_eq!(s.per_emotion["sad"], 2);
        assert_eq!(s.unknown_speaker_clips, 1);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("speaker unknown for 1 of 4"))
        );
    }

    #[test]
    fn table_orders_labels_and_speakers() {
        let text = sample().summary().to_string();
        let pos = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {text}"))
        };
        assert!(pos("neutral") < pos("sad") && pos("sad") < pos("angry"));
        assert!(pos("\n  2 ") < pos("\n  10 "));
        assert!(text.contains("root/x.wav: no emotion"));
    }

    #[test]
    fn merged_corpora_get_a_table_of_clips_per_corpus_and_emotion() {
        let mut other = Dataset::new("other", vec![clip("1", "sad", 9)]);
        other.clips.push(clip("1", "sad", 10));
        let text = crate::merge(vec![sample(), other]).summary().to_string();
        let row = |corpus: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(corpus) && l.contains("  "))
                .unwrap_or_else(|| panic!("{corpus} in {text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(row("root"), ["root", "1", "2", "1", "4"]);
        assert_eq!(row("other"), ["other", "-", "2", "-", "2"]);
    }

    #[test]
    fn json_has_counts() {
        let json = serde_json::to_value(sample().summary()).unwrap();
        assert_eq!(json["per_emotion"]["sad"], 2);
        assert_eq!(json["skipped"][0]["reason"], "no emotion");
    }
}
