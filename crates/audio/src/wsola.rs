//! Time stretching by WSOLA (waveform-similarity overlap-add, Verhelst & Roelands 1993).
//!
//! Hann frames of ~40 ms are overlap-added at a fixed output hop of half a frame. Each next
//! input frame is taken near its nominal position (output time / factor), moved by up to
//! ±10 ms to where it best matches the natural continuation of the previous frame, so
//! periodic speech stays in phase: no phasiness, pitch unchanged.

/// Frame length in seconds: covers two periods of an 50 Hz voice.
const FRAME_S: f64 = 0.040;

/// Stretches `x` to `round(len * factor)` samples without changing its pitch.
pub(crate) fn stretch(x: &[f32], sample_rate: u32, factor: f64) -> Vec<f32> {
    let out_len = (x.len() as f64 * factor).round() as usize;
    if x.is_empty() || !factor.is_finite() || factor <= 0.0 {
        return vec![0.0; if factor.is_finite() { out_len } else { 0 }];
    }
    if out_len == x.len() {
        return x.to_vec();
    }
    Wsola::new(sample_rate).run(x, factor, out_len)
}

struct Wsola {
    win: Vec<f32>,
    hop_out: usize,
    tolerance: usize,
}

impl Wsola {
    fn new(sample_rate: u32) -> Self {
        let len = ((FRAME_S * f64::from(sample_rate)).round() as usize).max(64) & !1;
        // Periodic Hann: overlap-added at half its length it sums to exactly 1.
        let win = crate::hann_periodic(len);
        Self {
            win,
            hop_out: len / 2,
            tolerance: len / 4,
        }
    }

    fn run(&self, x: &[f32], factor: f64, out_len: usize) -> Vec<f32> {
        let len = self.win.len();
        // Zero padding lets every frame and every search offset read inside the buffer.
        let pad = len + self.tolerance;
        let mut padded = vec![0.0f32; pad + x.len() + pad + len];
        padded[pad..pad + x.len()].copy_from_slice(x);
        let frames = out_len / self.hop_out + 2;
        let mut out = vec![0.0f32; frames * self.hop_out + len];
        let mut norm = vec![0.0f32; out.len()];
        let hop_in = self.hop_out as f64 / factor;
        let mut prev = None;
        for k in 0..frames {
            // Frame k is centred on input time k * hop_in; `pad - len / 2` maps that to a start.
            let nominal = (pad as f64 + k as f64 * hop_in) as usize - len / 2;
            let nominal = nominal.min(padded.len() - len - self.tolerance);
            let start = match prev {
                None => nominal,
                Some(p) => self.best_match(&padded, nominal, p + self.hop_out),
            };
            self.overlap_add(
                &padded[start..start + len],
                &mut out[k * self.hop_out..],
                &mut norm[k * self.hop_out..],
            );
            prev = Some(start);
        }
        // Output time t sits at out[t + len / 2] (frame 0 starts half a frame early).
        (0..out_len)
            .map(|t| normalise(out[t + len / 2], norm[t + len / 2]))
            .collect()
    }

    /// The start within `nominal ± tolerance` whose frame correlates best with the frame at
    /// `continuation` (what would have followed the previous frame in the input).
    fn best_match(&self, x: &[f32], nominal: usize, continuation: usize) -> usize {
        let len = self.win.len();
        let continuation = continuation.min(x.len() - len);
        let reference = &x[continuation..continuation + len];
        let lo = nominal.saturating_sub(self.tolerance);
        let hi = (nominal + self.tolerance).min(x.len() - len);
        let mut best = (f32::NEG_INFINITY, nominal);
        for start in lo..=hi {
            // Every second sample is plenty to locate the best phase and halves the cost.
            let score: f32 = x[start..start + len]
                .iter()
                .zip(reference)
                .step_by(2)
                .map(|(a, b)| a * b)
                .sum();
            if score > best.0 {
                best = (score, start);
            }
        }
        best.1
    }

    fn overlap_add(&self, frame: &[f32], out: &mut [f32], norm: &mut [f32]) {
        for (((o, n), &s), &w) in out
            .iter_mut()
            .zip(norm.iter_mut())
            .zip(frame)
            .zip(&self.win)
        {
            *o += s * w;
            *n += w;
        }
    }
}

fn normalise(value: f32, weight: f32) -> f32 {
    if weight > 1e-3 { value / weight } else { 0.0 }
}
