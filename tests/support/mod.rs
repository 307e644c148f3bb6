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

/// A speech-like tone: a sine of `freq` Hz at up to `amplitude` whose level rises and falls
/// by 14 dB four times a second, as syllables do (a steady tone is not speech to the
/// voice-activity detector).
pub fn sine(freq: f32, amplitude: f32) -> impl Fn(f32) -> f32 {
    move |t| {
        let syllables = 0.2 + 0.8 * (std::f32::consts::PI * 4.0 * t).sin().abs();
        amplitude * syllables * (2.0 * std::f32::consts::PI * freq * t).sin()
    }
}

/// Writes 0.75 s of a tone at `freq`, detuned a little per speaker and take.
fn write_clip(path: &Path, freq: f32, speaker: usize, take: usize) {
    let detune = 1.0 + 0.02 * speaker as f32 + 0.01 * take as f32;
    write_wav(path, 16_000, 0.75, sine(freq * detune, 0.4));
}

/// A small labelled dataset: `Actor_0k/<emotion>/clipN.wav` for 4 speakers, where "sad" is
/// a low tone and "happy" a high one (separable by any working pipeline).
#[allow(dead_code)] // not every test binary uses every helper
pub fn tone_dataset(root: &Path) {
    for speaker in 1..=4 {
        for (emotion, freq) in [("sad", 150.0), ("happy", 900.0)] {
            let dir = root.join(format!("Actor_{speaker:02}")).join(emotion);
            std::fs::create_dir_all(&dir).unwrap();
            for take in 0..5 {
                write_clip(&dir.join(format!("clip{take}.wav")), freq, speaker, take);
            }
        }
    }
}
