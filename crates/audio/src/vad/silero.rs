//! Silero VAD v6 (Silero Team, MIT licence: `assets/SILERO_VAD_LICENSE`), its 16 kHz network
//! run natively: no ONNX runtime. The weights are those of `silero_vad_op18_ifless.onnx` in
//! the `silero-vad` 6.2.3 wheel from PyPI, copied into `assets/silero_vad_v6_16k.safetensors`
//! by `scripts/silero_weights.py`.
//!
//! Every 512 samples (32 ms) the network sees them with the 64 samples before (576, padded
//! by reflection to 640): a 256-point STFT every 128 samples (Hann window; the model's
//! convolution basis is exactly that DFT, so an FFT computes it), four 1-D convolutions with
//! ReLU, an LSTM cell carried from chunk to chunk, and a sigmoid: the probability that the
//! chunk is speech. Checked against onnxruntime on the ONNX model (the unit test's golden
//! values).

use std::sync::{Arc, OnceLock};

use realfft::{RealFftPlanner, RealToComplex};

use crate::AudioError;
use crate::resample::StreamResampler;

/// The network's sample rate; other rates are resampled to it.
pub const RATE: u32 = 16_000;
/// Samples per probability (32 ms).
pub const CHUNK: usize = 512;
const CONTEXT: usize = 64;
const N_FFT: usize = 256;
const FFT_HOP: usize = 128;
const BINS: usize = N_FFT / 2 + 1;
const HIDDEN: usize = 128;

const WEIGHTS: &[u8] = include_bytes!("../../assets/silero_vad_v6_16k.safetensors");

/// Chunks whose convolutions run as one matrix product (2 s of audio).
const BATCH: usize = 64;

/// The weights as matrices for `rows · matrix` products: each convolution (kernel 3,
/// padding 1) as `[3 · inputs][outputs]` over inputs laid out tap by tap (im2col).
struct Weights {
    conv1: Vec<f32>,
    conv2: Vec<f32>,
    conv3: Vec<f32>,
    /// conv4 sees one position: only its centre tap meets data (`[64][128]`).
    conv4: Vec<f32>,
    biases: [Vec<f32>; 4],
    /// `[HIDDEN][4 · HIDDEN]`, gates in PyTorch's order (input, forget, cell, output).
    w_ih: Vec<f32>,
    /// `[4 · HIDDEN][HIDDEN]`, one row per gate unit, for the step-by-step recurrence.
    w_hh: Vec<f32>,
    /// `bias_ih + bias_hh`.
    lstm_bias: Vec<f32>,
    out_weight: Vec<f32>,
    out_bias: f32,
}

fn weights() -> &'static Weights {
    static WEIGHTS_ONCE: OnceLock<Weights> = OnceLock::new();
    WEIGHTS_ONCE.get_or_init(|| load(WEIGHTS).expect("the bundled Silero weights are valid"))
}

fn load(bytes: &[u8]) -> Result<Weights, String> {
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
        let t = tensors.tensor(name).map_err(|e| format!("{name}: {e}"))?;
        if t.shape() != shape || t.dtype() != safetensors::Dtype::F32 {
            return Err(format!("{name}: {:?} {:?}", t.dtype(), t.shape()));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    // [out][in][tap] -> [tap · inputs + in][out], keeping only `taps`.
    let conv = |i: usize, inputs: usize, outputs: usize, taps: &[usize]| {
        let w = get(&format!("conv{i}.weight"), &[outputs, inputs, 3])?;
        let mut matrix = vec![0.0; taps.len() * inputs * outputs];
        for (row_tap, &tap) in taps.iter().enumerate() {
            for c in 0..inputs {
                for o in 0..outputs {
                    matrix[(row_tap * inputs + c) * outputs + o] = w[(o * inputs + c) * 3 + tap];
                }
            }
        }
        let bias = get(&format!("conv{i}.bias"), &[outputs])?;
        Ok::<_, String>((matrix, bias))
    };
    let gates = 4 * HIDDEN;
    let (conv1, b1) = conv(1, BINS, 128, &[0, 1, 2])?;
    let (conv2, b2) = conv(2, 128, 64, &[0, 1, 2])?;
    let (conv3, b3) = conv(3, 64, 64, &[0, 1, 2])?;
    let (conv4, b4) = conv(4, 64, HIDDEN, &[1])?;
    let w_ih = get("lstm_cell.weight_ih", &[gates, HIDDEN])?;
    let bias_ih = get("lstm_cell.bias_ih", &[gates])?;
    let bias_hh = get("lstm_cell.bias_hh", &[gates])?;
    Ok(Weights {
        conv1,
        conv2,
        conv3,
        conv4,
        biases: [b1, b2, b3, b4],
        w_ih: transpose(&w_ih, gates, HIDDEN),
        w_hh: get("lstm_cell.weight_hh", &[gates, HIDDEN])?,
        lstm_bias: bias_ih.iter().zip(&bias_hh).map(|(a, b)| a + b).collect(),
        out_weight: get("final_conv.weight", &[1, HIDDEN, 1])?,
        out_bias: get("final_conv.bias", &[1])?[0],
    })
}

fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

/// `out [m][n] = relu?(lhs [m][k] · rhs [k][n] + bias)`, row-major.
fn matmul_bias(lhs: &[f32], rhs: &[f32], bias: &[f32], k: usize, relu: bool, out: &mut Vec<f32>) {
    let n = bias.len();
    let m = lhs.len() / k;
    out.clear();
    out.resize(m * n, 0.0);
    // SAFETY: the strides address `lhs` as m x k, `rhs` as k x n and `out` as m x n, all
    // row-major, which the lengths above guarantee.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    for row in out.chunks_exact_mut(n) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
            if relu {
                *v = v.max(0.0);
            }
        }
    }
}

/// Rows of `3 · channels` for a kernel-3, padding-1 convolution over `positions` positions
/// of each chunk's `[position][channel]` block in `x`, sampled every `stride` (im2col).
fn im2col(x: &[f32], channels: usize, positions: usize, stride: usize, out: &mut Vec<f32>) {
    let per_chunk = positions * channels;
    let outputs = (positions + 2 - 3) / stride + 1;
    out.clear();
    for chunk in x.chunks_exact(per_chunk) {
        for t in 0..outputs {
            for tap in 0..3 {
                match (t * stride + tap).checked_sub(1).filter(|&p| p < positions) {
                    Some(p) => out.extend_from_slice(&chunk[p * channels..][..channels]),
                    None => out.extend(std::iter::repeat_n(0.0, channels)),
                }
            }
        }
    }
}

/// Dot product with eight running sums, which the compiler turns into vector instructions.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            sums[i] += x[i] * y[i];
        }
    }
    sums.iter().sum()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Speech probabilities of a recording that arrives in pieces: one per 512 samples at 16 kHz
/// (32 ms), the last chunk zero-padded. Chunks are gathered 64 at a time (2 s) so that the
/// convolutions run as matrix products; only the LSTM goes chunk by chunk.
pub struct SileroVad {
    weights: &'static Weights,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    resampler: Option<StreamResampler>,
    /// Samples at 16 kHz not yet in a batch, after the 64 of context before them.
    pending: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    a: Vec<f32>,
    b: Vec<f32>,
    gates: Vec<f32>,
}

impl SileroVad {
    /// A detector for audio at `sample_rate` (resampled to 16 kHz inside).
    pub fn new(sample_rate: u32) -> Result<Self, AudioError> {
        let resampler = (sample_rate != RATE)
            .then(|| StreamResampler::new(sample_rate, RATE))
            .transpose()?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let window = crate::hann_periodic(N_FFT);
        Ok(Self {
            weights: weights(),
            fft,
            window,
            resampler,
            pending: vec![0.0; CONTEXT],
            h: vec![0.0; HIDDEN],
            c: vec![0.0; HIDDEN],
            scratch: Scratch::default(),
        })
    }

    /// Appends to `probabilities` one speech probability per chunk that `samples` completes
    /// (in batches: up to 2 s later than the samples).
    pub fn push(&mut self, samples: &[f32], probabilities: &mut Vec<f32>) {
        match self.resampler.as_mut() {
            Some(resampler) => {
                let pending = &mut self.pending;
                // The resampler only fails on its own buffer sizing, fixed at creation.
                let _ = resampler.push(samples, &mut |block: &[f32]| {
                    pending.extend_from_slice(block);
                    Ok::<(), AudioError>(())
                });
            }
            None => self.pending.extend_from_slice(samples),
        }
        while self.pending.len() >= CONTEXT + BATCH * CHUNK {
            self.run_batch(BATCH, probabilities);
        }
    }

    /// Classifies what is left (a last chunk zero-padded, as Silero's own tools do).
    pub fn finish(mut self, probabilities: &mut Vec<f32>) {
        if let Some(resampler) = self.resampler.take() {
            let pending = &mut self.pending;
            let _ = resampler.finish(&mut |block: &[f32]| {
                pending.extend_from_slice(block);
                Ok::<(), AudioError>(())
            });
        }
        let left = self.pending.len() - CONTEXT;
        if left > 0 {
            let chunks = left.div_ceil(CHUNK);
            self.pending.resize(CONTEXT + chunks * CHUNK, 0.0);
            self.run_batch(chunks, probabilities);
        }
    }

    /// The network on the next `chunks` chunks of `pending`, carrying the LSTM state on.
    fn run_batch(&mut self, chunks: usize, probabilities: &mut Vec<f32>) {
        let w = self.weights;
        self.spectra(chunks);
        let s = &mut self.scratch;
        im2col(&s.a, BINS, 4, 1, &mut s.b);
        matmul_bias(&s.b, &w.conv1, &w.biases[0], 3 * BINS, true, &mut s.a);
        im2col(&s.a, 128, 4, 2, &mut s.b);
        matmul_bias(&s.b, &w.conv2, &w.biases[1], 3 * 128, true, &mut s.a);
        im2col(&s.a, 64, 2, 2, &mut s.b);
        matmul_bias(&s.b, &w.conv3, &w.biases[2], 3 * 64, true, &mut s.a);
        matmul_bias(&s.a, &w.conv4, &w.biases[3], 64, true, &mut s.b);
        matmul_bias(&s.b, &w.w_ih, &w.lstm_bias, HIDDEN, false, &mut s.a);
        for input_gates in s.a.chunks_exact(4 * HIDDEN) {
            let p = lstm_step(w, input_gates, &mut s.gates, &mut self.h, &mut self.c);
            probabilities.push(p);
        }
        self.pending.drain(..chunks * CHUNK);
    }

    /// `scratch.a` = each chunk's 4 STFT magnitude frames, `[chunk][frame][bin]`: the chunk
    /// with the 64 samples before it, padded on the right by reflection as the model does.
    fn spectra(&mut self, chunks: usize) {
        let s = &mut self.scratch;
        s.a.clear();
        s.spectrum
            .resize(BINS, realfft::num_complex::Complex::default());
        for chunk in 0..chunks {
            let input = &self.pending[chunk * CHUNK..][..CONTEXT + CHUNK];
            s.padded.clear();
            s.padded.extend_from_slice(input);
            s.padded
                .extend((0..CONTEXT).map(|i| input[input.len() - 2 - i]));
            for start in (0..=s.padded.len() - N_FFT).step_by(FFT_HOP) {
                s.frame.clear();
                s.frame.extend(
                    s.padded[start..start + N_FFT]
                        .iter()
                        .zip(&self.window)
                        .map(|(x, w)| x * w),
                );
                // A 256-point FFT of a 256-sample buffer cannot fail.
                let _ = self.fft.process(&mut s.frame, &mut s.spectrum);
                s.a.extend(s.spectrum.iter().map(|z| z.norm()));
            }
        }
    }
}

/// One LSTM step from the input's gate contributions; returns the speech probability.
fn lstm_step(
    w: &Weights,
    input_gates: &[f32],
    gates: &mut Vec<f32>,
    h: &mut [f32],
    c: &mut [f32],
) -> f32 {
    gates.clear();
    gates.extend(
        input_gates
            .iter()
            .enumerate()
            .map(|(g, x)| x + dot(&w.w_hh[g * HIDDEN..][..HIDDEN], h)),
    );
    for j in 0..HIDDEN {
        let gate = |k: usize| gates[k * HIDDEN + j];
        let (i, f, g, o) = (
            sigmoid(gate(0)),
            sigmoid(gate(1)),
            gate(2).tanh(),
            sigmoid(gate(3)),
        );
        c[j] = f * c[j] + i * g;
        h[j] = o * c[j].tanh();
    }
    let out: f32 = h
        .iter()
        .zip(&w.out_weight)
        .map(|(h, w)| h.max(0.0) * w)
        .sum();
    sigmoid(out + w.out_bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal of the golden run: a buzz with syllables at 0.6-1.6 s and 3.1-4.4 s, over
    /// faint noise from a fixed LCG, 5 s at 16 kHz (three batches of chunks).
    fn signal() -> Vec<f32> {
        let mut state: u64 = 12345;
        (0..80_000)
            .map(|i| {
                state = (state * 1_664_525 + 1_013_904_223) % (1 << 32);
                let noise = (state >> 8) as f64 / f64::from(1u32 << 24) * 2.0 - 1.0;
                let t = i as f64 / 16_000.0;
                let pi2 = 2.0 * std::f64::consts::PI;
                let syllable = if t % 0.5 < 0.3 {
                    (pi2 * 3.3 * t).sin().abs()
                } else {
                    0.0
                };
                let buzz: f64 = (1..=8)
                    .map(|k| (pi2 * 140.0 * k as f64 * t).sin() / k as f64)
                    .sum();
                let on = (0.6..1.6).contains(&t) || (3.1..4.4).contains(&t);
                let voice = if on { 0.25 * syllable * buzz } else { 0.0 };
                (voice + 0.01 * noise) as f32
            })
            .collect()
    }

    /// onnxruntime on silero_vad.onnx (6.2.3) for the signal above, chunk by chunk with the
    /// 64 samples of context before each (as Silero's OnnxWrapper feeds it).
    const GOLDEN: [f32; 156] = include!("silero_golden.in");

    #[test]
    fn probabilities_match_onnxruntime_on_the_original_model() {
        let mut vad = SileroVad::new(RATE).unwrap();
        let mut probabilities = Vec::new();
        for piece in signal().chunks(1_000) {
            vad.push(piece, &mut probabilities);
        }
        vad.finish(&mut probabilities);
        // 80000 samples: 156 whole chunks and a zero-padded 157th the golden run did not make.
        assert_eq!(probabilities.len(), 157);
        for (i, (ours, theirs)) in probabilities.iter().zip(GOLDEN).enumerate() {
            assert!(
                (ours - theirs).abs() < 1e-4,
                "chunk {i}: {ours} against {theirs}"
            );
        }
    }
}
