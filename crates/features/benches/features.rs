//! Criterion benchmarks: pooled180 on 60 s of audio, mfcc40-frames on a 3.5 s clip.

use criterion::{Criterion, criterion_group, criterion_main};
use ser_features::{Extractor, FeatureConfig};
use std::hint::black_box;

#[path = "support/signal.rs"]
mod signal;
use signal::synthetic;

fn bench(c: &mut Criterion) {
    let long = synthetic(22050, 60.0);
    let mut pooled = Extractor::new(&FeatureConfig::named("pooled180").unwrap()).unwrap();
    c.bench_function("pooled180_60s_22050", |b| {
        b.iter(|| pooled.extract(black_box(&long)).unwrap())
    });

    let clip = synthetic(16000, 3.5);
    let mut frames = Extractor::new(&FeatureConfig::named("mfcc40-frames").unwrap()).unwrap();
    c.bench_function("mfcc40_frames_3.5s_16k", |b| {
        b.iter(|| frames.extract(black_box(&clip)).unwrap())
    });

    let mut rich = Extractor::new(&FeatureConfig::named("pooled-rich").unwrap()).unwrap();
    c.bench_function("pooled_rich_3.5s_16k", |b| {
        b.iter(|| rich.extract(black_box(&clip)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
