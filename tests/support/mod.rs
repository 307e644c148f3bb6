//! Shared helpers of the binary's integration tests: generated audio, no binary fixtures.

use std::path::Path;

/// Writes a 16-bit mono WAV of `seconds` of `signal(t)` (t in seconds, values in [-1, 1]).
pub fn write_wav(path: &Path, sample_rate: u32, seconds: f32, signal: impl Fn(f32) -> f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let n = (sample_rate as f32 * seconds) as usize;
    for i in 0..n {
        let v = signal(i as f32 / sample_rate as f32);
        writer.write_sample((v * 32767.0) as i16).unwrap();
    }
    writer.finalize().unwrap();
}

/// A sine of `freq` Hz at amplitude `amplitude`.
pub fn sine(freq: f32, amplitude: f32) -> impl Fn(f32) -> f32 {
    move |t| amplitude * (2.0 * std::f32::consts::PI * freq * t).sin()
}
