//! Min/median wall time per call on the criterion bench's signals (less noisy than means on a
//! busy machine; compare with scripts/librosa_bench.py, which prints the same statistics).
//!
//! `taskset -c 0 cargo run --release -p ser-features --example speed [-- NAME_FILTER [RUNS_FACTOR]]`

use std::time::Instant;

use ser_features::{Extractor, FeatureConfig, Pyin, PyinConfig};

#[path = "../benches/support/signal.rs"]
mod signal;

fn bench(name: &str, set: &str, y: &[f32], runs: usize) {
    let mut ex = Extractor::new(&FeatureConfig::named(set).unwrap()).unwrap();
    time(name, runs, || {
        std::hint::black_box(ex.extract(y).unwrap());
    });
}

fn time(name: &str, runs: usize, mut call: impl FnMut()) {
    let mut args = std::env::args().skip(1);
    if args.next().is_some_and(|filter| !name.contains(&filter)) {
        return;
    }
    let runs = runs
        * args
            .next()
            .map_or(1, |f| f.parse::<usize>().expect("RUNS_FACTOR"));
    call();
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            call();
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
    let clip = signal::synthetic(16000, 3.5);
    let mut pyin = Pyin::new(16000.0, PyinConfig::SPEECH_DEFAULT).unwrap();
    time("pyin 3.5 s @16k", 20, || {
        std::hint::black_box(pyin.compute(&clip).unwrap());
    });
}
