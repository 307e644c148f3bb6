//! Writing 16-bit PCM WAV, for tests and for serving audio back to a browser.

use crate::Audio;

/// Encodes mono audio as a canonical 44-byte-header 16-bit PCM WAV file.
///
/// Samples are scaled by 32768, rounded and clamped to the i16 range, so anything decoded from a
/// 16-bit file (`int16 / 32768`) round-trips bit-exactly.
pub fn encode_wav_pcm16(audio: &Audio) -> Vec<u8> {
    const HEADER_LEN: usize = 44;
    let data_len = audio.samples.len() * 2;
    // RIFF sizes are 32-bit: a longer signal is cut where the header can still describe it.
    let data_len = data_len.min(u32::MAX as usize - HEADER_LEN) & !1;
    let mut out = Vec::with_capacity(HEADER_LEN + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((HEADER_LEN - 8 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&audio.sample_rate.to_le_bytes());
    out.extend_from_slice(&(audio.sample_rate.wrapping_mul(2)).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for &x in &audio.samples[..data_len / 2] {
        out.extend_from_slice(&to_i16(x).to_le_bytes());
    }
    out
}

fn to_i16(x: f32) -> i16 {
    // NaN maps to 0 through the saturating cast.
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}
