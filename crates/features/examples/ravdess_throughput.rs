//! Featurises every RAVDESS clip with `mfcc40-frames` on all cores (rayon), timing the FLAC
//! decode (claxon, parallel too) and the feature extraction separately.
//!
//! `cargo run --release -p ser-features --example ravdess_throughput [-- DIR [SET]]`
//! DIR defaults to `../shared/data/ravdess` beside the repository; SET to `mfcc40-frames`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use ser_features::{Extractor, FeatureConfig};

fn flac_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            flac_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "flac") {
            out.push(path);
        }
    }
}

fn decode(path: &Path) -> Vec<f32> {
    let mut reader =
        claxon::FlacReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .samples()
        .map(|s| s.expect("flac sample") as f32 / 32768.0)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ravdess");
    let dir = args.get(1).map(PathBuf::from).unwrap_or(default);
    let set = args.get(2).map(String::as_str).unwrap_or("mfcc40-frames");
    let mut files = Vec::new();
    flac_files(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .flac files under {}", dir.display());
    let cfg = FeatureConfig::named(set).expect("feature set");

    let t0 = Instant::now();
    let clips: Vec<Vec<f32>> = files.par_iter().map(|p| decode(p)).collect();
    let decode_s = t0.elapsed().as_secs_f64();
    let audio_s: f64 = clips
        .iter()
        .map(|c| c.len() as f64 / cfg.sample_rate as f64)
        .sum();

    let t1 = Instant::now();
    let frames: usize = clips
        .par_iter()
        .map_init(
            || Extractor::new(&cfg).expect("extractor"),
            |ex, y| ex.extract(y).expect("features").cols,
        )
        .sum();
    let feature_s = t1.elapsed().as_secs_f64();

    println!(
        "{} clips ({audio_s:.0} s of audio), {set}, {} threads: decode {decode_s:.3} s, features {feature_s:.3} s \
         ({frames} frames), total {:.3} s",
        clips.len(),
        rayon::current_num_threads(),
        decode_s + feature_s
    );
}
