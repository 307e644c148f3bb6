//! Label vocabulary: canonical emotions, the aliases corpora use for them, the ordered
//! label set a model carries, and mappings from one corpus's labels onto another's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CorpusError;

/// The canonical emotions. RAVDESS's eight come first (in its code order), then the
/// extra classes other corpora use (EmoDB boredom, MSP contempt, IEMOCAP excited/frustrated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    /// No marked emotion; in every built-in label set.
    Neutral,
    /// RAVDESS only: a relaxed, low-arousal neutral, often merged into neutral.
    Calm,
    /// Happiness or joy; in every built-in label set.
    Happy,
    /// Sadness; in every built-in label set.
    Sad,
    /// Anger; in every built-in label set.
    Angry,
    /// Fear; in every built-in label set.
    Fearful,
    /// In every built-in label set but CASIA's.
    Disgust,
    /// Surprise (TESS's "pleasant surprise"); RAVDESS, CASIA, TESS and SAVEE.
    Surprised,
    /// EmoDB only.
    Boredom,
    /// MSP-Podcast's class; no naming scheme has it, so it comes from a manifest.
    Contempt,
    /// IEMOCAP's class; no naming scheme has it, so it comes from a manifest.
    Excited,
    /// IEMOCAP's class; no naming scheme has it, so it comes from a manifest.
    Frustrated,
}

/// Every alias (lower case) and the emotion it names. Checked for clashes by a unit test.
const ALIASES: &[(&str, Emotion)] = &[
    ("neutral", Emotion::Neutral),
    ("neu", Emotion::Neutral),
    ("n", Emotion::Neutral),
    ("calm", Emotion::Calm),
    ("happy", Emotion::Happy),
    ("happiness", Emotion::Happy),
    ("hap", Emotion::Happy),
    ("joy", Emotion::Happy),
    ("h", Emotion::Happy),
    ("sad", Emotion::Sad),
    ("sadness", Emotion::Sad),
    ("sa", Emotion::Sad),
    ("angry", Emotion::Angry),
    ("anger", Emotion::Angry),
    ("ang", Emotion::Angry),
    ("a", Emotion::Angry),
    ("fearful", Emotion::Fearful),
    ("fear", Emotion::Fearful),
    ("fea", Emotion::Fearful),
    ("f", Emotion::Fearful),
    ("disgust", Emotion::Disgust),
    ("disgusted", Emotion::Disgust),
    ("dis", Emotion::Disgust),
    ("d", Emotion::Disgust),
    ("surprised", Emotion::Surprised),
    ("surprise", Emotion::Surprised),
    ("ps", Emotion::Surprised),
    ("sur", Emotion::Surprised),
    ("su", Emotion::Surprised),
    ("pleasant_surprise", Emotion::Surprised),
    ("pleasant_surprised", Emotion::Surprised),
    ("boredom", Emotion::Boredom),
    ("bored", Emotion::Boredom),
    ("contempt", Emotion::Contempt),
    ("excited", Emotion::Excited),
    ("exc", Emotion::Excited),
    ("frustrated", Emotion::Frustrated),
    ("frustration", Emotion::Frustrated),
    ("fru", Emotion::Frustrated),
];

impl Emotion {
    /// All emotions in canonical order.
    pub const ALL: [Emotion; 12] = [
        Emotion::Neutral,
        Emotion::Calm,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Angry,
        Emotion::Fearful,
        Emotion::Disgust,
        Emotion::Surprised,
        Emotion::Boredom,
        Emotion::Contempt,
        Emotion::Excited,
        Emotion::Frustrated,
    ];

    /// The canonical (lower-case) name, e.g. `"fearful"`.
    pub fn name(self) -> &'static str {
        match self {
            Emotion::Neutral => "neutral",
            Emotion::Calm => "calm",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Angry => "angry",
            Emotion::Fearful => "fearful",
            Emotion::Disgust => "disgust",
            Emotion::Surprised => "surprised",
            Emotion::Boredom => "boredom",
            Emotion::Contempt => "contempt",
            Emotion::Excited => "excited",
            Emotion::Frustrated => "frustrated",
        }
    }

    /// Looks up any alias, case-insensitively; spaces and hyphens count as underscores
    /// (so "Pleasant Surprise" works). Returns `None` for unknown words.
    pub fn parse(text: &str) -> Option<Emotion> {
        let key: String = text
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        ALIASES
            .iter()
            .find(|(alias, _)| *alias == key)
            .map(|&(_, emotion)| emotion)
    }

    /// Position in canonical order (used to sort label sets).
    pub fn rank(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Emotion {
    type Err = CorpusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Emotion::parse(s).ok_or_else(|| CorpusError::Label(format!("unknown emotion '{s}'")))
    }
}

/// Canonical form of a label: the emotion's name when it is a known alias, otherwise the
/// trimmed lower-case text (custom corpora may have their own classes).
pub fn canonical_label(text: &str) -> String {
    match Emotion::parse(text) {
        Some(emotion) => emotion.name().to_string(),
        None => text.trim().to_lowercase(),
    }
}

/// Sort key putting known emotions in canonical order and unknown labels after them.
pub(crate) fn label_order(label: &str) -> (usize, String) {
    match Emotion::parse(label) {
        Some(emotion) => (emotion.rank(), String::new()),
        None => (usize::MAX, label.to_string()),
    }
}

/// The ordered list of class names a model carries; index `i` is output unit `i`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct LabelSet {
    names: Vec<String>,
}

impl LabelSet {
    /// Builds a label set in the given order; names are canonicalised. Refuses an empty
    /// set, empty names, and two names that mean the same class.
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, CorpusError> {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let label = canonical_label(name.as_ref());
            if label.is_empty() {
                return Err(CorpusError::Label("empty class name".into()));
            }
            if out.contains(&label) {
                return Err(CorpusError::Label(format!(
                    "'{}' appears twice (as '{label}')",
                    name.as_ref()
                )));
            }
            out.push(label);
        }
        if out.is_empty() {
            return Err(CorpusError::Label("no classes".into()));
        }
        Ok(Self { names: out })
    }

    /// Label set of the given emotions, in the given order.
    pub fn from_emotions(emotions: &[Emotion]) -> Self {
        Self {
            names: emotions.iter().map(|e| e.name().to_string()).collect(),
        }
    }

    /// The distinct labels of a collection, sorted in canonical order.
    pub fn from_labels<S: AsRef<str>>(
        labels: impl IntoIterator<Item = S>,
    ) -> Result<Self, CorpusError> {
        let mut names: Vec<String> = labels
            .into_iter()
            .map(|l| canonical_label(l.as_ref()))
            .collect();
        names.sort_by_key(|n| label_order(n));
        names.dedup();
        Self::new(names)
    }

    /// RAVDESS's eight classes.
    pub fn ravdess() -> Self {
        Self::from_emotions(&Emotion::ALL[..8])
    }

    /// CREMA-D's six classes (also report 003's).
    pub fn crema_d() -> Self {
        use Emotion::*;
        Self::from_emotions(&[Neutral, Happy, Sad, Angry, Fearful, Disgust])
    }

    /// EmoDB's seven classes.
    pub fn emodb() -> Self {
        use Emotion::*;
        Self::from_emotions(&[Neutral, Happy, Sad, Angry, Fearful, Disgust, Boredom])
    }

    /// CASIA's six classes.
    pub fn casia() -> Self {
        use Emotion::*;
        Self::from_emotions(&[Neutral, Happy, Sad, Angry, Fearful, Surprised])
    }

    /// TESS, SAVEE and report 004's seven classes.
    pub fn seven() -> Self {
        use Emotion::*;
        Self::from_emotions(&[Neutral, Happy, Sad, Angry, Fearful, Disgust, Surprised])
    }

    /// Index of a label (any alias), if the set has it.
    pub fn index_of(&self, label: &str) -> Option<usize> {
        let label = canonical_label(label);
        self.names.iter().position(|n| *n == label)
    }

    /// Name of class `index`.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// The canonical class names, in output order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when the set has no classes (which [`LabelSet::new`] refuses).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when the set has `label` (any alias).
    pub fn contains(&self, label: &str) -> bool {
        self.index_of(label).is_some()
    }

    /// The class names, in output order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

impl TryFrom<Vec<String>> for LabelSet {
    type Error = CorpusError;

    fn try_from(names: Vec<String>) -> Result<Self, Self::Error> {
        Self::new(names)
    }
}

impl From<LabelSet> for Vec<String> {
    fn from(set: LabelSet) -> Self {
        set.names
    }
}

impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names.join(","))
    }
}

/// What to do with a source label that has no place in the target set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Unmapped {
    /// Leave those clips out (e.g. RAVDESS calm/surprised when projecting onto CREMA-D).
    #[default]
    Drop,
    /// Refuse to build the mapping.
    Refuse,
}

/// Explicit options for [`LabelMap::new`]: merges first, then the unmapped policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapOptions {
    /// `(from, to)` pairs, e.g. `("calm", "neutral")`.
    pub merges: Vec<(String, String)>,
    /// What happens to source classes that neither a merge nor the target set takes.
    pub unmapped: Unmapped,
}

impl MapOptions {
    /// Keep shared classes, drop the rest.
    pub fn project() -> Self {
        Self::default()
    }

    /// Adds a merge `from -> to`.
    pub fn merge(mut self, from: &str, to: &str) -> Self {
        self.merges
            .push((canonical_label(from), canonical_label(to)));
        self
    }

    /// Refuse instead of dropping unmapped classes.
    pub fn refuse_unmapped(mut self) -> Self {
        self.unmapped = Unmapped::Refuse;
        self
    }
}

/// A mapping from one label set's indices onto another's (`None` = dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelMap {
    /// The source set, e.g. the dataset's labels.
    pub from: LabelSet,
    /// The target set, e.g. a model's classes.
    pub to: LabelSet,
    table: Vec<Option<usize>>,
}

impl LabelMap {
    /// Maps every class of `from` onto `to`: through a merge when one names it, else to the
    /// same class; classes with neither are dropped or refused as `options` say.
    pub fn new(from: &LabelSet, to: &LabelSet, options: &MapOptions) -> Result<Self, CorpusError> {
        let table = from
            .iter()
            .map(|label| Self::target_of(label, to, options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            from: from.clone(),
            to: to.clone(),
            table,
        })
    }

    fn target_of(
        label: &str,
        to: &LabelSet,
        options: &MapOptions,
    ) -> Result<Option<usize>, CorpusError> {
        let merged = options
            .merges
            .iter()
            .find(|(from, _)| canonical_label(from) == label)
            .map(|(_, target)| target.as_str());
        let target = merged.unwrap_or(label);
        match (to.index_of(target), merged, options.unmapped) {
            (Some(index), _, _) => Ok(Some(index)),
            (None, Some(target), _) => Err(CorpusError::Label(format!(
                "merge '{label}' -> '{target}': target set [{to}] has no '{target}'"
            ))),
            (None, None, Unmapped::Drop) => Ok(None),
            (None, None, Unmapped::Refuse) => Err(CorpusError::Label(format!(
                "'{label}' has no counterpart in [{to}] (add a merge or allow dropping)"
            ))),
        }
    }

    /// Target index of source index `index` (`None` when dropped or out of range).
    pub fn map_index(&self, index: usize) -> Option<usize> {
        self.table.get(index).copied().flatten()
    }

    /// Target name of a source label (any alias).
    pub fn map_label(&self, label: &str) -> Option<&str> {
        let index = self.from.index_of(label)?;
        self.to.name(self.map_index(index)?)
    }

    /// Source classes that map to nothing.
    pub fn dropped(&self) -> Vec<&str> {
        self.from
            .iter()
            .zip(&self.table)
            .filter(|(_, target)| target.is_none())
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_unique_and_lowercase() {
        for (i, (alias, _)) in ALIASES.iter().enumerate() {
            assert_eq!(*alias, alias.to_lowercase());
            assert!(
                ALIASES[i + 1..].iter().all(|(other, _)| other != alias),
                "duplicate alias {alias}"
            );
        }
    }

    #[test]
    fn every_emotion_parses_from_its_name() {
        for emotion in Emotion::ALL {
            assert_eq!(Emotion::parse(emotion.name()), Some(emotion));
            assert_eq!(emotion.name().parse::<Emotion>().unwrap(), emotion);
        }
    }

    #[test]
    fn aliases_are_case_insensitive() {
        assert_eq!(Emotion::parse("ANG"), Some(Emotion::Angry));
        assert_eq!(Emotion::parse("Anger"), Some(Emotion::Angry));
        assert_eq!(Emotion::parse(" a "), Some(Emotion::Angry));
        assert_eq!(Emotion::parse("Fear"), Some(Emotion::Fearful));
        assert_eq!(Emotion::parse("fea"), Some(Emotion::Fearful));
        assert_eq!(Emotion::parse("Joy"), Some(Emotion::Happy));
        assert_eq!(Emotion::parse("happiness"), Some(Emotion::Happy));
        assert_eq!(Emotion::parse("PS"), Some(Emotion::Surprised));
        assert_eq!(
            Emotion::parse("Pleasant Surprise"),
            Some(Emotion::Surprised)
        );
        assert_eq!(Emotion::parse("sadness"), Some(Emotion::Sad));
        assert_eq!(Emotion::parse("Disgusted"), Some(Emotion::Disgust));
        assert_eq!(Emotion::parse("neu"), Some(Emotion::Neutral));
        assert_eq!(Emotion::parse("bored"), Some(Emotion::Boredom));
        assert_eq!(Emotion::parse("banana"), None);
        assert!("banana".parse::<Emotion>().is_err());
    }

    #[test]
    fn label_set_canonicalises_and_indexes() {
        let set = LabelSet::new(["Anger", "fear", "neu"]).unwrap();
        assert_eq!(set.names(), ["angry", "fearful", "neutral"]);
        assert_eq!(set.index_of("FEARFUL"), Some(1));
        assert_eq!(set.index_of("fea"), Some(1));
        assert_eq!(set.index_of("calm"), None);
        assert_eq!(set.name(2), Some("neutral"));
        assert_eq!(set.name(3), None);
    }

    #[test]
    fn label_set_refuses_duplicates_and_empty() {
        assert!(LabelSet::new(["angry", "anger"]).is_err());
        assert!(LabelSet::new(Vec::<String>::new()).is_err());
        assert!(LabelSet::new(["  "]).is_err());
    }

    #[test]
    fn label_set_keeps_custom_labels() {
        let set = LabelSet::from_labels(["other", "sad", "angry", "sad"]).unwrap();
        assert_eq!(set.names(), ["sad", "angry", "other"]);
    }

    #[test]
    fn label_set_json_round_trip_validates() {
        let set = LabelSet::crema_d();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"["neutral","happy","sad","angry","fearful","disgust"]"#
        );
        let back: LabelSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<LabelSet>(r#"["sad","sadness"]"#).is_err());
    }

    #[test]
    fn projection_drops_calm_and_surprised() {
        let map = LabelMap::new(
            &LabelSet::ravdess(),
            &LabelSet::crema_d(),
            &MapOptions::project(),
        )
        .unwrap();
        assert_eq!(map.dropped(), ["calm", "surprised"]);
        assert_eq!(map.map_label("angry"), Some("angry"));
        assert_eq!(map.map_label("calm"), None);
        assert_eq!(map.map_index(0), Some(0));
        assert_eq!(map.map_index(99), None);
    }

    #[test]
    fn merge_calm_into_neutral() {
        let options = MapOptions::project().merge("calm", "neutral");
        let map = LabelMap::new(&LabelSet::ravdess(), &LabelSet::crema_d(), &options).unwrap();
        assert_eq!(map.map_label("calm"), Some("neutral"));
        assert_eq!(map.dropped(), ["surprised"]);
    }

    #[test]
    fn refuse_policy_and_bad_merge_target() {
        let refuse = MapOptions::project().refuse_unmapped();
        let err = LabelMap::new(&LabelSet::ravdess(), &LabelSet::crema_d(), &refuse).unwrap_err();
        assert!(err.to_string().contains("calm"), "{err}");
        let bad = MapOptions::project().merge("calm", "boredom");
        assert!(LabelMap::new(&LabelSet::ravdess(), &LabelSet::crema_d(), &bad).is_err());
    }
}
