//! Safe extraction of an uploaded dataset ZIP: only audio files come out, nothing escapes the
//! destination folder, and size limits hold even when the archive's headers lie.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zip::ZipArchive;

use crate::dataset::{is_audio_path, is_junk_name};
use crate::error::CorpusError;

/// Limits that bound the work and disk space an archive can demand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZipLimits {
    /// Total bytes written, over all entries.
    pub max_total_bytes: u64,
    /// Entries in the archive (files, folders, everything).
    pub max_entries: usize,
    /// Largest allowed uncompressed/compressed ratio of one entry (zip-bomb guard)...
    pub max_ratio: u64,
    /// ...checked once an entry has produced this many bytes (tiny files compress wildly).
    pub ratio_grace_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_total_bytes: 4 << 30,
            max_entries: 100_000,
            max_ratio: 100,
            ratio_grace_bytes: 1 << 20,
        }
    }
}

/// What an extraction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractReport {
    /// The folder the files were written under.
    pub dest: PathBuf,
    /// Audio files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Files left out because their extension is not audio.
    pub skipped_non_audio: usize,
    /// `__MACOSX/` and dotfiles.
    pub skipped_hidden: usize,
    /// Symbolic links, never followed or written.
    pub skipped_symlinks: usize,
}

/// Extracts the audio files of `zip_path` under `dest_dir` (created if missing).
///
/// Refuses (with an error naming the entry) absolute, drive-letter, UNC and `..` paths,
/// duplicate entries, and anything over `limits`. Partially written files of a refused
/// entry are removed; earlier entries stay, so callers should extract into a fresh folder.
pub fn extract_zip(
    zip_path: &Path,
    dest_dir: &Path,
    limits: &ZipLimits,
) -> Result<ExtractReport, CorpusError> {
    let file = File::open(zip_path).map_err(|e| CorpusError::io(zip_path, e))?;
    let zip_err = |source| CorpusError::Zip {
        path: zip_path.to_path_buf(),
        source,
    };
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    if archive.len() > limits.max_entries {
        return Err(limit(
            zip_path,
            format!("{} entries (limit {})", archive.len(), limits.max_entries),
        ));
    }
    fs::create_dir_all(dest_dir).map_err(|e| CorpusError::io(dest_dir, e))?;
    let mut report = ExtractReport {
        dest: dest_dir.to_path_buf(),
        ..ExtractReport::default()
    };
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_err)?;
        let name = entry.name().map_err(zip_err)?.into_owned();
        let parts =
            safe_components(&name).map_err(|reason| unsafe_entry(zip_path, &name, reason))?;
        if entry.is_dir() || parts.is_empty() {
            continue;
        }
        match classify(&parts, entry.is_symlink()) {
            Some(Kind::Symlink) => report.skipped_symlinks += 1,
            Some(Kind::Hidden) => report.skipped_hidden += 1,
            Some(Kind::NonAudio) => report.skipped_non_audio += 1,
            None => {
                let target = parts.iter().fold(dest_dir.to_path_buf(), |p, c| p.join(c));
                let ctx = EntryCtx {
                    zip_path,
                    name: &name,
                    compressed: entry.compressed_size(),
                    declared: entry.size(),
                };
                report.bytes += write_entry(&mut entry, &target, &ctx, limits, report.bytes)?;
                report.files += 1;
            }
        }
    }
    Ok(report)
}

enum Kind {
    Symlink,
    Hidden,
    NonAudio,
}

fn classify(parts: &[String], symlink: bool) -> Option<Kind> {
    if symlink {
        Some(Kind::Symlink)
    } else if parts.iter().any(|p| is_junk_name(p)) {
        Some(Kind::Hidden)
    } else if !is_audio_path(Path::new(parts.last()?)) {
        Some(Kind::NonAudio)
    } else {
        None
    }
}

/// Splits an entry name into plain components, refusing anything that could escape the
/// destination. Both `/` and `\` separate (archives made on Windows use either).
fn safe_components(name: &str) -> Result<Vec<String>, String> {
    if name.contains('\0') {
        return Err("name contains a NUL byte".into());
    }
    if name.starts_with(['/', '\\']) {
        return Err("absolute path".into());
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err("Windows drive path".into());
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err("path traversal ('..')".into()),
            p if p.contains(':') => return Err("':' in a path component".into()),
            p => parts.push(p.to_string()),
        }
    }
    Ok(parts)
}

struct EntryCtx<'a> {
    zip_path: &'a Path,
    name: &'a str,
    compressed: u64,
    declared: u64,
}

/// Writes one entry, removing the partial file if any limit trips. Returns bytes written.
fn write_entry(
    entry: &mut impl Read,
    target: &Path,
    ctx: &EntryCtx<'_>,
    limits: &ZipLimits,
    written_so_far: u64,
) -> Result<u64, CorpusError> {
    let budget = limits.max_total_bytes.saturating_sub(written_so_far);
    if ctx.declared > budget {
        return Err(over_total(ctx, limits));
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| CorpusError::io(parent, e))?;
    }
    let mut out = match File::create_new(target) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(unsafe_entry(
                ctx.zip_path,
                ctx.name,
                "duplicate entry".into(),
            ));
        }
        Err(e) => return Err(CorpusError::io(target, e)),
    };
    let result = copy_limited(entry, &mut out, target, ctx, limits, budget);
    if result.is_err() {
        drop(out);
        let _ = fs::remove_file(target);
    }
    result
}

/// Streams with a running count so the limits hold whatever the headers claim.
fn copy_limited(
    entry: &mut impl Read,
    out: &mut File,
    target: &Path,
    ctx: &EntryCtx<'_>,
    limits: &ZipLimits,
    budget: u64,
) -> Result<u64, CorpusError> {
    let max_by_ratio = ctx
        .compressed
        .saturating_mul(limits.max_ratio)
        .max(limits.ratio_grace_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(unsafe_entry(
                    ctx.zip_path,
                    ctx.name,
                    format!("corrupt data: {e}"),
                ));
            }
        };
        written += n as u64;
        if written > budget {
            return Err(over_total(ctx, limits));
        }
        if written > max_by_ratio {
            return Err(limit(
                ctx.zip_path,
                format!(
                    "entry '{}' expands more than {}x (compressed {} bytes): possible zip bomb",
                    ctx.name, limits.max_ratio, ctx.compressed
                ),
            ));
        }
        out.write_all(&buf[..n])
            .map_err(|e| CorpusError::io(target, e))?;
    }
    Ok(written)
}

fn over_total(ctx: &EntryCtx<'_>, limits: &ZipLimits) -> CorpusError {
    limit(
        ctx.zip_path,
        format!(
            "uncompressed contents exceed {} bytes (at entry '{}')",
            limits.max_total_bytes, ctx.name
        ),
    )
}

fn limit(path: &Path, reason: String) -> CorpusError {
    CorpusError::ZipLimit {
        path: path.to_path_buf(),
        reason,
    }
}

fn unsafe_entry(path: &Path, entry: &str, reason: String) -> CorpusError {
    CorpusError::UnsafeZipEntry {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn running_count_holds_when_the_header_lies() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("liar.wav");
        let ctx = EntryCtx {
            zip_path: Path::new("in.zip"),
            name: "liar.wav",
            compressed: 10,
            declared: 100,
        };
        let limits = ZipLimits {
            max_total_bytes: 1 << 20,
            max_ratio: u64::MAX,
            ..ZipLimits::default()
        };
        let mut source = io::repeat(7).take(3 << 20);
        let err = write_entry(&mut source, &target, &ctx, &limits, 0).unwrap_err();
        assert!(matches!(err, CorpusError::ZipLimit { .. }), "{err}");
        assert!(!target.exists(), "partial file removed");
    }

    proptest! {
        #[test]
        fn accepted_names_stay_inside(name in "[a-zA-Z0-9._/\\:-]{0,40}") {
            if let Ok(parts) = safe_components(&name) {
                for part in parts {
                    prop_assert!(part != ".." && part != "." && !part.is_empty());
                    prop_assert!(!part.contains(['/', '\\', ':']));
                }
            }
        }
    }

    #[test]
    fn safe_names_pass() {
        assert_eq!(safe_components("a/b/c.wav").unwrap(), ["a", "b", "c.wav"]);
        assert_eq!(safe_components("a\\b.wav").unwrap(), ["a", "b.wav"]);
        assert_eq!(safe_components("./a//b.wav").unwrap(), ["a", "b.wav"]);
    }

    #[test]
    fn unsafe_names_are_refused() {
        for name in [
            "../x.wav",
            "a/../../x.wav",
            "a\\..\\x.wav",
            "/etc/x.wav",
            "\\\\server\\share\\x.wav",
            "C:\\x.wav",
            "c:/x.wav",
            "a/b:c.wav",
            "a\0.wav",
        ] {
            assert!(safe_components(name).is_err(), "{name}");
        }
    }

    #[test]
    fn classification() {
        let parts = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert!(matches!(
            classify(&parts("__MACOSX/a/._x.wav"), false),
            Some(Kind::Hidden)
        ));
        assert!(matches!(
            classify(&parts("a/.DS_Store"), false),
            Some(Kind::Hidden)
        ));
        assert!(matches!(
            classify(&parts("a/readme.txt"), false),
            Some(Kind::NonAudio)
        ));
        assert!(matches!(
            classify(&parts("a/x.wav"), true),
            Some(Kind::Symlink)
        ));
        assert!(classify(&parts("a/x.WAV"), false).is_none());
    }
}
