//! Finished folds of a cross-validation kept on disk, so that hours of training survive an
//! interruption and the folds of one evaluation can run in separate processes.
//!
//! A fold store is a folder holding
//! - `settings.json`: what is being evaluated (model, features, training settings, protocol,
//!   data); a store refuses to mix folds of different settings,
//! - `fold-<k>.json`: each finished fold (its report part, member scores and timings),
//! - `fold-<k>/`: the running fold's training checkpoints (one per epoch, see
//!   [`crate::fit::FitConfig::checkpoint_dir`]), removed when the fold finishes,
//! - `fold-<k>.running`: the id of the process running the fold, so that two processes never
//!   train the same fold into the same checkpoints (a claim whose process is gone is stale).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::FoldReport;

const SETTINGS: &str = "settings.json";

/// A fold store that cannot be read or written, or that holds another run's folds.
#[derive(Debug, thiserror::Error)]
pub enum FoldStoreError {
    /// Reading or writing a file or folder of the store failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A stored settings or fold file is not valid JSON of the expected shape.
    #[error("{}: unreadable: {source}", path.display())]
    Unreadable {
        /// The file concerned.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The store's `settings.json` describes another evaluation.
    #[error(
        "{}: holds folds of another evaluation ({}); use another report folder or remove {}",
        dir.join(SETTINGS).display(), differences.join("; "), dir.display()
    )]
    OtherEvaluation {
        /// The store's folder.
        dir: PathBuf,
        /// Each differing top-level setting, as "key: stored X, now Y".
        differences: Vec<String>,
    },
    /// The store holds finished folds of this evaluation, and the caller did not ask to continue.
    #[error(
        "{}: holds finished folds {} of an earlier run of this evaluation: --resume continues \
         it (remove the folder to start over)",
        dir.display(), list(finished)
    )]
    EarlierRun {
        /// The store's folder.
        dir: PathBuf,
        /// The finished folds, ascending.
        finished: Vec<usize>,
    },
}

/// An I/O error on `path`.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FoldStoreError {
    let path = path.to_path_buf();
    move |source| FoldStoreError::Io { path, source }
}

/// One finished fold, as kept in `fold-<k>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// The fold's part of the evaluation report: test speakers, metrics, calibration and curve.
    pub report: FoldReport,
    /// UA of each ensemble member alone on this fold (empty for a single model).
    #[serde(default)]
    pub member_ua: Vec<f64>,
    /// Training time: the sum of the epoch times, so epochs before a resume count too.
    pub train_seconds: f64,
    /// Time taken to score the test clips (not counting the members scored alone).
    pub inference_seconds: f64,
    /// Number of test clips scored.
    pub scored_clips: usize,
    /// The test clips' probabilities before temperature scaling, for calibration across
    /// folds (absent in folds stored before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestPredictions>,
}

/// What a fold's model said of its test clips, before temperature scaling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPredictions {
    /// Class probabilities of each test clip, in label order.
    pub probabilities: Vec<Vec<f32>>,
    /// The true class of each clip.
    pub truth: Vec<usize>,
}

/// The folder of one evaluation's finished folds.
#[derive(Debug, Clone)]
pub struct FoldStore {
    dir: PathBuf,
}

impl FoldStore {
    /// Opens (creating when needed) the store at `dir` for an evaluation described by
    /// `settings`. A store holding another evaluation is refused, naming what differs; one
    /// holding finished folds of this evaluation is refused unless `join` (continue them).
    pub fn open(
        dir: &Path,
        settings: &serde_json::Value,
        join: bool,
    ) -> Result<Self, FoldStoreError> {
        let store = Self {
            dir: dir.to_path_buf(),
        };
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let path = dir.join(SETTINGS);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let theirs: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|source| {
                        FoldStoreError::Unreadable {
                            path: path.clone(),
                            source,
                        }
                    })?;
                if &theirs != settings {
                    return Err(FoldStoreError::OtherEvaluation {
                        dir: dir.to_path_buf(),
                        differences: differences(&theirs, settings),
                    });
                }
                let finished = store.finished_folds()?;
                if !join && !finished.is_empty() {
                    return Err(FoldStoreError::EarlierRun {
                        dir: dir.to_path_buf(),
                        finished,
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let bytes = serde_json::to_vec_pretty(settings).expect("JSON value serialises");
                ser_fs::write_atomic(&path, &bytes).map_err(io_error(&path))?;
            }
            Err(e) => return Err(io_error(&path)(e)),
        }
        Ok(store)
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where fold `fold` keeps its training checkpoints while it runs.
    pub fn checkpoint_dir(&self, fold: usize) -> PathBuf {
        self.dir.join(format!("fold-{fold}"))
    }

    fn result_path(&self, fold: usize) -> PathBuf {
        self.dir.join(format!("fold-{fold}.json"))
    }

    /// The finished result of `fold`, if a run has stored one.
    pub fn finished(&self, fold: usize) -> Result<Option<FoldResult>, FoldStoreError> {
        let path = self.result_path(fold);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| FoldStoreError::Unreadable { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Keeps a finished fold and drops its checkpoints.
    pub fn save(&self, fold: usize, result: &FoldResult) -> Result<(), FoldStoreError> {
        let path = self.result_path(fold);
        let bytes = serde_json::to_vec(result).expect("a fold result serialises");
        ser_fs::write_atomic(&path, &bytes).map_err(io_error(&path))?;
        // Only disk space is at stake if this fails.
        let _ = std::fs::remove_dir_all(self.checkpoint_dir(fold));
        Ok(())
    }

    /// Claims `fold` for this process until the claim is dropped; `None` while another live
    /// process runs it.
    pub fn claim(&self, fold: usize) -> Result<Option<FoldClaim>, FoldStoreError> {
        let path = self.dir.join(format!("fold-{fold}.running"));
        let me = std::process::id();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write;
                    file.write_all(me.to_string().as_bytes())
                        .map_err(io_error(&path))?;
                    return Ok(Some(FoldClaim { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    if holder.is_some_and(|pid| pid != me && process_alive(pid)) {
                        return Ok(None);
                    }
                    // Left by a run that ended without cleaning up (or by this process).
                    std::fs::remove_file(&path).map_err(io_error(&path))?;
                }
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
    }

    /// Numbers of the folds with a stored result, ascending.
    pub fn finished_folds(&self) -> Result<Vec<usize>, FoldStoreError> {
        let entries = std::fs::read_dir(&self.dir).map_err(io_error(&self.dir))?;
        let mut folds: Vec<usize> = entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("fold-")?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()
            })
            .collect();
        folds.sort_unstable();
        Ok(folds)
    }

    /// Deletes the store (once its report is written).
    pub fn remove(self) -> Result<(), FoldStoreError> {
        std::fs::remove_dir_all(&self.dir).map_err(io_error(&self.dir))
    }
}

/// A fold this process runs; dropping it releases the fold.
#[derive(Debug)]
pub struct FoldClaim {
    path: PathBuf,
}

impl Drop for FoldClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` still runs. Only Linux can tell (through /proc); elsewhere a claim
/// is assumed live, and an interrupted run's claim file must be removed by hand.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// "0, 2, 4".
pub fn list(folds: &[usize]) -> String {
    folds
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The top-level keys whose values differ, as "key: stored X, now Y".
fn differences(stored: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        stored.as_object().unwrap_or(&empty),
        now.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("nothing".into(), |v| v.to_string());
            format!("{k}: stored {}, now {}", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(fold: usize) -> FoldResult {
        let metrics = crate::metrics::EvalInput::new(&[0, 1], &[0, 0], &["a".into(), "b".into()])
            .evaluate()
            .unwrap();
        FoldResult {
            report: FoldReport {
                fold,
                test_speakers: vec!["01".into()],
                metrics,
                by_group: Default::default(),
                calibration: None,
                unseen_corpus: None,
                history: None,
            },
            member_ua: vec![0.5],
            train_seconds: 2.0,
            inference_seconds: 0.1,
            scored_clips: 2,
            test: None,
        }
    }

    #[test]
    fn a_finished_fold_is_read_back_and_its_checkpoints_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = FoldStore::open(dir.path(), &json!({"epochs": 5}), false).unwrap();
        std::fs::create_dir_all(store.checkpoint_dir(1)).unwrap();
        store.save(1, &result(1)).unwrap();
        assert_eq!(store.finished(1).unwrap(), Some(result(1)));
        assert_eq!(store.finished(0).unwrap(), None);
        assert_eq!(store.finished_folds().unwrap(), vec![1]);
        assert!(!store.checkpoint_dir(1).exists());
    }

    #[test]
    fn finished_folds_are_continued_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let settings = json!({"epochs": 5});
        FoldStore::open(dir.path(), &settings, false)
            .unwrap()
            .save(2, &result(2))
            .unwrap();
        let refused = FoldStore::open(dir.path(), &settings, false).unwrap_err();
        assert!(refused.to_string().contains("--resume"), "{refused}");
        let joined = FoldStore::open(dir.path(), &settings, true).unwrap();
        assert_eq!(joined.finished_folds().unwrap(), vec![2]);
    }

    #[test]
    fn a_fold_is_run_by_one_live_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = FoldStore::open(dir.path(), &json!({}), false).unwrap();
        let claim = store.claim(0).unwrap().expect("a free fold");
        // Process 1 (init) is alive: its claim holds.
        std::fs::write(dir.path().join("fold-1.running"), "1").unwrap();
        if cfg!(target_os = "linux") {
            assert!(store.claim(1).unwrap().is_none());
        }
        // A claim whose process is gone is taken over.
        std::fs::write(dir.path().join("fold-2.running"), u32::MAX.to_string()).unwrap();
        assert!(store.claim(2).unwrap().is_some());
        drop(claim);
        assert!(!dir.path().join("fold-0.running").exists());
        assert!(store.claim(0).unwrap().is_some());
    }

    #[test]
    fn another_evaluations_store_is_refused_naming_the_difference() {
        let dir = tempfile::tempdir().unwrap();
        FoldStore::open(dir.path(), &json!({"epochs": 5, "seed": 0}), false).unwrap();
        let err = FoldStore::open(dir.path(), &json!({"epochs": 9, "seed": 0}), true).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("epochs: stored 5, now 9"), "{message}");
        assert!(!message.contains("seed"), "{message}");
    }
}
