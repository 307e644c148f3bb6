//! File-name schemes of the standard corpora, their automatic detection (majority vote over
//! a dataset's file names), and label hints from folder names.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use crate::dataset::Corpus;
use crate::labels::Emotion;

/// The corpora whose file names (or fixed folder layout) carry labels, in tie-break order.
pub const SCHEMES: [Corpus; 7] = [
    Corpus::Ravdess,
    Corpus::CremaD,
    Corpus::Tess,
    Corpus::Savee,
    Corpus::EmoDb,
    Corpus::Casia,
    Corpus::ShortCode,
];

const SAVEE_SPEAKERS: [&str; 4] = ["DC", "JE", "JK", "KL"];
const CASIA_SPEAKERS: [&str; 4] = ["liuchanhg", "wangzhe", "zhaoquanyin", "ZhaoZuoxiang"];
const CASIA_EMOTIONS: [&str; 6] = ["angry", "fear", "happy", "neutral", "sad", "surprise"];

/// What a file name (and, for layout schemes, its folders) says about a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    /// The emotion the name encodes.
    pub emotion: Emotion,
    /// The speaker, when the name or layout tells.
    pub speaker: Option<String>,
    /// Globally meaningful recording id; `None` when the name is only unique within its
    /// folder (the reader then uses the relative path).
    pub recording_id: Option<String>,
    /// The scheme's other fields (statement, intensity, sentence, ...), copied into
    /// [`crate::Clip::extra`].
    pub extra: BTreeMap<String, String>,
}

impl NameInfo {
    fn new(emotion: Emotion) -> Self {
        Self {
            emotion,
            speaker: None,
            recording_id: None,
            extra: BTreeMap::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// Parses `path` under `scheme`; `None` when the name does not follow it (or the corpus is
/// not a naming scheme).
pub fn parse_name(scheme: Corpus, path: &Path) -> Option<NameInfo> {
    let stem = path.file_stem()?.to_str()?;
    match scheme {
        Corpus::Ravdess => parse_ravdess(stem),
        Corpus::CremaD => parse_crema_d(stem),
        Corpus::Tess => parse_tess(stem),
        Corpus::Savee => parse_savee(stem, parent_name(path, 1)),
        Corpus::EmoDb => parse_emodb(stem),
        Corpus::Casia => parse_casia(stem, parent_name(path, 1), parent_name(path, 2)),
        Corpus::ShortCode => parse_short_code(stem),
        Corpus::Folders | Corpus::Manifest => None,
    }
}

/// The scheme most file names follow, if more than half of them follow one.
pub fn detect_scheme<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Option<Corpus> {
    let mut votes = [0usize; SCHEMES.len()];
    let mut total = 0usize;
    for path in paths {
        total += 1;
        for (slot, scheme) in votes.iter_mut().zip(SCHEMES) {
            *slot += usize::from(parse_name(scheme, path).is_some());
        }
    }
    // First maximum wins ties: SCHEMES is ordered from most to least specific.
    let (best, count) = votes
        .iter()
        .enumerate()
        .fold((0, 0), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
    (count * 2 > total).then_some(SCHEMES[best])
}

/// The speaker of each of `rels` (paths relative to the folder that holds them all) as the
/// folder's naming tells it: the scheme most names follow (RAVDESS's actor field, ...), else
/// a speaker folder (`Actor_01`, `speaker_3`); `None` where neither says.
pub fn speakers_of(rels: &[&Path]) -> Vec<Option<String>> {
    let scheme = detect_scheme(rels.iter().copied());
    rels.iter()
        .map(|rel| {
            scheme
                .and_then(|s| parse_name(s, rel))
                .and_then(|info| info.speaker)
                .or_else(|| folder_speaker(rel))
        })
        .collect()
}

/// Best guess at a single file's labels (e.g. a file uploaded for prediction): the first
/// scheme its name follows, else the nearest emotion-named folder.
pub fn guess_emotion(path: &Path) -> Option<(Emotion, Corpus)> {
    SCHEMES
        .iter()
        .find_map(|&s| parse_name(s, path).map(|info| (info.emotion, s)))
        .or_else(|| folder_emotion(path).map(|e| (e, Corpus::Folders)))
}

/// The nearest ancestor folder of `rel` whose name is an emotion alias.
pub fn folder_emotion(rel: &Path) -> Option<Emotion> {
    folder_names(rel).rev().find_map(Emotion::parse)
}

/// The nearest ancestor folder of `rel` that names a speaker (`Actor_01`, `speaker_x`,
/// `spk3`, a SAVEE or CASIA speaker), normalised (`Actor_01` -> `1`).
pub fn folder_speaker(rel: &Path) -> Option<String> {
    folder_names(rel).rev().find_map(speaker_from_folder)
}

fn folder_names(rel: &Path) -> impl DoubleEndedIterator<Item = &str> {
    let parent = rel.parent().unwrap_or(Path::new(""));
    parent.components().filter_map(|c| match c {
        Component::Normal(name) => name.to_str(),
        _ => None,
    })
}

fn speaker_from_folder(name: &str) -> Option<String> {
    if let Some(known) = SAVEE_SPEAKERS
        .iter()
        .chain(&CASIA_SPEAKERS)
        .find(|s| s.eq_ignore_ascii_case(name))
    {
        return Some(known.to_string());
    }
    let lower = name.to_ascii_lowercase();
    let rest = ["speaker", "actor", "subject", "talker", "spk"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))?;
    let id = rest.trim_start_matches(['_', '-', ' ']);
    // "Actor_01", "spk3" name speakers; "actors" does not.
    let separated = id.len() < rest.len() || id.starts_with(|c: char| c.is_ascii_digit());
    let start = name.len() - id.len();
    (separated && !id.is_empty()).then(|| normalise_speaker(&name[start..]))
}

/// Numeric ids lose leading zeros so `Actor_01`, `01` and `1` name the same speaker.
pub fn normalise_speaker(id: &str) -> String {
    let id = id.trim();
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = id.trim_start_matches('0');
        if trimmed.is_empty() { "0" } else { trimmed }.to_string()
    } else {
        id.to_string()
    }
}

fn parent_name(path: &Path, level: usize) -> Option<&str> {
    path.ancestors().nth(level)?.file_name()?.to_str()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Splits `stem` into a fixed-length core and an optional variant suffix (an augmented
/// copy such as `..._noise10`), which must start with a separator.
fn core_and_variant(stem: &str, core_len: usize) -> Option<(&str, Option<&str>)> {
    let core = stem.get(..core_len)?;
    let rest = &stem[core_len..];
    match rest.chars().next() {
        None => Some((core, None)),
        Some('_' | '-' | '.' | ' ') => Some((core, Some(&rest[1..]))),
        Some(_) => None,
    }
}

fn with_variant(info: NameInfo, variant: Option<&str>) -> NameInfo {
    match variant {
        Some(v) if !v.is_empty() => info.with("variant", v),
        _ => info,
    }
}

/// `03-01-05-02-01-01-12`: modality, channel, emotion, intensity, statement, repetition, actor.
fn parse_ravdess(stem: &str) -> Option<NameInfo> {
    let (core, variant) = core_and_variant(stem, 20)?;
    let fields: Vec<&str> = core.split('-').collect();
    if fields.len() != 7 || !fields.iter().all(|f| f.len() == 2 && is_digits(f)) {
        return None;
    }
    let code = |i: usize| fields[i].parse::<u8>().ok();
    let emotion = *Emotion::ALL.get(usize::from(code(2)?.checked_sub(1)?))?;
    if code(2)? > 8 || !matches!(code(3)?, 1 | 2) || code(6)? == 0 {
        return None;
    }
    let actor = code(6)?;
    let mut info = NameInfo::new(emotion)
        .with("modality", fields[0])
        .with("channel", if fields[1] == "02" { "song" } else { "speech" })
        .with(
            "intensity",
            if fields[3] == "02" {
                "strong"
            } else {
                "normal"
            },
        )
        .with("statement", fields[4])
        .with("repetition", fields[5])
        .with("gender", if actor % 2 == 1 { "male" } else { "female" });
    info.speaker = Some(actor.to_string());
    info.recording_id = Some(core.to_string());
    Some(with_variant(info, variant))
}

/// `1001_DFA_ANG_XX`: speaker, sentence, emotion, level.
fn parse_crema_d(stem: &str) -> Option<NameInfo> {
    let tokens: Vec<&str> = stem.splitn(5, '_').collect();
    let [speaker, sentence, emotion, level] = tokens.get(..4)? else {
        return None;
    };
    let emotion = match emotion.to_ascii_uppercase().as_str() {
        "ANG" | "DIS" | "FEA" | "HAP" | "NEU" | "SAD" => Emotion::parse(emotion)?,
        _ => return None,
    };
    let level_ok = ["LO", "MD", "HI", "XX", "X"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(level));
    let sentence_ok = sentence.len() == 3 && sentence.bytes().all(|b| b.is_ascii_alphabetic());
    if speaker.len() != 4 || !is_digits(speaker) || !level_ok || !sentence_ok {
        return None;
    }
    let mut info = NameInfo::new(emotion)
        .with("sentence", sentence.to_ascii_uppercase())
        .with("level", level.to_ascii_uppercase());
    info.speaker = Some(speaker.to_string());
    info.recording_id = Some(tokens[..4].join("_"));
    Some(with_variant(info, tokens.get(4).copied()))
}

/// `OAF_back_angry`, `YAF_bath_ps`: speaker (older/younger actress), word, emotion.
fn parse_tess(stem: &str) -> Option<NameInfo> {
    let tokens: Vec<&str> = stem.split('_').collect();
    let speaker = tokens.first()?.to_ascii_uppercase();
    if tokens.len() < 3 || !matches!(speaker.as_str(), "OAF" | "YAF") {
        return None;
    }
    let two_word = (tokens.len() >= 4)
        .then(|| Emotion::parse(&tokens[tokens.len() - 2..].join("_")))
        .flatten();
    let (emotion, word_end) = match two_word {
        Some(e) => (e, tokens.len() - 2),
        None => (Emotion::parse(tokens[tokens.len() - 1])?, tokens.len() - 1),
    };
    let mut info = NameInfo::new(emotion).with("word", tokens[1..word_end].join("_"));
    info.speaker = Some(speaker);
    info.recording_id = Some(stem.to_string());
    Some(info)
}

/// SAVEE code + sentence number, e.g. `sa03` -> (sad, "03").
fn savee_code(code: &str) -> Option<(Emotion, &str)> {
    let split = code.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = code.split_at(split);
    let emotion = match letters.to_ascii_lowercase().as_str() {
        "a" | "d" | "f" | "h" | "n" | "sa" | "su" => Emotion::parse(letters)?,
        _ => return None,
    };
    (digits.len() <= 2 && is_digits(digits)).then_some((emotion, digits))
}

/// `DC_a01` (flat) or `DC/a01` (speaker folders).
fn parse_savee(stem: &str, parent: Option<&str>) -> Option<NameInfo> {
    let is_speaker = |s: &str| SAVEE_SPEAKERS.iter().any(|k| k.eq_ignore_ascii_case(s));
    let (speaker, code, variant) = match stem.split_once('_') {
        Some((speaker, rest)) if is_speaker(speaker) => {
            let (code, variant) = rest
                .split_once('_')
                .map_or((rest, None), |(c, v)| (c, Some(v)));
            (speaker, code, variant)
        }
        _ if parent.is_some_and(is_speaker) => (parent?, stem, None),
        _ => return None,
    };
    let (emotion, sentence) = savee_code(code)?;
    let speaker = speaker.to_ascii_uppercase();
    let mut info = NameInfo::new(emotion).with("sentence", sentence);
    info.recording_id = Some(format!("{speaker}_{}", code.to_ascii_lowercase()));
    info.speaker = Some(speaker);
    Some(with_variant(info, variant))
}

/// `03a01Fa`: speaker (2 digits), text code (3 chars), emotion letter, version letter.
fn parse_emodb(stem: &str) -> Option<NameInfo> {
    let (core, variant) = core_and_variant(stem, 7)?;
    if !core.is_ascii() {
        return None;
    }
    let bytes = core.as_bytes();
    let shape_ok = is_digits(&core[..2])
        && bytes[2].is_ascii_lowercase()
        && is_digits(&core[3..5])
        && bytes[6].is_ascii_lowercase();
    let emotion = match bytes[5] {
        b'W' => Emotion::Angry,
        b'L' => Emotion::Boredom,
        b'E' => Emotion::Disgust,
        b'A' => Emotion::Fearful,
        b'F' => Emotion::Happy,
        b'T' => Emotion::Sad,
        b'N' => Emotion::Neutral,
        _ => return None,
    };
    if !shape_ok {
        return None;
    }
    let mut info = NameInfo::new(emotion)
        .with("text", &core[2..5])
        .with("version", &core[6..7]);
    info.speaker = Some(core[..2].to_string());
    info.recording_id = Some(core.to_string());
    Some(with_variant(info, variant))
}

/// `liuchanhg/angry/201`: speaker folder, emotion folder, number.
fn parse_casia(stem: &str, emotion: Option<&str>, speaker: Option<&str>) -> Option<NameInfo> {
    let (emotion, speaker) = (emotion?, speaker?);
    let emotion_dir = CASIA_EMOTIONS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(emotion))?;
    let speaker = CASIA_SPEAKERS
        .iter()
        .find(|s| s.eq_ignore_ascii_case(speaker))?;
    if !is_digits(stem) {
        return None;
    }
    let mut info = NameInfo::new(Emotion::parse(emotion_dir)?);
    info.speaker = Some(speaker.to_string());
    info.recording_id = Some(format!("{speaker}/{emotion_dir}/{stem}"));
    Some(info)
}

/// Report 004's `a_01`, `sa_12`: emotion code, underscore, anything.
fn parse_short_code(stem: &str) -> Option<NameInfo> {
    let (code, rest) = stem.split_once('_')?;
    let emotion = match code.to_ascii_lowercase().as_str() {
        "a" | "d" | "f" | "h" | "n" | "sa" | "su" => Emotion::parse(code)?,
        _ => return None,
    };
    (!rest.is_empty()).then(|| NameInfo::new(emotion).with("item", rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Emotion::*;

    fn parse(scheme: Corpus, path: &str) -> Option<NameInfo> {
        parse_name(scheme, Path::new(path))
    }

    #[test]
    fn ravdess_names() {
        let info = parse(Corpus::Ravdess, "Actor_12/03-01-06-01-02-01-12.wav").unwrap();
        assert_eq!(info.emotion, Fearful);
        assert_eq!(info.speaker.as_deref(), Some("12"));
        assert_eq!(info.recording_id.as_deref(), Some("03-01-06-01-02-01-12"));
        assert_eq!(info.extra["gender"], "female");
        assert_eq!(info.extra["intensity"], "normal");
        assert_eq!(info.extra["statement"], "02");
        let first = parse(Corpus::Ravdess, "03-01-01-01-01-01-01.flac").unwrap();
        assert_eq!(
            (first.emotion, first.speaker.unwrap()),
            (Neutral, "1".into())
        );
        assert_eq!(
            parse(Corpus::Ravdess, "03-01-08-02-01-01-07.wav")
                .unwrap()
                .emotion,
            Surprised
        );
    }

    #[test]
    fn ravdess_variant_keeps_recording_id() {
        let info = parse(Corpus::Ravdess, "03-01-05-02-01-01-12_noise10.wav").unwrap();
        assert_eq!(info.recording_id.as_deref(), Some("03-01-05-02-01-01-12"));
        assert_eq!(info.extra["variant"], "noise10");
    }

    #[test]
    fn ravdess_rejects_other_names() {
        for name in [
            "03-01-09-01-01-01-12.wav",
            "03-01-05-03-01-01-12.wav",
            "03-01-05-02-01-01.wav",
            "03-01-05-02-01-01-12x.wav",
            "a_01.wav",
        ] {
            assert!(parse(Corpus::Ravdess, name).is_none(), "{name}");
        }
    }

    #[test]
    fn crema_d_names() {
        let info = parse(Corpus::CremaD, "AudioWAV/1001_DFA_ANG_XX.wav").unwrap();
        assert_eq!(info.emotion, Angry);
        assert_eq!(info.speaker.as_deref(), Some("1001"));
        assert_eq!(info.extra["sentence"], "DFA");
        assert_eq!(
            parse(Corpus::CremaD, "1091_IEO_FEA_HI.wav")
                .unwrap()
                .emotion,
            Fearful
        );
        assert_eq!(
            parse(Corpus::CremaD, "1002_ITS_neu_md.wav")
                .unwrap()
                .emotion,
            Neutral
        );
        let aug = parse(Corpus::CremaD, "1001_DFA_DIS_XX_pitch2.wav").unwrap();
        assert_eq!(aug.recording_id.as_deref(), Some("1001_DFA_DIS_XX"));
        assert!(parse(Corpus::CremaD, "1001_DFA_SUR_XX.wav").is_none());
        assert!(parse(Corpus::CremaD, "101_DFA_ANG_XX.wav").is_none());
    }

    #[test]
    fn tess_names() {
        let info = parse(Corpus::Tess, "OAF_angry/OAF_back_angry.wav").unwrap();
        assert_eq!(
            (info.emotion, info.speaker.as_deref()),
            (Angry, Some("OAF"))
        );
        assert_eq!(info.extra["word"], "back");
        assert_eq!(
            parse(Corpus::Tess, "YAF_bath_ps.wav").unwrap().emotion,
            Surprised
        );
        let two = parse(Corpus::Tess, "yaf_germ_pleasant_surprise.wav").unwrap();
        assert_eq!(
            (two.emotion, two.extra["word"].as_str()),
            (Surprised, "germ")
        );
        assert_eq!(
            parse(Corpus::Tess, "OAF_dog_fear.wav").unwrap().emotion,
            Fearful
        );
        assert!(parse(Corpus::Tess, "MAF_back_angry.wav").is_none());
        assert!(parse(Corpus::Tess, "OAF_back_banana.wav").is_none());
    }

    #[test]
    fn savee_names() {
        let flat = parse(Corpus::Savee, "ALL/DC_a01.wav").unwrap();
        assert_eq!((flat.emotion, flat.speaker.as_deref()), (Angry, Some("DC")));
        assert_eq!(flat.recording_id.as_deref(), Some("DC_a01"));
        assert_eq!(parse(Corpus::Savee, "JK_sa15.wav").unwrap().emotion, Sad);
        assert_eq!(
            parse(Corpus::Savee, "KL_su03.wav").unwrap().emotion,
            Surprised
        );
        assert_eq!(parse(Corpus::Savee, "JE_n30.wav").unwrap().emotion, Neutral);
        let nested = parse(Corpus::Savee, "AudioData/JE/f05.wav").unwrap();
        assert_eq!(
            (nested.emotion, nested.speaker.as_deref()),
            (Fearful, Some("JE"))
        );
        assert!(parse(Corpus::Savee, "XX_a01.wav").is_none());
        assert!(parse(Corpus::Savee, "other/a01.wav").is_none());
        assert!(parse(Corpus::Savee, "DC_x01.wav").is_none());
    }

    #[test]
    fn emodb_names() {
        let info = parse(Corpus::EmoDb, "wav/03a01Fa.wav").unwrap();
        assert_eq!((info.emotion, info.speaker.as_deref()), (Happy, Some("03")));
        assert_eq!(info.extra["text"], "a01");
        let cases = [
            ("16b10Wb", Angry),
            ("08a02Lc", Boredom),
            ("09b03Ea", Disgust),
            ("10a04Ab", Fearful),
            ("11b09Td", Sad),
            ("13a05Na", Neutral),
        ];
        for (stem, emotion) in cases {
            assert_eq!(
                parse(Corpus::EmoDb, &format!("{stem}.wav"))
                    .unwrap()
                    .emotion,
                emotion
            );
        }
        assert!(parse(Corpus::EmoDb, "03a01Xa.wav").is_none());
        assert!(parse(Corpus::EmoDb, "3a01Fa.wav").is_none());
    }

    #[test]
    fn casia_layout() {
        let info = parse(Corpus::Casia, "CASIA/liuchanhg/angry/201.wav").unwrap();
        assert_eq!(
            (info.emotion, info.speaker.as_deref()),
            (Angry, Some("liuchanhg"))
        );
        assert_eq!(info.recording_id.as_deref(), Some("liuchanhg/angry/201"));
        let z = parse(Corpus::Casia, "zhaozuoxiang/surprise/250.wav").unwrap();
        assert_eq!(
            (z.emotion, z.speaker.as_deref()),
            (Surprised, Some("ZhaoZuoxiang"))
        );
        assert_eq!(
            parse(Corpus::Casia, "wangzhe/fear/1.wav").unwrap().emotion,
            Fearful
        );
        assert!(parse(Corpus::Casia, "someone/angry/201.wav").is_none());
        assert!(parse(Corpus::Casia, "wangzhe/angry/take.wav").is_none());
        assert!(parse(Corpus::Casia, "201.wav").is_none());
    }

    #[test]
    fn short_code_names() {
        let cases = [
            ("a_01", Angry),
            ("d_7", Disgust),
            ("f_02", Fearful),
            ("h_03", Happy),
            ("n_04", Neutral),
            ("sa_05", Sad),
            ("SU_06", Surprised),
        ];
        for (stem, emotion) in cases {
            let info = parse(Corpus::ShortCode, &format!("{stem}.wav")).unwrap();
            assert_eq!((info.emotion, info.speaker.as_deref()), (emotion, None));
        }
        assert!(parse(Corpus::ShortCode, "x_01.wav").is_none());
        assert!(parse(Corpus::ShortCode, "a_.wav").is_none());
        assert!(parse(Corpus::ShortCode, "a01.wav").is_none());
    }

    #[test]
    fn no_scheme_claims_another_schemes_names() {
        let samples = [
            (Corpus::Ravdess, "03-01-05-02-01-01-12.wav"),
            (Corpus::CremaD, "1001_DFA_ANG_XX.wav"),
            (Corpus::Tess, "OAF_back_angry.wav"),
            (Corpus::Savee, "DC_a01.wav"),
            (Corpus::EmoDb, "03a01Fa.wav"),
            (Corpus::Casia, "wangzhe/sad/201.wav"),
            (Corpus::ShortCode, "sa_01.wav"),
        ];
        for (owner, name) in samples {
            for scheme in SCHEMES {
                let parsed = parse(scheme, name).is_some();
                assert_eq!(parsed, scheme == owner, "{scheme} on {name}");
            }
        }
    }

    #[test]
    fn detection_is_a_majority_vote() {
        let names = ["03a01Fa.wav", "03a01Wa.wav", "notes.wav", "08b02Tc.wav"];
        let paths: Vec<&Path> = names.iter().map(Path::new).collect();
        assert_eq!(detect_scheme(paths.iter().copied()), Some(Corpus::EmoDb));
        let mixed = ["03a01Fa.wav", "x.wav", "y.wav"].map(Path::new);
        assert_eq!(detect_scheme(mixed), None);
        assert_eq!(detect_scheme(Vec::<&Path>::new()), None);
    }

    #[test]
    fn folders_give_emotion_and_speaker() {
        let path = Path::new("data/Actor_07/Angry/take1.wav");
        assert_eq!(folder_emotion(path), Some(Angry));
        assert_eq!(folder_speaker(path).as_deref(), Some("7"));
        let nested = Path::new("happy/speaker_x/sad/clip.wav");
        assert_eq!(folder_emotion(nested), Some(Sad));
        assert_eq!(folder_speaker(nested).as_deref(), Some("x"));
        assert_eq!(
            folder_speaker(Path::new("spk-A3/clip.wav")).as_deref(),
            Some("A3")
        );
        assert_eq!(
            folder_speaker(Path::new("JK/a01.wav")).as_deref(),
            Some("JK")
        );
        assert_eq!(folder_emotion(Path::new("angry.wav")), None);
        assert_eq!(folder_speaker(Path::new("actors/clip.wav")), None);
        assert_eq!(
            folder_speaker(Path::new("Actor01/clip.wav")).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn guess_uses_scheme_then_folder() {
        let p = Path::new("uploads/03-01-07-01-01-01-02.wav");
        assert_eq!(guess_emotion(p), Some((Disgust, Corpus::Ravdess)));
        let f = Path::new("uploads/Calm/take.wav");
        assert_eq!(guess_emotion(f), Some((Calm, Corpus::Folders)));
        assert_eq!(guess_emotion(Path::new("clip.wav")), None);
    }

    #[test]
    fn a_folders_speakers_come_from_its_scheme_then_speaker_folders() {
        let ravdess = ["a/03-01-05-01-01-01-12.wav", "b/03-01-03-02-02-01-07.wav"];
        let rels: Vec<&Path> = ravdess.iter().map(Path::new).collect();
        let speakers = speakers_of(&rels);
        assert_eq!(speakers, [Some("12".to_string()), Some("7".to_string())]);
        let loose = ["Actor_03/take1.wav", "speaker_b/x.wav", "misc/y.wav"];
        let rels: Vec<&Path> = loose.iter().map(Path::new).collect();
        assert_eq!(
            speakers_of(&rels),
            [Some("3".to_string()), Some("b".to_string()), None]
        );
    }

    #[test]
    fn speaker_ids_normalise() {
        assert_eq!(normalise_speaker("01"), "1");
        assert_eq!(normalise_speaker("000"), "0");
        assert_eq!(normalise_speaker("DC"), "DC");
    }
}
