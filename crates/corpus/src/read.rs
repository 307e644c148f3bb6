//! Dataset readers: emotion-folder trees (with automatic naming-scheme detection), ZIP
//! archives of the same, and manifest CSVs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use crate::archive::{ZipLimits, extract_zip};
use crate::dataset::{
    Clip, Corpus, Dataset, Skipped, UNKNOWN_SPEAKER, is_audio_path, is_junk_name,
};
use crate::error::CorpusError;
use crate::labels::{Emotion, canonical_label};
use crate::scheme::{
    NameInfo, SCHEMES, detect_scheme, folder_emotion, folder_speaker, normalise_speaker, parse_name,
};

/// Which file-name scheme labels the clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SchemeChoice {
    /// The scheme most file names follow, if any (majority vote).
    #[default]
    Auto,
    /// This scheme; files that don't follow it are skipped.
    Force(Corpus),
    /// Folder names only.
    Off,
}

/// Manifest column names; `None` = find it among the usual names (`speaker`/`actor`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestColumns {
    /// The clip's path, relative to the CSV's folder (required; usually `path`, `file`, ...).
    pub path: Option<String>,
    /// The speaker (usually `speaker`, `actor`, ...); without it the file name's scheme or
    /// [`crate::UNKNOWN_SPEAKER`] decides.
    pub speaker: Option<String>,
    /// The emotion label (required; usually `emotion`, `label`, ...).
    pub emotion: Option<String>,
    /// A fixed split (train, val or test) for the `manifest` protocol (usually `split`,
    /// `set`, ...).
    pub split: Option<String>,
    /// The source recording (usually `recording_id`, `source`, ...); without it the file
    /// name's scheme or the path decides.
    pub recording_id: Option<String>,
}

const PATH_NAMES: &[&str] = &["path", "file", "filename", "file_name", "filepath", "audio"];
const SPEAKER_NAMES: &[&str] = &["speaker", "actor", "speaker_id", "spk", "subject"];
const EMOTION_NAMES: &[&str] = &["emotion", "label", "emotion_label", "class"];
const SPLIT_NAMES: &[&str] = &["split", "set", "subset", "partition"];
const RECORDING_NAMES: &[&str] = &["recording_id", "recording", "source", "source_id"];

/// How to open a dataset.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Which file-name scheme labels a folder's or archive's clips.
    pub scheme: SchemeChoice,
    /// Limits on what a ZIP may extract.
    pub zip_limits: ZipLimits,
    /// Where a ZIP is extracted; `None` = a temporary folder that lives as long as the
    /// returned dataset (and its clones).
    pub extract_to: Option<PathBuf>,
    /// Which manifest columns hold what.
    pub columns: ManifestColumns,
    /// Keep labels outside the canonical vocabulary (lower-cased) instead of refusing or
    /// skipping them.
    pub keep_unknown_labels: bool,
}

/// Opens a folder, a `.zip` archive or a `.csv` manifest.
pub fn open_dataset(path: &Path, opts: &OpenOptions) -> Result<Dataset, CorpusError> {
    let meta = std::fs::metadata(path).map_err(|e| CorpusError::io(path, e))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let dataset = match ext.as_deref() {
        _ if meta.is_dir() => read_folder(path, opts)?,
        Some("zip") => read_zip(path, opts)?,
        Some("csv") => read_manifest(path, opts)?,
        _ => return Err(CorpusError::UnsupportedInput { path: path.into() }),
    };
    if dataset.is_empty() {
        return Err(empty_error(&dataset));
    }
    Ok(dataset)
}

fn empty_error(dataset: &Dataset) -> CorpusError {
    let first = dataset
        .skipped
        .first()
        .map(|s| format!("; first skipped: {}: {}", s.path.display(), s.reason))
        .unwrap_or_default();
    CorpusError::EmptyDataset {
        path: dataset.root.clone(),
        detail: format!(
            "{} skipped, {} non-audio files{first}",
            dataset.skipped.len(),
            dataset.non_audio
        ),
    }
}

/// Extracts a ZIP (see [`extract_zip`]) and reads the result as a folder.
pub fn read_zip(zip_path: &Path, opts: &OpenOptions) -> Result<Dataset, CorpusError> {
    let (dest, temp) = match &opts.extract_to {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("ser-dataset-")
                .tempdir()
                .map_err(|e| CorpusError::io(std::env::temp_dir(), e))?;
            (temp.path().to_path_buf(), Some(Arc::new(temp)))
        }
    };
    let extracted = extract_zip(zip_path, &dest, &opts.zip_limits)?;
    let mut dataset = read_folder(&dest, opts)?;
    // Extraction leaves non-audio entries out; they still count as found.
    dataset.non_audio += extracted.skipped_non_audio;
    dataset.extracted.extend(temp);
    Ok(dataset)
}

/// Reads a folder tree of audio files, labelled by naming scheme or emotion-named folders.
pub fn read_folder(root: &Path, opts: &OpenOptions) -> Result<Dataset, CorpusError> {
    let listing = list_audio(root)?;
    let scheme = match opts.scheme {
        SchemeChoice::Auto => detect_scheme(listing.files.iter().map(PathBuf::as_path)),
        SchemeChoice::Force(corpus) => Some(corpus),
        SchemeChoice::Off => None,
    };
    let mut dataset = Dataset::new(root, Vec::new());
    dataset.non_audio = listing.non_audio;
    dataset.skipped = listing.unreadable;
    dataset.scheme = scheme;
    for rel in &listing.files {
        match label_file(rel, scheme, opts) {
            Ok(mut clip) => {
                clip.path = root.join(rel);
                dataset.clips.push(clip);
            }
            Err(reason) => dataset.skipped.push(Skipped {
                path: root.join(rel),
                reason,
            }),
        }
    }
    Ok(dataset)
}

struct Listing {
    /// Audio files relative to the root, sorted.
    files: Vec<PathBuf>,
    non_audio: usize,
    unreadable: Vec<Skipped>,
}

fn list_audio(root: &Path) -> Result<Listing, CorpusError> {
    if !root.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder");
        return Err(CorpusError::io(root, e));
    }
    let mut listing = Listing {
        files: Vec::new(),
        non_audio: 0,
        unreadable: Vec::new(),
    };
    let walker = WalkDir::new(root)
        .sort_by_file_name()
        // Prepared datasets are often trees of links into a shared pool; loops are reported.
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_str().is_some_and(is_junk_name));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                listing.unreadable.push(Skipped {
                    path,
                    reason: format!("unreadable: {e}"),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        if is_audio_path(entry.path()) {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            listing.files.push(rel.to_path_buf());
        } else {
            listing.non_audio += 1;
        }
    }
    Ok(listing)
}

/// Labels one file from its name and folders; `Err` carries the reason to skip it.
/// An emotion-named folder beats the file name: a person who sorted files into folders
/// (e.g. merged calm into neutral) meant those labels.
fn label_file(rel: &Path, scheme: Option<Corpus>, opts: &OpenOptions) -> Result<Clip, String> {
    let info = scheme.and_then(|s| parse_name(s, rel));
    if info.is_none()
        && let SchemeChoice::Force(forced) = opts.scheme
    {
        return Err(format!("name does not follow the {forced} scheme"));
    }
    let folder = folder_emotion(rel);
    let emotion = folder.or(info.as_ref().map(|i| i.emotion)).ok_or_else(|| {
        "no emotion: the name follows no detected scheme and no folder is an emotion name"
            .to_string()
    })?;
    let corpus = match (&info, scheme) {
        (Some(_), Some(scheme)) => scheme,
        _ => Corpus::Folders,
    };
    let info = info.unwrap_or_else(|| fallback_info(emotion));
    Ok(clip_from(rel, emotion, info, corpus))
}

fn fallback_info(emotion: Emotion) -> NameInfo {
    NameInfo {
        emotion,
        speaker: None,
        recording_id: None,
        extra: BTreeMap::new(),
    }
}

fn clip_from(rel: &Path, emotion: Emotion, info: NameInfo, corpus: Corpus) -> Clip {
    let mut extra = info.extra;
    if emotion != info.emotion {
        extra.insert("name_emotion".into(), info.emotion.name().into());
    }
    Clip {
        path: rel.to_path_buf(),
        speaker: info
            .speaker
            .or_else(|| folder_speaker(rel))
            .unwrap_or_else(|| UNKNOWN_SPEAKER.to_string()),
        emotion: emotion.name().to_string(),
        recording_id: info.recording_id.unwrap_or_else(|| path_id(rel)),
        corpus,
        extra,
    }
}

/// A recording id from a relative path: no extension, `/` separators.
fn path_id(rel: &Path) -> String {
    let no_ext = rel.with_extension("");
    no_ext
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A CSV reader (cells trimmed) and its header row.
fn open_csv(
    csv_path: &Path,
) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord), CorpusError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .map_err(|e| manifest_error(csv_path, &e))?;
    let headers = reader
        .headers()
        .map_err(|e| manifest_error(csv_path, &e))?
        .clone();
    Ok((reader, headers))
}

/// Reads a manifest CSV: one row per clip, paths relative to the CSV's folder.
pub fn read_manifest(csv_path: &Path, opts: &OpenOptions) -> Result<Dataset, CorpusError> {
    let (mut reader, headers) = open_csv(csv_path)?;
    let columns = ColumnIndex::resolve(csv_path, &headers, &opts.columns)?;
    let base = csv_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut dataset = Dataset::new(&base, Vec::new());
    dataset.scheme = Some(Corpus::Manifest);
    let mut seen: HashMap<PathBuf, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| manifest_error(csv_path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let row = Row {
            csv_path,
            line,
            record: &record,
            headers: &headers,
        };
        let clip = row.to_clip(&columns, &base, opts)?;
        if let Some(first) = seen.insert(clip.path.clone(), line) {
            return Err(row.error(format!("path listed twice (first on line {first})")));
        }
        match check_file(&clip.path) {
            Ok(()) => dataset.clips.push(clip),
            Err(reason) => dataset.skipped.push(Skipped {
                path: clip.path,
                reason: format!("{reason} (manifest line {line})"),
            }),
        }
    }
    Ok(dataset)
}

/// One file of a list to predict, with its emotion when the list gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    /// The file, joined onto the CSV's folder; not checked to exist.
    pub path: PathBuf,
    /// The canonical label, when the list has an emotion column and the cell is not empty.
    pub emotion: Option<String>,
    /// The speaker, when the list has a speaker column.
    pub speaker: Option<String>,
}

/// Reads a list of files to predict: a CSV with a path column (as a manifest's) and, unlike a
/// training manifest, optional emotion and speaker columns. Paths are relative to the CSV's folder;
/// files are not opened here (the caller reports each unreadable one).
pub fn read_file_list(csv_path: &Path) -> Result<Vec<ListedFile>, CorpusError> {
    let (mut reader, headers) = open_csv(csv_path)?;
    let find = |usual: &[&str]| usual.iter().find_map(|n| position(&headers, n));
    let path_column =
        find(PATH_NAMES).ok_or_else(|| missing_column(csv_path, &headers, PATH_NAMES[0]))?;
    let emotion_column = find(EMOTION_NAMES);
    let speaker_column = find(SPEAKER_NAMES);
    let base = csv_path.parent().unwrap_or(Path::new(""));
    let mut files = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| manifest_error(csv_path, &e))?;
        let rel = portable_path(record.get(path_column).unwrap_or(""));
        if rel.as_os_str().is_empty() {
            return Err(CorpusError::Manifest {
                path: csv_path.to_path_buf(),
                line: record.position().map_or(0, |p| p.line()),
                reason: "empty path".into(),
            });
        }
        let cell = |column: Option<usize>| {
            column
                .and_then(|i| record.get(i))
                .filter(|cell| !cell.is_empty())
        };
        files.push(ListedFile {
            path: base.join(rel),
            emotion: cell(emotion_column).map(canonical_label),
            speaker: cell(speaker_column).map(normalise_speaker),
        });
    }
    Ok(files)
}

fn check_file(path: &Path) -> Result<(), String> {
    if !is_audio_path(path) {
        return Err("not an audio file extension".into());
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err("not a file".into()),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

fn manifest_error(path: &Path, e: &csv::Error) -> CorpusError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => {
            CorpusError::io(path, std::io::Error::new(io.kind(), io.to_string()))
        }
        _ => CorpusError::Manifest {
            path: path.to_path_buf(),
            line,
            reason: e.to_string(),
        },
    }
}

struct ColumnIndex {
    path: usize,
    emotion: usize,
    speaker: Option<usize>,
    split: Option<usize>,
    recording: Option<usize>,
}

impl ColumnIndex {
    fn resolve(
        csv_path: &Path,
        headers: &csv::StringRecord,
        names: &ManifestColumns,
    ) -> Result<Self, CorpusError> {
        let find =
            |explicit: &Option<String>, usual: &[&str]| -> Result<Option<usize>, CorpusError> {
                match explicit {
                    Some(name) => position(headers, name)
                        .map(Some)
                        .ok_or_else(|| missing_column(csv_path, headers, name)),
                    None => Ok(usual.iter().find_map(|n| position(headers, n))),
                }
            };
        let required = |explicit: &Option<String>, usual: &[&str]| {
            find(explicit, usual)?.ok_or_else(|| missing_column(csv_path, headers, usual[0]))
        };
        Ok(Self {
            path: required(&names.path, PATH_NAMES)?,
            emotion: required(&names.emotion, EMOTION_NAMES)?,
            speaker: find(&names.speaker, SPEAKER_NAMES)?,
            split: find(&names.split, SPLIT_NAMES)?,
            recording: find(&names.recording_id, RECORDING_NAMES)?,
        })
    }

    fn is_core(&self, index: usize) -> bool {
        [
            Some(self.path),
            Some(self.emotion),
            self.speaker,
            self.split,
            self.recording,
        ]
        .contains(&Some(index))
    }
}

fn position(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
}

fn missing_column(csv_path: &Path, headers: &csv::StringRecord, name: &str) -> CorpusError {
    CorpusError::ManifestColumn {
        path: csv_path.to_path_buf(),
        column: name.to_string(),
        found: headers.iter().collect::<Vec<_>>().join(", "),
    }
}

struct Row<'a> {
    csv_path: &'a Path,
    line: u64,
    record: &'a csv::StringRecord,
    headers: &'a csv::StringRecord,
}

impl Row<'_> {
    fn cell(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("")
    }

    fn optional(&self, index: Option<usize>) -> Option<&str> {
        index.map(|i| self.cell(i)).filter(|s| !s.is_empty())
    }

    fn error(&self, reason: String) -> CorpusError {
        CorpusError::Manifest {
            path: self.csv_path.to_path_buf(),
            line: self.line,
            reason,
        }
    }

    fn to_clip(
        &self,
        cols: &ColumnIndex,
        base: &Path,
        opts: &OpenOptions,
    ) -> Result<Clip, CorpusError> {
        let rel = portable_path(self.cell(cols.path));
        if rel.as_os_str().is_empty() {
            return Err(self.error("empty path".into()));
        }
        let emotion = self.emotion(cols.emotion, opts)?;
        // A name that follows a corpus scheme still tells speaker and recording when the
        // manifest doesn't (and ties augmented copies to their source).
        let name_info = SCHEMES.iter().find_map(|&s| parse_name(s, &rel));
        let (name_speaker, name_recording) =
            name_info.map_or((None, None), |i| (i.speaker, i.recording_id));
        let speaker = match self.optional(cols.speaker) {
            Some(s) => normalise_speaker(s),
            None => name_speaker.unwrap_or_else(|| UNKNOWN_SPEAKER.to_string()),
        };
        let recording_id = self
            .optional(cols.recording)
            .map(str::to_string)
            .or(name_recording)
            .unwrap_or_else(|| path_id(&rel));
        Ok(Clip {
            path: base.join(&rel),
            speaker,
            emotion,
            recording_id,
            corpus: Corpus::Manifest,
            extra: self.extra(cols)?,
        })
    }

    fn emotion(&self, index: usize, opts: &OpenOptions) -> Result<String, CorpusError> {
        let raw = self.cell(index);
        if raw.is_empty() {
            return Err(self.error("empty emotion".into()));
        }
        if Emotion::parse(raw).is_none() && !opts.keep_unknown_labels {
            return Err(self.error(format!(
                "unknown emotion '{raw}' (set keep_unknown_labels to accept new classes)"
            )));
        }
        Ok(canonical_label(raw))
    }

    fn extra(&self, cols: &ColumnIndex) -> Result<BTreeMap<String, String>, CorpusError> {
        let mut extra: BTreeMap<String, String> = self
            .headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !cols.is_core(*i))
            .map(|(i, h)| (h.to_string(), self.cell(i).to_string()))
            .collect();
        if let Some(i) = cols.split {
            let split = normalise_split(self.cell(i)).ok_or_else(|| {
                self.error(format!(
                    "split '{}' is not train, val or test",
                    self.cell(i)
                ))
            })?;
            extra.insert("split".into(), split.into());
        }
        Ok(extra)
    }
}

/// Manifests written on Windows use `\\`; elsewhere that is not a separator.
fn portable_path(text: &str) -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(text)
    } else {
        PathBuf::from(text.replace('\\', "/"))
    }
}

fn normalise_split(value: &str) -> Option<&'static str> {
    match value.to_ascii_lowercase().as_str() {
        "train" | "training" => Some("train"),
        "val" | "valid" | "validation" | "dev" => Some("val"),
        "test" | "testing" | "eval" => Some("test"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> OpenOptions {
        OpenOptions::default()
    }

    #[test]
    fn a_file_list_needs_paths_only_and_keeps_emotions_it_gives() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("calls.csv");
        std::fs::write(&csv, "file,label\ncalls/a.wav,Happy\nb.mp3,\n").unwrap();
        let files = read_file_list(&csv).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, dir.path().join("calls/a.wav"));
        assert_eq!(files[0].emotion.as_deref(), Some("happy"));
        assert_eq!(files[1].emotion, None);
        assert_eq!(files[0].speaker, None);
        std::fs::write(&csv, "path\nx.wav\n").unwrap();
        assert_eq!(read_file_list(&csv).unwrap()[0].emotion, None);
        std::fs::write(&csv, "path,speaker\nx.wav,07\ny.wav,\n").unwrap();
        let files = read_file_list(&csv).unwrap();
        assert_eq!(files[0].speaker.as_deref(), Some("7"));
        assert_eq!(files[1].speaker, None);
        std::fs::write(&csv, "name,emotion\nx.wav,sad\n").unwrap();
        let err = read_file_list(&csv).unwrap_err().to_string();
        assert!(err.contains("path") && err.contains("calls.csv"), "{err}");
    }

    #[test]
    fn folder_label_beats_name_and_is_recorded() {
        let rel = Path::new("neutral/03-01-02-01-01-01-05.wav");
        let clip = label_file(rel, Some(Corpus::Ravdess), &opts()).unwrap();
        assert_eq!(clip.emotion, "neutral");
        assert_eq!(clip.extra["name_emotion"], "calm");
        assert_eq!(clip.speaker, "5");
        assert_eq!(clip.corpus, Corpus::Ravdess);
    }

    #[test]
    fn folder_only_clip_uses_folder_speaker_or_unknown() {
        let clip = label_file(Path::new("Actor_03/sad/x.wav"), None, &opts()).unwrap();
        assert_eq!((clip.speaker.as_str(), clip.emotion.as_str()), ("3", "sad"));
        assert_eq!(clip.recording_id, "Actor_03/sad/x");
        assert_eq!(clip.corpus, Corpus::Folders);
        let anon = label_file(Path::new("sad/x.wav"), None, &opts()).unwrap();
        assert_eq!(anon.speaker, UNKNOWN_SPEAKER);
    }

    #[test]
    fn unlabelled_and_forced_mismatch_are_skipped() {
        assert!(label_file(Path::new("misc/x.wav"), None, &opts()).is_err());
        let forced = OpenOptions {
            scheme: SchemeChoice::Force(Corpus::EmoDb),
            ..opts()
        };
        let err = label_file(Path::new("angry/x.wav"), Some(Corpus::EmoDb), &forced).unwrap_err();
        assert!(err.contains("emodb"), "{err}");
    }

    #[test]
    fn short_code_speaker_from_folder() {
        let rel = Path::new("speaker_b/sa_01.wav");
        let clip = label_file(rel, Some(Corpus::ShortCode), &opts()).unwrap();
        assert_eq!((clip.speaker.as_str(), clip.emotion.as_str()), ("b", "sad"));
        assert_eq!(clip.recording_id, "speaker_b/sa_01");
    }

    #[test]
    fn splits_normalise() {
        assert_eq!(normalise_split("Train"), Some("train"));
        assert_eq!(normalise_split("dev"), Some("val"));
        assert_eq!(normalise_split("TEST"), Some("test"));
        assert_eq!(normalise_split("holdout"), None);
    }
}
