//! On-disk cache of feature matrices, keyed by the audio file's bytes and the feature
//! configuration. Writes are atomic (temp file + fsync + rename); a damaged entry reads as a
//! miss, never as wrong features.
//!
//! Entry layout (little-endian): magic `SERFEAT1`, 32-byte key, rows u64, cols u64,
//! rows*cols f32, then a 32-byte blake3 of everything before it.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CorpusError;

const MAGIC: &[u8; 8] = b"SERFEAT1";
const HEADER_LEN: usize = 8 + 32 + 8 + 8;
const CHECKSUM_LEN: usize = 32;
const EXTENSION: &str = "feat";

pub use ser_features::FeatureMatrix;

/// Identifies one cache entry: blake3 over the file's hash and the config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// Key for audio `bytes` under feature configuration `config` (e.g. its JSON).
    pub fn for_bytes(bytes: &[u8], config: &str) -> Self {
        Self::combine(blake3::hash(bytes), config)
    }

    /// Key for the file at `path`, hashed as a stream.
    pub fn for_file(path: &Path, config: &str) -> Result<Self, CorpusError> {
        let mut hasher = blake3::Hasher::new();
        let file = fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        hasher
            .update_reader(file)
            .map_err(|e| CorpusError::io(path, e))?;
        Ok(Self::combine(hasher.finalize(), config))
    }

    /// A key for something made from the same audio in another way (e.g. an augmented copy),
    /// described by `how`.
    pub fn derive(&self, how: &str) -> Self {
        Self::combine(blake3::Hash::from_bytes(self.0), how)
    }

    fn combine(content: blake3::Hash, config: &str) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(content.as_bytes());
        // Length prefix keeps (content, config) pairs unambiguous.
        hasher.update(&(config.len() as u64).to_le_bytes());
        hasher.update(config.as_bytes());
        Self(*hasher.finalize().as_bytes())
    }

    /// The key as 64 lower-case hex digits (the entry's file name).
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }
}

/// Whether the cache is used (`--no-cache` gives `Off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CacheMode {
    /// Hits are read and misses stored.
    #[default]
    ReadWrite,
    /// Nothing is read or written: every lookup misses.
    Off,
}

/// A folder of cached feature matrices, one file per [`CacheKey`].
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
    mode: CacheMode,
}

impl FeatureCache {
    /// A cache in `dir` (created on the first store; see [`FeatureCache::default_dir`]).
    pub fn new(dir: impl Into<PathBuf>, mode: CacheMode) -> Self {
        Self {
            dir: dir.into(),
            mode,
        }
    }

    /// `$SER_CACHE_DIR`, else `$XDG_CACHE_HOME/ser/features`, else `~/.cache/ser/features`,
    /// else a folder under the system temp dir.
    pub fn default_dir() -> PathBuf {
        let env = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        if let Some(dir) = env("SER_CACHE_DIR") {
            return dir;
        }
        let base = env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|h| h.join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("ser").join("features")
    }

    /// The folder the entries live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the cache is read and written.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    /// Where the entry for `key` lives (sharded by the first two hex digits).
    pub fn entry_path(&self, key: &CacheKey) -> PathBuf {
        let hex = key.to_hex();
        self.dir.join(&hex[..2]).join(format!("{hex}.{EXTENSION}"))
    }

    /// The cached matrix, or `None` on a miss, a damaged entry, or with the cache off.
    pub fn get(&self, key: &CacheKey) -> Option<FeatureMatrix> {
        if self.mode == CacheMode::Off {
            return None;
        }
        let bytes = fs::read(self.entry_path(key)).ok()?;
        decode(&bytes, key)
    }

    /// Stores `matrix` atomically; concurrent writers of one key leave one whole entry.
    pub fn put(&self, key: &CacheKey, matrix: &FeatureMatrix) -> Result<(), CorpusError> {
        if self.mode == CacheMode::Off {
            return Ok(());
        }
        let path = self.entry_path(key);
        let shard = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(shard).map_err(|e| CorpusError::io(shard, e))?;
        ser_fs::write_atomic(&path, &encode(key, matrix)).map_err(|e| CorpusError::io(&path, e))
    }

    /// Cached matrix, or `compute()`'s result, stored for next time. A failed store does not
    /// fail the computation (the cache is an optimisation).
    pub fn get_or_compute<E>(
        &self,
        key: &CacheKey,
        compute: impl FnOnce() -> Result<FeatureMatrix, E>,
    ) -> Result<FeatureMatrix, E> {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let matrix = compute()?;
        let _ = self.put(key, &matrix);
        Ok(matrix)
    }
}

/// The entry bytes of `m` under `key`, in the layout the module docs give (checksum last).
fn encode(key: &CacheKey, m: &FeatureMatrix) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * m.data.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&(m.rows as u64).to_le_bytes());
    out.extend_from_slice(&(m.cols as u64).to_le_bytes());
    for v in &m.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out
}

fn decode(bytes: &[u8], key: &CacheKey) -> Option<FeatureMatrix> {
    let body_len = bytes.len().checked_sub(CHECKSUM_LEN)?;
    let (body, checksum) = bytes.split_at(body_len);
    if body.len() < HEADER_LEN || &body[..8] != MAGIC || body[8..40] != key.0 {
        return None;
    }
    if blake3::hash(body).as_bytes() != checksum {
        return None;
    }
    let mut header = &body[40..HEADER_LEN];
    let rows = usize::try_from(read_u64(&mut header)?).ok()?;
    let cols = usize::try_from(read_u64(&mut header)?).ok()?;
    let payload = &body[HEADER_LEN..];
    if rows.checked_mul(cols)?.checked_mul(4)? != payload.len() {
        return None;
    }
    let data = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    FeatureMatrix::new(rows, cols, data)
}

fn read_u64(reader: &mut impl Read) -> Option<u64> {
    let mut buf = [0u8; 8];
    reader.read_exact(&mut buf).ok()?;
    Some(u64::from_le_bytes(buf))
}

/// Removes every entry (for `ser cache clear`); missing dir is fine.
pub fn clear_cache(dir: &Path) -> Result<(), CorpusError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CorpusError::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix() -> FeatureMatrix {
        FeatureMatrix::new(2, 3, vec![1.0, -2.5, 3.25, f32::MIN, 0.0, 1e-7]).unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::for_bytes(b"audio", "mfcc40");
        assert_eq!(cache.get(&key), None);
        cache.put(&key, &matrix()).unwrap();
        assert_eq!(cache.get(&key), Some(matrix()));
    }

    #[test]
    fn key_depends_on_bytes_and_config() {
        let a = CacheKey::for_bytes(b"audio", "mfcc40");
        assert_ne!(a, CacheKey::for_bytes(b"audio", "mfcc20"));
        assert_ne!(a, CacheKey::for_bytes(b"audi0", "mfcc40"));
        assert_eq!(a, CacheKey::for_bytes(b"audio", "mfcc40"));
    }

    #[test]
    fn derived_keys_depend_on_the_key_and_how() {
        let a = CacheKey::for_bytes(b"audio", "mfcc40");
        let b = CacheKey::for_bytes(b"other", "mfcc40");
        let copy = a.derive("augmented seed 1");
        assert_eq!(copy, a.derive("augmented seed 1"));
        assert_ne!(copy, a);
        assert_ne!(copy, a.derive("augmented seed 2"));
        assert_ne!(copy, b.derive("augmented seed 1"));
    }

    #[test]
    fn key_for_file_matches_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        fs::write(&path, b"RIFF....").unwrap();
        assert_eq!(
            CacheKey::for_file(&path, "c").unwrap(),
            CacheKey::for_bytes(b"RIFF....", "c")
        );
        assert!(CacheKey::for_file(&dir.path().join("missing.wav"), "c").is_err());
    }

    #[test]
    fn corrupted_entries_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::for_bytes(b"audio", "cfg");
        cache.put(&key, &matrix()).unwrap();
        let path = cache.entry_path(&key);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 1] ^= 0x40;
        for damaged in [
            flipped,
            good[..good.len() - 1].to_vec(),
            Vec::new(),
            b"SERFEAT1".to_vec(),
        ] {
            fs::write(&path, damaged).unwrap();
            assert_eq!(cache.get(&key), None);
        }
    }

    #[test]
    fn entry_under_wrong_key_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        let (a, b) = (CacheKey::for_bytes(b"a", ""), CacheKey::for_bytes(b"b", ""));
        cache.put(&a, &matrix()).unwrap();
        fs::create_dir_all(cache.entry_path(&b).parent().unwrap()).unwrap();
        fs::copy(cache.entry_path(&a), cache.entry_path(&b)).unwrap();
        assert_eq!(cache.get(&b), None);
    }

    #[test]
    fn off_mode_neither_reads_nor_writes() {
        let dir = tempfile::tempdir().unwrap();
        let off = FeatureCache::new(dir.path(), CacheMode::Off);
        let key = CacheKey::for_bytes(b"x", "");
        off.put(&key, &matrix()).unwrap();
        assert!(!off.entry_path(&key).exists());
        FeatureCache::new(dir.path(), CacheMode::ReadWrite)
            .put(&key, &matrix())
            .unwrap();
        assert_eq!(off.get(&key), None);
    }

    #[test]
    fn get_or_compute_computes_once() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        let key = CacheKey::for_bytes(b"x", "");
        let mut calls = 0;
        for _ in 0..3 {
            let got = cache.get_or_compute(&key, || {
                calls += 1;
                Ok::<_, String>(matrix())
            });
            assert_eq!(got.unwrap(), matrix());
        }
        assert_eq!(calls, 1);
    }

    #[test]
    fn concurrent_writers_leave_a_whole_entry() {
        let dir = tempfile::tempdir().unwrap();
        let key = CacheKey::for_bytes(b"same", "cfg");
        let big = |v: f32| FeatureMatrix::new(500, 40, vec![v; 20_000]).unwrap();
        std::thread::scope(|scope| {
            for t in 0..8 {
                let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
                scope.spawn(move || {
                    for _ in 0..10 {
                        cache.put(&key, &big(t as f32)).unwrap();
                        let got = cache.get(&key).expect("a whole entry is always readable");
                        assert!(got.data.iter().all(|&x| x == got.data[0]));
                    }
                });
            }
        });
        let cache = FeatureCache::new(dir.path(), CacheMode::ReadWrite);
        assert_eq!(cache.get(&key).unwrap().data.len(), 20_000);
        let leftovers = fs::read_dir(cache.entry_path(&key).parent().unwrap())
            .unwrap()
            .count();
        assert_eq!(leftovers, 1, "temporary files are cleaned up");
    }

    #[test]
    fn default_dir_ends_in_ser_features_or_env() {
        let dir = FeatureCache::default_dir();
        assert!(dir.ends_with("ser/features") || std::env::var_os("SER_CACHE_DIR").is_some());
    }

    #[test]
    fn matrix_shape_is_checked() {
        assert!(FeatureMatrix::new(2, 2, vec![0.0; 3]).is_none());
        assert!(FeatureMatrix::new(0, 5, vec![]).is_some());
    }
}
