//! Time-domain frame features: zero-crossing rate and RMS energy (librosa semantics).

use crate::error::{Result, check_signal};
use crate::stft::frame_count;

/// librosa `zero_crossings` threshold: |y| ≤ 1e-10 counts as (positive) zero.
pub const ZCR_THRESHOLD: f64 = 1e-10;

/// Reusable zero-crossing-rate computer (scratch kept between calls).
#[derive(Debug, Default, Clone)]
pub struct ZeroCrossingRate {
    cumulative: Vec<u32>,
}

impl ZeroCrossingRate {
    /// `librosa.feature.zero_crossing_rate(y, frame_length, hop_length, center)`: with centring the
    /// signal is padded with its **edge** values; a frame's rate is its crossings / frame_length.
    pub fn compute(
        &mut self,
        y: &[f32],
        frame_length: usize,
        hop: usize,
        center: bool,
        threshold: f64,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        check_signal(y)?;
        let n_frames = frame_count(y.len(), frame_length, hop, center)?;
        let pad = if center { frame_length / 2 } else { 0 };
        let padded_len = y.len() + 2 * pad;
        let last = y.len() - 1;
        let negative = |i: usize| {
            let v = y[i.saturating_sub(pad).min(last)];
            (v.abs() as f64) > threshold && v.is_sign_negative()
        };
        // cumulative[i] = number of sign changes between padded samples (j-1, j) for j ≤ i
        self.cumulative.clear();
        self.cumulative.reserve(padded_len);
        let (mut count, mut prev) = (0u32, negative(0));
        for i in 0..padded_len {
            let cur = negative(i);
            count += u32::from(i > 0 && cur != prev);
            prev = cur;
            self.cumulative.push(count);
        }
        out.clear();
        out.extend((0..n_frames).map(|t| {
            let s = t * hop;
            let crossings = self.cumulative[s + frame_length - 1] - self.cumulative[s];
            (crossings as f64 / frame_length as f64) as f32
        }));
        Ok(())
    }
}

/// Zero-crossing rate per frame, as `librosa.feature.zero_crossing_rate`: with `center` the
/// signal is padded with its edge values; a frame's rate is its crossings / `frame_length`,
/// values with |y| ≤ [`ZCR_THRESHOLD`] counting as positive.
pub fn zero_crossing_rate(
    y: &[f32],
    frame_length: usize,
    hop: usize,
    center: bool,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    ZeroCrossingRate::default().compute(y, frame_length, hop, center, ZCR_THRESHOLD, &mut out)?;
    Ok(out)
}

/// Reusable RMS computer.
#[derive(Debug, Default, Clone)]
pub struct Rms {
    block_energy: Vec<f64>,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Rms {
    /// `librosa.feature.rms(y, frame_length, hop_length, center, pad_mode='constant')`:
    /// sqrt(mean(frame²)), no window. Energies are summed per block of gcd(frame, hop) samples,
    /// in f64, so each sample is squared once and every frame sums frame/gcd blocks.
    pub fn compute(
        &mut self,
        y: &[f32],
        frame_length: usize,
        hop: usize,
        center: bool,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        check_signal(y)?;
        let n_frames = frame_count(y.len(), frame_length, hop, center)?;
        let pad = if center { frame_length / 2 } else { 0 };
        let block = gcd(frame_length, hop);
        let n_blocks = ((n_frames - 1) * hop + frame_length) / block;
        self.block_energy.clear();
        self.block_energy.extend((0..n_blocks).map(|b| {
            let start = (b * block) as isize - pad as isize;
            let lo = start.clamp(0, y.len() as isize) as usize;
            let hi = (start + block as isize).clamp(0, y.len() as isize) as usize;
            y[lo..hi].iter().map(|&v| v as f64 * v as f64).sum::<f64>()
        }));
        let per_frame = frame_length / block;
        out.clear();
        out.extend((0..n_frames).map(|t| {
            let first = t * hop / block;
            let energy: f64 = self.block_energy[first..first + per_frame].iter().sum();
            (energy / frame_length as f64).sqrt() as f32
        }));
        Ok(())
    }
}

/// RMS per frame, as `librosa.feature.rms` with `pad_mode='constant'` (zeros padded with
/// `center`): sqrt(mean(frame²)), no window.
pub fn rms(y: &[f32], frame_length: usize, hop: usize, center: bool) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    Rms::default().compute(y, frame_length, hop, center, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternating_signal_crosses_every_sample() {
        let y: Vec<f32> = (0..64)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        let z = zero_crossing_rate(&y, 16, 4, false).unwrap();
        assert!(z.iter().all(|&r| r == 15.0 / 16.0));
    }

    #[test]
    fn rms_of_constant_is_its_level() {
        let y = vec![0.5f32; 4096];
        let r = rms(&y, 2048, 512, true).unwrap();
        assert_eq!(r[4], 0.5);
        assert!(r[0] < 0.5 && r[0] > 0.3);
    }
}
