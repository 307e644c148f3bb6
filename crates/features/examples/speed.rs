//! Min/median wall time per call on the criterion bench's signals (less noisy than means on a
//! busy machine; compare with scripts/librosa_bench.py, which prints the same statistics).
//!
//! `taskset -c 0 cargo run --release -p ser-features --example speed`

use std::time::Instant;

use ser_features::{Extractor, FeatureConfig};

#[path = "../benches/support/signal.rs"]
mod signal;

fn bench(name: &str, set: &str, y: &[f32], runs: usize) {
    let mut ex = Extractor::new(&FeatureConfig::named(set).unwrap()).unwrap();
    ex.extract(y).unwrap();
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(ex.extract(y).unwrap());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{name:<28} min {:9.3} ms   median {:9.3} ms   ({runs} runs)",
        ms[0],
        ms[runs / 2]
    );
}

fn main() {
    bench(
        "pooled180 60 s @22050",
        "pooled180",
        &signal::synthetic(22050, 60.0),
        30,
    );
    bench(
        "mfcc40-frames 3.5 s @16k",
        "mfcc40-frames",
        &signal::synthetic(16000, 3.5),
        300,
    );
    bench(
        "pooled-rich 3.5 s @16k",
        "pooled-rich",
        &signal::synthetic(16000, 3.5),
        100,
    );
}
