//! Speed of the networks on the Flex CPU backend.
//!
//! ```text
//! cargo run --release -p ser-model --example nets_bench -- train [steps]        # report 004's CNN
//! cargo run --release -p ser-model --example nets_bench -- train [steps] cnn4   # the shipped net
//! RAYON_NUM_THREADS=1 cargo run --release -p ser-model --example nets_bench -- infer
//! ```
//! `train`: forward + backward + AdamW step, batch 32, 7 classes, of `cnn1d-mfcc` on 40 x 110
//! MFCC frames (compare with `scripts/torch_bench.py`) or of the shipped model's `cnn4`
//! (statistics pooling) on 64 x 300 log-mel frames (`scripts/torch_bench.py ... cnn4`); prints
//! samples/s.
//! `infer`: one 3 s clip (110 frames; 180-dim pooled vector) through every network; prints
//! milliseconds per clip.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData, activation::log_softmax};
use ser_model::nets::cnn4::{Cnn4Config, TimePooling};
use ser_model::rng::SplitMix64;
use ser_model::{Architecture, InputKind};

const CLASSES: usize = 7;
const FRAMES: usize = 110;

fn random(shape: [usize; 3], rng: &mut SplitMix64, device: &Device) -> Tensor<3> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The network to train and its input (rows x frames).
fn training_setup(name: &str) -> (Architecture, usize, usize) {
    match name {
        "cnn4" => {
            let config = Cnn4Config {
                pooling: TimePooling::MeanStd,
                ..Cnn4Config::default()
            };
            (Architecture::Cnn4(config), 64, 300)
        }
        _ => (
            Architecture::from_name(name).expect("known network"),
            40,
            FRAMES,
        ),
    }
}

fn train(steps: usize, name: &str) {
    ser_model::keep_large_buffers_in_heap();
    let device = Device::flex().autodiff();
    device.seed(1);
    let (arch, rows, frames) = training_setup(name);
    let mut model = arch.build(rows, CLASSES, &device).expect("builds");
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let mut rng = SplitMix64::new(2);
    let batch = 32;
    let x = random([batch, rows, frames], &mut rng, &device);
    let labels: Vec<i64> = (0..batch).map(|i| (i % CLASSES) as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
    let mut step = |model: ser_model::Net| {
        let logits = model.forward(x.clone());
        let loss = log_softmax(logits, 1)
            .gather(1, y.clone().unsqueeze_dim(1))
            .mean()
            .neg();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    for _ in 0..3 {
        model = step(model);
    }
    let started = Instant::now();
    for _ in 0..steps {
        model = step(model);
    }
    let _ = model.num_params();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "burn-flex {name} train: {:.1} samples/s ({:.1} ms/step, batch {batch}, {rows}x{frames}, {steps} steps)",
        (steps * batch) as f64 / secs,
        1e3 * secs / steps as f64
    );
}

fn infer() {
    let device = Device::flex();
    let mut rng = SplitMix64::new(3);
    for name in Architecture::NAMES {
        let arch = Architecture::from_name(name).expect("known");
        let (rows, cols) = match (arch.input_kind(), name) {
            (InputKind::Pooled, _) => (180, 1),
            (_, "cnn-tm" | "resnet9") => (64, FRAMES),
            _ => (40, FRAMES),
        };
        let net = arch.build(rows, CLASSES, &device).expect("builds").valid();
        let x = random([1, rows, cols], &mut rng, &device);
        for _ in 0..3 {
            let _ = net.forward(x.clone()).into_data();
        }
        let runs = 30;
        let started = Instant::now();
        for _ in 0..runs {
            let _ = net.forward(x.clone()).into_data();
        }
        let ms = 1e3 * started.elapsed().as_secs_f64() / runs as f64;
        let params = arch.parameter_count(rows, CLASSES).unwrap_or(0);
        println!("{name:>13}: {ms:7.2} ms per clip  ({rows}x{cols} input, {params} parameters)");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("train") => train(
            args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20),
            args.get(3).map_or("cnn1d-mfcc", String::as_str),
        ),
        Some("infer") => infer(),
        _ => eprintln!("usage: nets_bench train [steps] [cnn1d-mfcc|cnn4] | infer"),
    }
}
