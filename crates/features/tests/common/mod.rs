//! Fixture access shared by the integration tests: the librosa goldens in
//! `shared/fixtures/librosa`, found relative to this crate.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `<repo>/../shared/fixtures/librosa`, or a panic that says where it was looked for.
pub fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/librosa");
    assert!(
        dir.join("manifest.json").is_file(),
        "librosa fixtures not found at {} (expected shared/ beside the repository checkout)",
        dir.display()
    );
    dir
}

pub fn manifest() -> Value {
    let path = fixtures_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A golden array: shape and values (f64, whatever the stored dtype).
pub struct Npy {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

pub fn read_npy(path: &Path) -> Npy {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let open =
        || npyz::NpyFile::new(&bytes[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = open().shape().iter().map(|&d| d as usize).collect();
    // float64 (pooled goldens) or float32 (everything else)
    let data = match open().into_vec::<f64>() {
        Ok(v) => v,
        Err(_) => open()
            .into_vec::<f32>()
            .expect("float32 or float64 npy")
            .into_iter()
            .map(f64::from)
            .collect(),
    };
    Npy { shape, data }
}

/// Decodes a fixture input: 16-bit WAV/FLAC as int16 / 32768, or a float32 `.npy`.
pub fn read_input(entry: &Value) -> (Vec<f32>, f64) {
    let dir = fixtures_dir();
    let sr = entry["sr"].as_f64().expect("sr");
    let samples = if let Some(npy) = entry["decoded_npy"].as_str() {
        read_npy(&dir.join(npy))
            .data
            .iter()
            .map(|&v| v as f32)
            .collect()
    } else {
        let path = dir.join(entry["audio"].as_str().expect("audio"));
        if path.extension().is_some_and(|e| e == "flac") {
            decode_flac(&path)
        } else {
            decode_wav(&path)
        }
    };
    (samples, sr)
}

pub fn decode_wav(path: &Path) -> Vec<f32> {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .samples::<i16>()
        .map(|s| s.expect("wav sample") as f32 / 32768.0)
        .collect()
}

pub fn decode_flac(path: &Path) -> Vec<f32> {
    let mut reader =
        claxon::FlacReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        reader.streaminfo().bits_per_sample,
        16,
        "{}",
        path.display()
    );
    reader
        .samples()
        .map(|s| s.expect("flac sample") as f32 / 32768.0)
        .collect()
}

/// Every input of the manifest by id.
pub fn inputs(manifest: &Value) -> Vec<(String, Value)> {
    manifest["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .map(|e| (e["id"].as_str().expect("id").to_string(), e.clone()))
        .collect()
}
