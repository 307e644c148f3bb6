//! Feeds arbitrary bytes, as an uploaded dataset ZIP, to the extractor the web app and
//! `--data x.zip` use, then reads the extracted folder as a dataset. Besides panics and
//! runaway allocations, a finding is any file written outside the destination folder
//! (path traversal) or more bytes written than the limits allow (bombs).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ser_corpus::{OpenOptions, ZipLimits, extract_zip, open_dataset};

const MAX_TOTAL_BYTES: u64 = 8 << 20;

fuzz_target!(|data: &[u8]| {
    let sandbox = tempfile::tempdir().expect("temporary folder");
    let zip = sandbox.path().join("upload.zip");
    std::fs::write(&zip, data).expect("write the input");
    let dest = sandbox.path().join("out");
    let limits = ZipLimits {
        max_total_bytes: MAX_TOTAL_BYTES,
        max_entries: 1_000,
        ..ZipLimits::default()
    };
    let extracted = extract_zip(&zip, &dest, &limits);
    let mut written = 0;
    for entry in walk(sandbox.path()) {
        assert!(
            entry == zip || entry.starts_with(&dest),
            "{} written outside the destination",
            entry.display()
        );
        written += std::fs::symlink_metadata(&entry).map_or(0, |m| m.len());
    }
    assert!(
        written <= MAX_TOTAL_BYTES + data.len() as u64,
        "{written} bytes on disk, limit {MAX_TOTAL_BYTES}"
    );
    if extracted.is_ok() {
        let _ = open_dataset(&dest, &OpenOptions::default());
    }
});

/// Every file (not folder) under `root`, following no links.
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                _ => files.push(path),
            }
        }
    }
    files
}
