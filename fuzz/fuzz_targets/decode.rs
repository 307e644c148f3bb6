//! Feeds arbitrary bytes to the decoder and the header probe. Any panic, hang or runaway
//! allocation is a bug: malformed uploads must come back as an `AudioError`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ser_audio::{LoadOptions, load_bytes, probe_bytes};

/// Extension hints, so each container parser gets to go first.
const NAMES: [&str; 8] = [
    "f.wav", "f.flac", "f.mp3", "f.ogg", "f.webm", "f.m4a", "f.caf", "upload",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    // A limit keeps decompression bombs within libFuzzer's memory budget; resampling now and
    // then exercises the resampler on whatever came out.
    let opts = LoadOptions {
        target_rate: (selector & 0x80 != 0).then_some(16_000),
        max_duration_s: Some(120.0),
    };
    let _ = load_bytes(bytes, name, &opts);
    let _ = probe_bytes(bytes, name);
});
