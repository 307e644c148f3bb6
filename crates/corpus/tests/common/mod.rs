//! Helpers shared by the integration tests: made-up trees and archives.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Creates empty-ish files (the crate never decodes audio) at the given relative paths.
pub fn touch_all(root: &Path, rels: &[&str]) {
    for rel in rels {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"not really audio").unwrap();
    }
}

/// Writes a deflated ZIP with the given (name, contents) entries.
pub fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = ZipWriter::new(fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

/// The shared RAVDESS copy: `$SER_RAVDESS_DIR`, else `../../../shared/data/ravdess`
/// relative to this crate. Fails loudly when it is missing.
pub fn ravdess_dir() -> PathBuf {
    let dir = std::env::var_os("SER_RAVDESS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ravdess")
        });
    assert!(
        dir.join("MANIFEST.csv").is_file(),
        "RAVDESS copy not found at {} (expected MANIFEST.csv and Actor_01..24; set \
         SER_RAVDESS_DIR to point elsewhere)",
        dir.display()
    );
    dir
}
