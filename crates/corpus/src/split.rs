//! Honest splits, reproducible by seed: speaker-independent k-fold (stratified by emotion
//! as far as speakers allow), the fixed `speaker-mod` protocol, held-out speakers, the
//! manifest's own split column, and — only when named — a random stratified split.
//! Plus the leakage check every split must pass.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::dataset::Dataset;
use crate::error::CorpusError;
use crate::scheme::normalise_speaker;

/// How train and test are separated. `Display` gives back the parseable spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// `speaker-kfold:K` — K folds of whole speakers, balanced per emotion.
    SpeakerKFold {
        /// Number of folds, at least 2.
        folds: usize,
    },
    /// `speaker-mod:K` — fold k holds the numeric speakers with `id % K == k`.
    SpeakerMod {
        /// Number of folds, at least 2.
        folds: usize,
    },
    /// `holdout:21,22,23,24` — these speakers are the test set.
    Holdout {
        /// The test speakers' ids (matched ignoring case and leading zeros).
        speakers: Vec<String>,
    },
    /// `random:0.2` — clips (grouped by recording) drawn at random; speakers leak.
    Random {
        /// Share of the clips in the test part, strictly between 0 and 1.
        test_fraction: f64,
    },
    /// `manifest` — the manifest's `split` column.
    Manifest,
    /// `corpus-out` — one fold per corpus of a merged dataset: test on it, train on the
    /// others, over the emotions every corpus has.
    CorpusOut,
}

impl Protocol {
    /// True only for the protocol allowed to put one speaker on both sides.
    pub fn is_random(&self) -> bool {
        matches!(self, Protocol::Random { .. })
    }

    /// True for the cross-corpus protocol, which scores only the emotions every corpus has.
    pub fn is_corpus_out(&self) -> bool {
        matches!(self, Protocol::CorpusOut)
    }

    /// A sentence for reports saying what produced a number.
    pub fn describe(&self) -> String {
        match self {
            Protocol::SpeakerKFold { folds } => format!(
                "speaker-independent {folds}-fold cross-validation (whole speakers per fold, \
                 folds balanced per emotion)"
            ),
            Protocol::SpeakerMod { folds } => format!(
                "speaker-independent {folds}-fold cross-validation (fold k = speakers whose \
                 number mod {folds} is k)"
            ),
            Protocol::Holdout { speakers } => format!(
                "speaker-independent hold-out: test speakers {}",
                speakers.join(", ")
            ),
            Protocol::Random { test_fraction } => format!(
                "random stratified split, {:.0}% test: NOT speaker-independent (the same \
                 speakers are in train and test, which overstates accuracy)",
                test_fraction * 100.0
            ),
            Protocol::Manifest => "split given by the manifest's split column".into(),
            Protocol::CorpusOut => "cross-corpus: each corpus in turn is the test set and the \
                                    other corpora train (and validate, by whole speakers), over \
                                    the emotions every corpus has"
                .into(),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::SpeakerKFold { folds } => write!(f, "speaker-kfold:{folds}"),
            Protocol::SpeakerMod { folds } => write!(f, "speaker-mod:{folds}"),
            Protocol::Holdout { speakers } => write!(f, "holdout:{}", speakers.join(",")),
            Protocol::Random { test_fraction } => write!(f, "random:{test_fraction}"),
            Protocol::Manifest => f.write_str("manifest"),
            Protocol::CorpusOut => f.write_str("corpus-out"),
        }
    }
}

impl FromStr for Protocol {
    type Err = CorpusError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| CorpusError::Protocol {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (name, arg) = spec.trim().split_once(':').unwrap_or((spec.trim(), ""));
        let folds = || match arg.trim().parse::<usize>() {
            Ok(k) if k >= 2 => Ok(k),
            _ => Err(bad("the number of folds must be an integer of at least 2")),
        };
        match name.to_ascii_lowercase().as_str() {
            "speaker-kfold" => Ok(Protocol::SpeakerKFold { folds: folds()? }),
            "speaker-mod" => Ok(Protocol::SpeakerMod { folds: folds()? }),
            "holdout" => {
                parse_holdout(arg).ok_or_else(|| bad("expected holdout:SPEAKER,SPEAKER,..."))
            }
            "random" => match arg.trim().parse::<f64>() {
                Ok(f) if f > 0.0 && f < 1.0 => Ok(Protocol::Random { test_fraction: f }),
                _ => Err(bad(
                    "the test fraction must be between 0 and 1, e.g. random:0.2",
                )),
            },
            "manifest" if arg.is_empty() => Ok(Protocol::Manifest),
            "corpus-out" if arg.is_empty() => Ok(Protocol::CorpusOut),
            _ => Err(bad(
                "expected speaker-kfold:K, speaker-mod:K, holdout:S1,S2,..., random:F, manifest \
                 or corpus-out",
            )),
        }
    }
}

fn parse_holdout(arg: &str) -> Option<Protocol> {
    let speakers: Vec<String> = arg
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(normalise_speaker)
        .collect();
    (!speakers.is_empty()).then_some(Protocol::Holdout { speakers })
}

/// Indices into `Dataset::clips` for each part of one split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Clips to fit on, sorted.
    pub train: Vec<usize>,
    /// Clips for validation (early stopping), sorted; may be empty.
    pub val: Vec<usize>,
    /// Clips to score, sorted; empty for [`training_split`].
    pub test: Vec<usize>,
    /// The protocol spec that produced it (e.g. `speaker-kfold:5`).
    pub protocol: String,
    /// Which fold is the test part, for k-fold protocols.
    pub fold: Option<usize>,
    /// The [`SplitOptions::seed`] it was made with.
    pub seed: u64,
}

/// Options shared by all protocols.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Seeds every random choice (folds, validation speakers, random parts): the same seed
    /// and dataset give the same splits.
    pub seed: u64,
    /// Share of the training clips moved to validation (whole speakers, except under the
    /// random protocol); 0 = no validation part.
    pub val_fraction: f64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            val_fraction: 0.1,
        }
    }
}

/// The splits a protocol defines: one per fold for k-fold protocols, else one.
/// Every split returned has passed [`check_no_leakage`].
pub fn make_splits(
    dataset: &Dataset,
    protocol: &Protocol,
    opts: &SplitOptions,
) -> Result<Vec<Split>, CorpusError> {
    let fail = |reason: String| CorpusError::Split {
        protocol: protocol.to_string(),
        reason,
    };
    if dataset.is_empty() {
        return Err(fail("the dataset has no clips".into()));
    }
    if !(0.0..1.0).contains(&opts.val_fraction) {
        return Err(fail(format!(
            "val_fraction {} is not in [0, 1)",
            opts.val_fraction
        )));
    }
    let tests: Vec<Vec<usize>> = match protocol {
        Protocol::SpeakerKFold { folds } => {
            speaker_kfold(dataset, *folds, opts.seed).map_err(fail)?
        }
        Protocol::SpeakerMod { folds } => speaker_mod(dataset, *folds).map_err(fail)?,
        Protocol::Holdout { speakers } => vec![holdout(dataset, speakers).map_err(fail)?],
        Protocol::Random { test_fraction } => {
            vec![random_part(
                dataset,
                &all(dataset),
                *test_fraction,
                opts.seed,
            )]
        }
        Protocol::Manifest => return manifest_split(dataset, protocol, opts).map(|s| vec![s]),
        Protocol::CorpusOut => corpus_out(dataset).map_err(fail)?,
    };
    let k = tests.len();
    tests
        .into_iter()
        .enumerate()
        .map(|(fold, test)| {
            let split = assemble(dataset, protocol, opts, test, (k > 1).then_some(fold));
            check_no_leakage(dataset, &split).map_err(|e| fail(e.to_string()))?;
            Ok(split)
        })
        .collect()
}

/// The split for training a model to keep: no test part; validation (for early stopping) is
/// `opts.val_fraction` of the clips as whole speakers, or as whole recordings when the
/// dataset has a single speaker.
pub fn training_split(dataset: &Dataset, opts: &SplitOptions) -> Result<Split, CorpusError> {
    if dataset.is_empty() {
        return Err(CorpusError::Split {
            protocol: TRAINING_PROTOCOL.into(),
            reason: "the dataset has no clips".into(),
        });
    }
    let pool = all(dataset);
    let mut val = speaker_part(dataset, &pool, opts.val_fraction, opts.seed);
    if val.is_empty() && opts.val_fraction > 0.0 {
        val = random_part(dataset, &pool, opts.val_fraction, opts.seed);
    }
    val.sort_unstable();
    let in_val: HashSet<usize> = val.iter().copied().collect();
    let split = Split {
        train: pool.into_iter().filter(|i| !in_val.contains(i)).collect(),
        val,
        test: Vec::new(),
        protocol: TRAINING_PROTOCOL.into(),
        fold: None,
        seed: opts.seed,
    };
    check_no_leakage(dataset, &split).map_err(|e| CorpusError::Split {
        protocol: TRAINING_PROTOCOL.into(),
        reason: e.to_string(),
    })?;
    Ok(split)
}

/// How [`training_split`] names itself in reports and bundles.
pub const TRAINING_PROTOCOL: &str = "train-all (validation: held-out speakers)";

fn all(dataset: &Dataset) -> Vec<usize> {
    (0..dataset.len()).collect()
}

/// Train = everything not in test (under corpus-out: of the shared emotions); val taken
/// from train.
fn assemble(
    dataset: &Dataset,
    protocol: &Protocol,
    opts: &SplitOptions,
    mut test: Vec<usize>,
    fold: Option<usize>,
) -> Split {
    test.sort_unstable();
    let in_test: HashSet<usize> = test.iter().copied().collect();
    // Cross-corpus folds train only on the emotions every corpus has.
    let shared = protocol.is_corpus_out().then(|| dataset.shared_labels());
    let rest: Vec<usize> = all(dataset)
        .into_iter()
        .filter(|i| !in_test.contains(i))
        .filter(|&i| {
            shared
                .as_ref()
                .is_none_or(|s| s.contains(&dataset.clips[i].emotion))
        })
        .collect();
    // A stream distinct from the one that drew the test part, and per fold.
    let seed = opts
        .seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(fold.map_or(0, |f| f as u64 + 1));
    let mut val = match protocol {
        Protocol::Random { .. } => random_part(dataset, &rest, opts.val_fraction, seed),
        _ => speaker_part(dataset, &rest, opts.val_fraction, seed),
    };
    val.sort_unstable();
    let in_val: HashSet<usize> = val.iter().copied().collect();
    Split {
        train: rest.into_iter().filter(|i| !in_val.contains(i)).collect(),
        val,
        test,
        protocol: protocol.to_string(),
        fold,
        seed: opts.seed,
    }
}

/// Per-speaker clip indices and per-emotion counts.
struct Group {
    members: Vec<usize>,
    counts: Vec<f64>,
}

fn groups_by_speaker(dataset: &Dataset, indices: &[usize]) -> (Vec<Group>, usize) {
    let labels: BTreeSet<&str> = dataset.clips.iter().map(|c| c.emotion.as_str()).collect();
    let label_index: BTreeMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let mut by_speaker: BTreeMap<&str, Group> = BTreeMap::new();
    for &i in indices {
        let clip = &dataset.clips[i];
        let group = by_speaker
            .entry(clip.speaker.as_str())
            .or_insert_with(|| Group {
                members: Vec::new(),
                counts: vec![0.0; labels.len()],
            });
        group.members.push(i);
        group.counts[label_index[clip.emotion.as_str()]] += 1.0;
    }
    (by_speaker.into_values().collect(), labels.len())
}

/// Greedy stratified group k-fold: biggest speakers first (seeded order among equals),
/// each to the fold where it adds least squared excess over the per-class targets.
fn speaker_kfold(dataset: &Dataset, folds: usize, seed: u64) -> Result<Vec<Vec<usize>>, String> {
    let (mut groups, classes) = groups_by_speaker(dataset, &all(dataset));
    if groups.len() < folds {
        return Err(format!(
            "{} speakers cannot fill {folds} folds",
            groups.len()
        ));
    }
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    groups.sort_by_key(|g| std::cmp::Reverse(g.members.len()));
    let mut totals = vec![0.0; classes];
    for g in &groups {
        totals.iter_mut().zip(&g.counts).for_each(|(t, c)| *t += c);
    }
    let targets: Vec<f64> = totals.iter().map(|t| t / folds as f64).collect();
    let mut fold_counts = vec![vec![0.0; classes]; folds];
    let mut fold_members: Vec<Vec<usize>> = vec![Vec::new(); folds];
    let mut fold_speakers = vec![0usize; folds];
    for g in &groups {
        let best = (0..folds)
            .min_by(|&a, &b| {
                let cost = |f: usize| added_cost(&fold_counts[f], &g.counts, &targets);
                cost(a)
                    .total_cmp(&cost(b))
                    .then(fold_speakers[a].cmp(&fold_speakers[b]))
            })
            .unwrap_or(0);
        fold_counts[best]
            .iter_mut()
            .zip(&g.counts)
            .for_each(|(f, c)| *f += c);
        fold_members[best].extend(&g.members);
        fold_speakers[best] += 1;
    }
    Ok(fold_members)
}

/// Increase of sum((count - target)^2) when `add` joins a fold holding `have`.
fn added_cost(have: &[f64], add: &[f64], targets: &[f64]) -> f64 {
    have.iter()
        .zip(add)
        .zip(targets)
        .map(|((h, a), t)| a * (2.0 * (h - t) + a))
        .sum()
}

fn speaker_mod(dataset: &Dataset, folds: usize) -> Result<Vec<Vec<usize>>, String> {
    let mut out = vec![Vec::new(); folds];
    for (i, clip) in dataset.clips.iter().enumerate() {
        // In a merged dataset the number after the corpus (`ased/7`) decides.
        let number: u64 = clip.speaker_in_corpus().trim().parse().map_err(|_| {
            format!(
                "speaker '{}' is not a number (speaker-mod needs numeric ids)",
                clip.speaker
            )
        })?;
        out[(number % folds as u64) as usize].push(i);
    }
    match out.iter().position(Vec::is_empty) {
        Some(empty) => Err(format!("fold {empty} has no speakers")),
        None => Ok(out),
    }
}

/// One test part per corpus, of the clips whose emotion every corpus has
/// ([`Dataset::shared_labels`]); clips of other emotions take part in no fold (see
/// [`assemble`]), so that each side is scored over the same classes.
fn corpus_out(dataset: &Dataset) -> Result<Vec<Vec<usize>>, String> {
    let names = dataset.corpus_names();
    if names.len() < 2 {
        return Err("corpus-out needs at least two corpora (give --data more than once)".into());
    }
    if let Some(clip) = dataset.clips.iter().find(|c| c.corpus_name().is_none()) {
        return Err(format!("{} belongs to no corpus", clip.path.display()));
    }
    let shared = dataset.shared_labels();
    if shared.len() < 2 {
        return Err(format!(
            "the corpora share {} emotion(s) ({}); corpus-out needs at least two",
            shared.len(),
            shared.join(", ")
        ));
    }
    Ok(names
        .iter()
        .map(|name| {
            (0..dataset.len())
                .filter(|&i| {
                    let clip = &dataset.clips[i];
                    clip.corpus_name() == Some(name.as_str()) && shared.contains(&clip.emotion)
                })
                .collect()
        })
        .collect())
}

fn same_speaker(a: &str, b: &str) -> bool {
    normalise_speaker(a).eq_ignore_ascii_case(&normalise_speaker(b))
}

fn holdout(dataset: &Dataset, speakers: &[String]) -> Result<Vec<usize>, String> {
    let present = dataset.speakers();
    if let Some(missing) = speakers
        .iter()
        .find(|s| !present.iter().any(|p| same_speaker(p, s)))
    {
        return Err(format!("speaker '{missing}' is not in the dataset"));
    }
    let test: Vec<usize> = (0..dataset.len())
        .filter(|&i| {
            speakers
                .iter()
                .any(|s| same_speaker(&dataset.clips[i].speaker, s))
        })
        .collect();
    if test.len() == dataset.len() {
        return Err("every speaker is held out: nothing left to train on".into());
    }
    Ok(test)
}

/// Whole speakers from `pool`, in seeded order, until `fraction` of its clips is reached.
/// Keeps at least one speaker for training.
fn speaker_part(dataset: &Dataset, pool: &[usize], fraction: f64, seed: u64) -> Vec<usize> {
    let (mut groups, _) = groups_by_speaker(dataset, pool);
    if fraction <= 0.0 || groups.len() < 2 {
        return Vec::new();
    }
    groups.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let want = (fraction * pool.len() as f64).round().max(1.0) as usize;
    let mut out = Vec::new();
    for g in groups.iter().take(groups.len() - 1) {
        if out.len() >= want {
            break;
        }
        out.extend(&g.members);
    }
    out
}

/// Random stratified draw from `pool`: per emotion, whole recordings (so copies of one
/// recording stay together) until `fraction` of that emotion's clips.
fn random_part(dataset: &Dataset, pool: &[usize], fraction: f64, seed: u64) -> Vec<usize> {
    if fraction <= 0.0 {
        return Vec::new();
    }
    let mut recordings: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for &i in pool {
        let clip = &dataset.clips[i];
        recordings
            .entry((clip.emotion.as_str(), clip.recording_id.as_str()))
            .or_default()
            .push(i);
    }
    let mut by_emotion: BTreeMap<&str, Vec<Vec<usize>>> = BTreeMap::new();
    for ((emotion, _), members) in recordings {
        by_emotion.entry(emotion).or_default().push(members);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for mut groups in by_emotion.into_values() {
        groups.shuffle(&mut rng);
        let total: usize = groups.iter().map(Vec::len).sum();
        let want = (fraction * total as f64).round() as usize;
        let mut taken = 0;
        for g in groups.iter().take(groups.len().saturating_sub(1)) {
            if taken >= want {
                break;
            }
            taken += g.len();
            out.extend(g);
        }
    }
    out
}

fn manifest_split(
    dataset: &Dataset,
    protocol: &Protocol,
    opts: &SplitOptions,
) -> Result<Split, CorpusError> {
    let mut split = Split {
        train: Vec::new(),
        val: Vec::new(),
        test: Vec::new(),
        protocol: protocol.to_string(),
        fold: None,
        seed: opts.seed,
    };
    for (i, clip) in dataset.clips.iter().enumerate() {
        match clip.extra.get("split").map(String::as_str) {
            Some("train") => split.train.push(i),
            Some("val") => split.val.push(i),
            Some("test") => split.test.push(i),
            _ => {
                return Err(CorpusError::Split {
                    protocol: protocol.to_string(),
                    reason: format!("{} has no split (train/val/test)", clip.path.display()),
                });
            }
        }
    }
    check_no_leakage(dataset, &split).map_err(|e| CorpusError::Split {
        protocol: protocol.to_string(),
        reason: e.to_string(),
    })?;
    Ok(split)
}

/// A split that would let test information into training.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LeakageError {
    /// Speakers are on both sides (train or val, and test) under a protocol other than
    /// `random`.
    #[error(
        "speaker leakage under '{protocol}': {} speaker(s) in both training and test: {}",
        speakers.len(), preview(speakers)
    )]
    Speaker {
        /// The split's protocol spec.
        protocol: String,
        /// Every speaker on both sides, sorted.
        speakers: Vec<String>,
    },
    /// Recordings are on both sides (e.g. a clip in test and its augmented copy in train).
    #[error(
        "recording leakage under '{protocol}': {} recording(s) in both training and test: {}",
        recordings.len(), preview(recordings)
    )]
    Recording {
        /// The split's protocol spec.
        protocol: String,
        /// Every recording id on both sides, sorted.
        recordings: Vec<String>,
    },
    /// The split names a clip the dataset does not have.
    #[error("split refers to clip {index} but the dataset has {len} clips")]
    IndexOutOfRange {
        /// The first index found out of range.
        index: usize,
        /// Number of clips in the dataset.
        len: usize,
    },
}

fn preview(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    let more = items.len().saturating_sub(shown.len());
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{tail}", shown.join(", "))
}

/// Refuses a split whose training side (train + val) shares a recording with the test side,
/// or — unless the split's protocol is `random` — a speaker.
pub fn check_no_leakage(dataset: &Dataset, split: &Split) -> Result<(), LeakageError> {
    let len = dataset.len();
    if let Some(&index) = split
        .train
        .iter()
        .chain(&split.val)
        .chain(&split.test)
        .find(|&&i| i >= len)
    {
        return Err(LeakageError::IndexOutOfRange { index, len });
    }
    let fit_side = || {
        split
            .train
            .iter()
            .chain(&split.val)
            .map(|&i| &dataset.clips[i])
    };
    let test_side = || split.test.iter().map(|&i| &dataset.clips[i]);
    let overlap = |key: fn(&crate::dataset::Clip) -> &str| -> Vec<String> {
        let test: BTreeSet<&str> = test_side().map(key).collect();
        let both: BTreeSet<&str> = fit_side().map(key).filter(|k| test.contains(k)).collect();
        both.into_iter().map(str::to_string).collect()
    };
    let recordings = overlap(|c| c.recording_id.as_str());
    if !recordings.is_empty() {
        return Err(LeakageError::Recording {
            protocol: split.protocol.clone(),
            recordings,
        });
    }
    // Only a split that says it is random may share speakers; an unparseable protocol is
    // held to the strict rule.
    let random = split
        .protocol
        .parse::<Protocol>()
        .is_ok_and(|p| p.is_random());
    let speakers = overlap(|c| c.speaker.as_str());
    if !random && !speakers.is_empty() {
        return Err(LeakageError::Speaker {
            protocol: split.protocol.clone(),
            speakers,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Clip, Corpus};

    /// `speakers` speakers x `labels` emotions x `per` clips, recordings unique.
    fn synthetic(speakers: usize, labels: &[&str], per: usize) -> Dataset {
        let mut clips = Vec::new();
        for s in 1..=speakers {
            for label in labels {
                for n in 0..per {
                    clips.push(Clip {
                        path: format!("{s}/{label}/{n}.wav").into(),
                        speaker: s.to_string(),
                        emotion: label.to_string(),
                        recording_id: format!("{s}-{label}-{n}"),
                        corpus: Corpus::Folders,
                        extra: Default::default(),
                    });
                }
            }
        }
        Dataset::new("synthetic", clips)
    }

    fn speakers_of(data: &Dataset, idx: &[usize]) -> BTreeSet<String> {
        idx.iter().map(|&i| data.clips[i].speaker.clone()).collect()
    }

    #[test]
    fn training_split_holds_out_whole_speakers_and_has_no_test_part() {
        let data = synthetic(10, &["a", "b"], 3);
        let opts = SplitOptions {
            seed: 3,
            val_fraction: 0.2,
        };
        let split = training_split(&data, &opts).unwrap();
        assert!(split.test.is_empty());
        assert_eq!(split.train.len() + split.val.len(), data.len());
        assert_eq!(speakers_of(&data, &split.val).len(), 2);
        let train = speakers_of(&data, &split.train);
        assert!(speakers_of(&data, &split.val).is_disjoint(&train));
    }

    #[test]
    fn training_split_of_one_speaker_falls_back_to_held_out_recordings() {
        let data = synthetic(1, &["a", "b"], 10);
        let opts = SplitOptions {
            seed: 0,
            val_fraction: 0.2,
        };
        let split = training_split(&data, &opts).unwrap();
        assert!(!split.val.is_empty() && !split.train.is_empty());
    }

    #[test]
    fn protocol_round_trips() {
        for spec in [
            "speaker-kfold:5",
            "speaker-mod:5",
            "holdout:21,22,23,24",
            "random:0.2",
            "manifest",
            "corpus-out",
        ] {
            let p: Protocol = spec.parse().unwrap();
            assert_eq!(p.to_string(), spec);
            assert!(!p.describe().is_empty());
        }
        let h: Protocol = "holdout: 01, 2".parse().unwrap();
        assert_eq!(h.to_string(), "holdout:1,2");
    }

    #[test]
    fn bad_protocols_are_refused() {
        for spec in [
            "speaker-kfold:1",
            "speaker-kfold:x",
            "random:1.5",
            "random:0",
            "holdout:",
            "kfold:5",
            "manifest:3",
            "corpus-out:2",
        ] {
            let err = spec.parse::<Protocol>().unwrap_err();
            assert!(err.to_string().contains(spec), "{err}");
        }
    }

    #[test]
    fn kfold_is_speaker_disjoint_and_covers_everything() {
        let data = synthetic(10, &["angry", "sad", "happy"], 4);
        let splits = make_splits(
            &data,
            &"speaker-kfold:5".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap();
        assert_eq!(splits.len(), 5);
        let mut tested: Vec<usize> = splits.iter().flat_map(|s| s.test.clone()).collect();
        tested.sort_unstable();
        assert_eq!(tested, (0..data.len()).collect::<Vec<_>>());
        for s in &splits {
            assert!(speakers_of(&data, &s.test).is_disjoint(&speakers_of(&data, &s.train)));
            assert!(speakers_of(&data, &s.val).is_disjoint(&speakers_of(&data, &s.train)));
            assert_eq!(s.train.len() + s.val.len() + s.test.len(), data.len());
            assert_eq!(s.test.len(), 24, "balanced folds");
        }
    }

    #[test]
    fn kfold_is_reproducible_and_seed_dependent() {
        let data = synthetic(12, &["angry", "sad"], 3);
        let p: Protocol = "speaker-kfold:4".parse().unwrap();
        let opts = |seed| SplitOptions {
            seed,
            val_fraction: 0.2,
        };
        assert_eq!(
            make_splits(&data, &p, &opts(7)).unwrap(),
            make_splits(&data, &p, &opts(7)).unwrap()
        );
        let differs = (0..10).any(|s| {
            make_splits(&data, &p, &opts(s)).unwrap() != make_splits(&data, &p, &opts(7)).unwrap()
        });
        assert!(differs);
    }

    #[test]
    fn kfold_stratifies_unequal_speakers() {
        // Speakers 1-4 only have angry clips, 5-8 only sad: each fold should get both.
        let mut data = synthetic(8, &["angry"], 3);
        for clip in data
            .clips
            .iter_mut()
            .filter(|c| c.speaker.parse::<u32>().unwrap() > 4)
        {
            clip.emotion = "sad".into();
        }
        let splits = make_splits(
            &data,
            &"speaker-kfold:4".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap();
        for s in splits {
            let labels: BTreeSet<&str> = s
                .test
                .iter()
                .map(|&i| data.clips[i].emotion.as_str())
                .collect();
            assert_eq!(labels.len(), 2, "{labels:?}");
        }
    }

    #[test]
    fn too_few_speakers_for_folds() {
        let data = synthetic(3, &["angry"], 2);
        assert!(
            make_splits(
                &data,
                &"speaker-kfold:5".parse().unwrap(),
                &SplitOptions::default()
            )
            .is_err()
        );
    }

    #[test]
    fn speaker_mod_follows_the_rule() {
        let data = synthetic(24, &["angry", "sad"], 1);
        let splits = make_splits(
            &data,
            &"speaker-mod:5".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap();
        assert_eq!(splits.len(), 5);
        for (k, s) in splits.iter().enumerate() {
            for speaker in speakers_of(&data, &s.test) {
                assert_eq!(speaker.parse::<usize>().unwrap() % 5, k);
            }
            assert_eq!(s.fold, Some(k));
        }
    }

    /// Two corpora of 6 and 4 speakers; the second lacks `calm`.
    fn two_corpora() -> Dataset {
        let mut second = synthetic(4, &["angry", "sad"], 2);
        second.root = "second".into();
        crate::merge(vec![synthetic(6, &["angry", "sad", "calm"], 2), second])
    }

    #[test]
    fn speaker_mod_over_merged_corpora_folds_each_corpus_by_its_numbers() {
        let data = two_corpora();
        let splits = make_splits(
            &data,
            &"speaker-mod:3".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap();
        for (k, s) in splits.iter().enumerate() {
            for speaker in speakers_of(&data, &s.test) {
                let number: usize = crate::speaker_in_corpus(&speaker).parse().unwrap();
                assert_eq!(number % 3, k);
            }
            // Speaker 1 of one corpus is not speaker 1 of the other: no false leak.
            assert!(speakers_of(&data, &s.train).is_disjoint(&speakers_of(&data, &s.test)));
        }
    }

    #[test]
    fn corpus_out_tests_each_corpus_on_its_own_and_never_trains_on_it() {
        let shared = two_corpora();
        let protocol: Protocol = "corpus-out".parse().unwrap();
        let splits = make_splits(&shared, &protocol, &SplitOptions::default()).unwrap();
        assert_eq!(splits.len(), 2);
        for (fold, name) in ["synthetic", "second"].iter().enumerate() {
            let split = &splits[fold];
            let corpora = |idx: &[usize]| -> BTreeSet<String> {
                idx.iter()
                    .map(|&i| shared.clips[i].corpus_name().unwrap().to_string())
                    .collect()
            };
            assert_eq!(corpora(&split.test), BTreeSet::from([name.to_string()]));
            assert!(!corpora(&split.train).contains(*name));
            assert!(!corpora(&split.val).contains(*name));
            assert!(
                !split.val.is_empty(),
                "validation speakers from the training corpora"
            );
            let parts = [&split.train, &split.val, &split.test];
            let used: Vec<usize> = parts.iter().flat_map(|p| p.iter().copied()).collect();
            // Every clip of a shared emotion is in one part; calm (one corpus only) in none.
            assert_eq!(used.len(), shared.len() - 12);
            assert!(used.iter().all(|&i| shared.clips[i].emotion != "calm"));
        }
        let one = synthetic(4, &["angry"], 1);
        let err = make_splits(&one, &protocol, &SplitOptions::default()).unwrap_err();
        assert!(err.to_string().contains("two corpora"), "{err}");
    }

    #[test]
    fn speaker_mod_needs_numbers() {
        let mut data = synthetic(6, &["angry"], 1);
        data.clips[0].speaker = "DC".into();
        let err = make_splits(
            &data,
            &"speaker-mod:2".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("DC"), "{err}");
    }

    #[test]
    fn holdout_takes_named_speakers() {
        let data = synthetic(24, &["angry", "sad"], 2);
        let split = &make_splits(
            &data,
            &"holdout:21,22,23,24".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap()[0];
        let expected: BTreeSet<String> = ["21", "22", "23", "24"].map(String::from).into();
        assert_eq!(speakers_of(&data, &split.test), expected);
        assert!(!split.val.is_empty());
        assert!(speakers_of(&data, &split.val).is_disjoint(&speakers_of(&data, &split.train)));
        let err = make_splits(
            &data,
            &"holdout:99".parse().unwrap(),
            &SplitOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("99"));
    }

    #[test]
    fn random_split_is_stratified_and_keeps_recordings_together() {
        let mut data = synthetic(5, &["angry", "sad"], 10);
        // Two copies of every recording (an augmented copy next to the original).
        let copies: Vec<Clip> = data
            .clips
            .iter()
            .map(|c| Clip {
                path: c.path.with_extension("aug.wav"),
                ..c.clone()
            })
            .collect();
        data.clips.extend(copies);
        let split = &make_splits(
            &data,
            &"random:0.2".parse().unwrap(),
            &SplitOptions {
                seed: 3,
                val_fraction: 0.1,
            },
        )
        .unwrap()[0];
        let angry = split
            .test
            .iter()
            .filter(|&&i| data.clips[i].emotion == "angry")
            .count();
        assert_eq!(angry, 20);
        assert_eq!(split.test.len(), 40);
        check_no_leakage(&data, split).unwrap();
    }

    #[test]
    fn manifest_split_uses_column_and_is_checked() {
        let mut data = synthetic(3, &["angry"], 2);
        for (clip, part) in data
            .clips
            .iter_mut()
            .zip(["train", "train", "val", "val", "test", "test"])
        {
            clip.extra.insert("split".into(), part.into());
        }
        let split = &make_splits(&data, &Protocol::Manifest, &SplitOptions::default()).unwrap()[0];
        assert_eq!(
            (split.train.len(), split.val.len(), split.test.len()),
            (2, 2, 2)
        );
        data.clips[4].extra.insert("split".into(), "train".into());
        let err = make_splits(&data, &Protocol::Manifest, &SplitOptions::default()).unwrap_err();
        assert!(err.to_string().contains("speaker leakage"), "{err}");
    }

    fn leaky(protocol: &str) -> Split {
        Split {
            train: vec![0, 1],
            val: vec![],
            test: vec![2],
            protocol: protocol.into(),
            fold: None,
            seed: 0,
        }
    }

    #[test]
    fn leaky_speaker_split_is_refused() {
        let data = synthetic(1, &["angry", "sad", "happy"], 1);
        let err = check_no_leakage(&data, &leaky("speaker-kfold:5")).unwrap_err();
        assert!(
            matches!(err, LeakageError::Speaker { ref speakers, .. } if speakers == &["1"]),
            "{err}"
        );
        assert!(check_no_leakage(&data, &leaky("made-up")).is_err());
        check_no_leakage(&data, &leaky("random:0.2")).unwrap();
    }

    #[test]
    fn leaky_recording_split_is_refused_even_when_random() {
        let mut data = synthetic(3, &["angry"], 1);
        data.clips[2].recording_id = data.clips[0].recording_id.clone();
        let err = check_no_leakage(&data, &leaky("random:0.2")).unwrap_err();
        assert!(matches!(err, LeakageError::Recording { .. }), "{err}");
        let mut via_val = leaky("random:0.2");
        via_val.train = vec![1];
        via_val.val = vec![0];
        assert!(check_no_leakage(&data, &via_val).is_err());
    }

    #[test]
    fn out_of_range_index_is_refused() {
        let data = synthetic(1, &["angry"], 1);
        let err = check_no_leakage(&data, &leaky("random:0.2")).unwrap_err();
        assert!(matches!(
            err,
            LeakageError::IndexOutOfRange { index: 1, len: 1 }
        ));
    }
}
