//! The synthetic benchmark signal, shared by the criterion bench and `examples/speed.rs`
//! (scripts/librosa_bench.py generates the same one).

/// Deterministic speech-like test signal: a gliding harmonic tone plus LCG noise.
pub fn synthetic(sr: u32, seconds: f64) -> Vec<f32> {
    let n = (sr as f64 * seconds) as usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            let t = i as f64 / sr as f64;
            let f0 = 120.0 + 40.0 * (2.0 * std::f64::consts::PI * 0.3 * t).sin();
            let phase = 2.0 * std::f64::consts::PI * f0 * t;
            let tone: f64 = (1..=5).map(|h| (h as f64 * phase).sin() / h as f64).sum();
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            (0.2 * tone + 0.05 * noise) as f32
        })
        .collect()
}
