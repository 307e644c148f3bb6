//! Hostile and oversized archives are refused; junk is skipped and counted.

mod common;

use std::fs;
use std::io::Write;

use ser_corpus::{CorpusError, ZipLimits, extract_zip};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

fn extract(
    entries: &[(&str, &[u8])],
    limits: &ZipLimits,
) -> (
    tempfile::TempDir,
    Result<ser_corpus::ExtractReport, CorpusError>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("in.zip");
    common::write_zip(&zip_path, entries);
    let result = extract_zip(&zip_path, &tmp.path().join("out"), limits);
    (tmp, result)
}

#[test]
fn audio_is_extracted_and_junk_counted() {
    let entries: &[(&str, &[u8])] = &[
        ("data/angry/a.wav", b"1234"),
        ("data/sad/b.FLAC", b"56"),
        ("data/notes.txt", b"x"),
        ("data/.hidden.wav", b"x"),
        ("__MACOSX/data/._a.wav", b"x"),
        ("data/.DS_Store", b"x"),
    ];
    let (tmp, result) = extract(entries, &ZipLimits::default());
    let report = result.unwrap();
    assert_eq!((report.files, report.bytes), (2, 6));
    assert_eq!((report.skipped_non_audio, report.skipped_hidden), (1, 3));
    let out = tmp.path().join("out");
    assert_eq!(fs::read(out.join("data/angry/a.wav")).unwrap(), b"1234");
    assert!(!out.join("__MACOSX").exists());
    assert!(!out.join("data/notes.txt").exists());
}

#[test]
fn traversal_and_absolute_paths_are_refused() {
    for name in [
        "../evil.wav",
        "a/../../evil.wav",
        "/tmp/evil.wav",
        "C:/evil.wav",
        "\\\\host\\share\\evil.wav",
        "..\\evil.wav",
    ] {
        let (tmp, result) = extract(&[("ok.wav", b"1"), (name, b"2")], &ZipLimits::default());
        match result {
            Err(CorpusError::UnsafeZipEntry { entry, .. }) => assert_eq!(entry, name),
            other => panic!("{name}: expected refusal, got {other:?}"),
        }
        assert!(!tmp.path().join("evil.wav").exists());
    }
}

#[test]
fn error_names_archive_and_entry() {
    let (tmp, result) = extract(&[("../evil.wav", b"2")], &ZipLimits::default());
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("in.zip")
            && message.contains("../evil.wav")
            && message.contains("traversal"),
        "{message}"
    );
    drop(tmp);
}

#[test]
fn symlinks_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("links.zip");
    let mut zip = ZipWriter::new(fs::File::create(&zip_path).unwrap());
    zip.add_symlink("link.wav", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    zip.start_file("real.wav", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"abc").unwrap();
    zip.finish().unwrap();
    let out = tmp.path().join("out");
    let report = extract_zip(&zip_path, &out, &ZipLimits::default()).unwrap();
    assert_eq!((report.files, report.skipped_symlinks), (1, 1));
    assert!(fs::symlink_metadata(out.join("link.wav")).is_err());
}

#[test]
fn entry_count_limit() {
    let limits = ZipLimits {
        max_entries: 2,
        ..ZipLimits::default()
    };
    let (_tmp, result) = extract(
        &[("a.wav", b"1"), ("b.wav", b"1"), ("c.wav", b"1")],
        &limits,
    );
    assert!(
        matches!(result, Err(CorpusError::ZipLimit { .. })),
        "{result:?}"
    );
}

#[test]
fn total_size_limit() {
    let limits = ZipLimits {
        max_total_bytes: 10,
        ..ZipLimits::default()
    };
    let (tmp, result) = extract(&[("a.wav", &[1u8; 6]), ("b.wav", &[2u8; 6])], &limits);
    let err = result.unwrap_err();
    assert!(matches!(err, CorpusError::ZipLimit { .. }), "{err}");
    assert!(
        !tmp.path().join("out/b.wav").exists(),
        "partial file removed"
    );
}

#[test]
fn compression_ratio_limit_catches_bombs() {
    let zeros = vec![0u8; 4 << 20];
    let limits = ZipLimits {
        max_ratio: 50,
        ratio_grace_bytes: 1 << 20,
        ..ZipLimits::default()
    };
    let (tmp, result) = extract(&[("bomb.wav", &zeros)], &limits);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("zip bomb"), "{err}");
    assert!(!tmp.path().join("out/bomb.wav").exists());
    // Small, highly compressible files stay under the grace size and pass.
    let (_tmp, ok) = extract(&[("quiet.wav", &[0u8; 4096])], &limits);
    assert_eq!(ok.unwrap().files, 1);
}

/// Rewrites the uncompressed-size fields (local header and central directory) of the
/// first entry to `size`.
fn lie_about_size(bytes: &mut [u8], size: u32) {
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    bytes[22..26].copy_from_slice(&size.to_le_bytes());
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

#[test]
fn lying_header_cannot_bypass_the_total_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("liar.zip");
    common::write_zip(&zip_path, &[("liar.wav", &vec![7u8; 3 << 20])]);
    let mut bytes = fs::read(&zip_path).unwrap();
    lie_about_size(&mut bytes, 100);
    fs::write(&zip_path, &bytes).unwrap();
    let limits = ZipLimits {
        max_total_bytes: 1 << 20,
        max_ratio: u64::MAX,
        ..ZipLimits::default()
    };
    let out = tmp.path().join("out");
    let result = extract_zip(&zip_path, &out, &limits);
    assert!(result.is_err(), "{result:?}");
    let written = fs::metadata(out.join("liar.wav"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(written <= 1 << 20, "wrote {written} bytes past the limit");
}

#[test]
fn duplicate_entries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("in.zip");
    common::write_zip(&zip_path, &[("a.wav", b"1")]);
    let out = tmp.path().join("out");
    extract_zip(&zip_path, &out, &ZipLimits::default()).unwrap();
    let err = extract_zip(&zip_path, &out, &ZipLimits::default()).unwrap_err();
    assert!(err.to_string().contains("duplicate"), "{err}");
}

#[test]
fn not_a_zip_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fake.zip");
    fs::write(&path, b"this is not an archive").unwrap();
    let err = extract_zip(&path, &tmp.path().join("out"), &ZipLimits::default()).unwrap_err();
    assert!(matches!(err, CorpusError::Zip { .. }));
    assert!(err.to_string().contains("fake.zip"), "{err}");
    let missing = extract_zip(
        &tmp.path().join("none.zip"),
        tmp.path(),
        &ZipLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(missing, CorpusError::Io { .. }));
}
