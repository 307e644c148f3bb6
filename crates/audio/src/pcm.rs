//! Raw 16-bit PCM as it arrives from a pipe or a socket: chunks of any size.

/// Decodes 16-bit little-endian PCM to `f32` (`int16 / 32768.0`, as [`crate::load`] does)
/// from chunks split anywhere: an odd byte at the end of one chunk waits for its partner.
#[derive(Debug, Default)]
pub struct Pcm16Decoder {
    carried: Option<u8>,
}

impl Pcm16Decoder {
    /// The samples `bytes` completes, in order.
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<f32> {
        let mut samples = Vec::with_capacity(bytes.len().div_ceil(2));
        let mut rest = bytes;
        if let Some(low) = self.carried.take() {
            match rest.split_first() {
                Some((&high, tail)) => {
                    samples.push(sample([low, high]));
                    rest = tail;
                }
                None => {
                    self.carried = Some(low);
                    return samples;
                }
            }
        }
        let pairs = rest.chunks_exact(2);
        self.carried = pairs.remainder().first().copied();
        samples.extend(pairs.map(|b| sample([b[0], b[1]])));
        samples
    }
}

fn sample(bytes: [u8; 2]) -> f32 {
    f32::from(i16::from_le_bytes(bytes)) / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn scales_like_soundfile() {
        let decoded = Pcm16Decoder::default().decode(&bytes(&[0, 16384, -32768, 32767]));
        assert_eq!(decoded, vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]);
    }

    #[test]
    fn split_anywhere_decodes_the_same() {
        let all = bytes(&[0, 1000, -32768, 32767, -5, 12345]);
        let whole = Pcm16Decoder::default().decode(&all);
        for cut_a in 0..=all.len() {
            for cut_b in cut_a..=all.len() {
                let mut decoder = Pcm16Decoder::default();
                let mut pieces = decoder.decode(&all[..cut_a]);
                pieces.extend(decoder.decode(&all[cut_a..cut_b]));
                pieces.extend(decoder.decode(&all[cut_b..]));
                assert_eq!(pieces, whole, "cuts at {cut_a} and {cut_b}");
            }
        }
    }

    #[test]
    fn a_lone_byte_waits() {
        let mut decoder = Pcm16Decoder::default();
        assert!(decoder.decode(&[0x00]).is_empty());
        assert!(decoder.decode(&[]).is_empty());
        assert_eq!(decoder.decode(&[0x40]), vec![0.5]);
    }
}
