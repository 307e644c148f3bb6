//! Batch prediction on a cluster: each shard of a job array takes a stable share of the files,
//! writes its results as JSON lines that survive a restart, and `ser merge` joins the parts.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Shard `index` of `count` (0-based, as Kubernetes' JOB_COMPLETION_INDEX and zero-based
/// Slurm arrays count): the files whose path hashes to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{text}: a shard is I/N with 0 <= I < N, e.g. 0/4");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            index.trim().parse::<u64>().map_err(|_| bad())?,
            count.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether `path` belongs to this shard: the same answer on every machine and run, so
    /// that the shards of one file list cover it exactly once.
    pub fn holds(&self, path: &Path) -> bool {
        fnv1a(path.to_string_lossy().as_bytes()) % self.count == self.index
    }
}

/// 64-bit FNV-1a: stable across Rust versions and platforms (unlike the std hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The complete lines of a JSON-lines file, and the length in bytes they take. A last line
/// without its newline (a process killed while writing it) is not counted; a complete line
/// that is not valid JSON is an error naming the file and line.
pub fn read_json_lines<T: DeserializeOwned>(path: &Path) -> anyhow::Result<(Vec<T>, u64)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut items = Vec::new();
    for (number, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = serde_json::from_slice(line).with_context(|| {
            format!(
                "{} line {}: not a result line of ser predict --out",
                path.display(),
                number + 1
            )
        })?;
        items.push(item);
    }
    Ok((items, complete as u64))
}

/// A JSON-lines file that results are appended to, one flushed line each, from any thread.
pub struct JsonLines {
    path: PathBuf,
    file: Mutex<File>,
}

impl JsonLines {
    /// Opens `path` for appending and returns the results already in it (a restart); a last
    /// line cut short is cut off first.
    pub fn open_resuming<T: DeserializeOwned>(path: &Path) -> anyhow::Result<(Self, Vec<T>)> {
        let done = if path.exists() {
            let (items, complete) = read_json_lines(path)?;
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            file.set_len(complete)
                .with_context(|| format!("cannot repair {}", path.display()))?;
            items
        } else {
            Vec::new()
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let out = Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        Ok((out, done))
    }

    /// Appends one result as a line and flushes it.
    pub fn append(&self, item: &impl Serialize) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(item)?;
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&line)
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_cover_every_path_once() {
        assert_eq!("1/4".parse(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/2", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shards: Vec<Shard> = (0..4).map(|i| Shard { index: i, count: 4 }).collect();
        let mut sizes = [0; 4];
        for n in 0..400 {
            let path = PathBuf::from(format!("calls/{n:04}.wav"));
            let holders: Vec<usize> = (0..4).filter(|&i| shards[i].holds(&path)).collect();
            assert_eq!(holders.len(), 1, "{}", path.display());
            sizes[holders[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 60), "{sizes:?}");
        // The same path lands in the same shard on every run (a fixed hash, not a seeded one).
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn a_line_cut_short_is_dropped_and_appending_continues_after_the_complete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-0.jsonl");
        std::fs::write(&path, "{\"file\":\"a.wav\"}\n{\"file\":\"b.w").unwrap();
        let (out, done) = JsonLines::open_resuming::<serde_json::Value>(&path).unwrap();
        assert_eq!(done, vec![serde_json::json!({ "file": "a.wav" })]);
        out.append(&serde_json::json!({ "file": "b.wav" })).unwrap();
        drop(out);
        let (all, _) = read_json_lines::<serde_json::Value>(&path).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1]["file"], "b.wav");

        std::fs::write(&path, "{\"file\":\"a.wav\"}\nnot json\n").unwrap();
        let err = read_json_lines::<serde_json::Value>(&path).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
