//! Feeds arbitrary bytes to the model-bundle reader and, when they parse, builds a predictor
//! and runs it once. Any panic or runaway allocation is a bug: a corrupt `.ser` file must come
//! back as a `BundleError`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ser_model::input::FeatureView;
use ser_model::{Bundle, Predictor};

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_bytes(data, Path::new("fuzz.ser")) else {
        return;
    };
    let Ok(predictor) = Predictor::new(&bundle) else {
        return;
    };
    let rows = bundle.meta.input.features;
    let cols = bundle.meta.input.frames.unwrap_or(1).min(512);
    if rows > 4096 {
        return;
    }
    let frames = vec![0.5f32; rows * cols];
    if let Ok(view) = FeatureView::new(rows, cols, &frames) {
        let _ = predictor.predict(view);
    }
});
