//! Helpers shared by the integration tests: fixture paths, WAV writers, npy reading, signals.
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/fixtures/librosa`, which lives beside the repository checkout.
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("SER_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/librosa")
        });
    assert!(
        dir.join("manifest.json").exists(),
        "librosa fixtures not found at {}",
        dir.display()
    );
    dir
}

pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

pub fn read_npy_f32(path: &std::path::Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    npyz::NpyFile::new(&bytes[..])
        .unwrap()
        .into_vec::<f32>()
        .unwrap()
}

/// WAV sample encodings the tests write by hand.
#[derive(Clone, Copy, Debug)]
pub enum Enc {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl Enc {
    pub fn bytes(self) -> usize {
        match self {
            Enc::U8 => 1,
            Enc::I16 => 2,
            Enc::I24 => 3,
            Enc::I32 | Enc::F32 => 4,
            Enc::F64 => 8,
        }
    }
    fn is_float(self) -> bool {
        matches!(self, Enc::F32 | Enc::F64)
    }
}

/// A raw sample value in the file's own encoding (integers as i64, floats as f64).
#[derive(Clone, Copy, Debug)]
pub enum Raw {
    Int(i64),
    Float(f64),
}

fn encode_sample(enc: Enc, v: Raw, out: &mut Vec<u8>) {
    match (enc, v) {
        (Enc::U8, Raw::Int(i)) => out.push(i as u8),
        (Enc::I16, Raw::Int(i)) => out.extend_from_slice(&(i as i16).to_le_bytes()),
        (Enc::I24, Raw::Int(i)) => out.extend_from_slice(&(i as i32).to_le_bytes()[..3]),
        (Enc::I32, Raw::Int(i)) => out.extend_from_slice(&(i as i32).to_le_bytes()),
        (Enc::F32, Raw::Float(f)) => out.extend_from_slice(&(f as f32).to_le_bytes()),
        (Enc::F64, Raw::Float(f)) => out.extend_from_slice(&f.to_le_bytes()),
        _ => panic!("sample {v:?} does not fit {enc:?}"),
    }
}

/// Builds a WAV file from interleaved raw samples. `extensible` writes WAVE_FORMAT_EXTENSIBLE.
pub fn wav_bytes(
    enc: Enc,
    channels: u16,
    rate: u32,
    interleaved: &[Raw],
    extensible: bool,
) -> Vec<u8> {
    let bps = enc.bytes();
    let block = bps * channels as usize;
    let mut data = Vec::with_capacity(interleaved.len() * bps);
    for &v in interleaved {
        encode_sample(enc, v, &mut data);
    }
    let mut fmt = Vec::new();
    let tag: u16 = if extensible {
        0xFFFE
    } else if enc.is_float() {
        3
    } else {
        1
    };
    fmt.extend_from_slice(&tag.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * block as u32).to_le_bytes());
    fmt.extend_from_slice(&(block as u16).to_le_bytes());
    fmt.extend_from_slice(&((bps * 8) as u16).to_le_bytes());
    if extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&((bps * 8) as u16).to_le_bytes()); // valid bits
        let mask: u32 = if channels <= 18 {
            (1u32 << channels) - 1
        } else {
            0
        };
        fmt.extend_from_slice(&mask.to_le_bytes());
        let sub: u16 = if enc.is_float() { 3 } else { 1 };
        fmt.extend_from_slice(&sub.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE GUID tail: 0000-0010-8000-00aa00389b71
        fmt.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    }
    riff(&[(b"fmt ", &fmt), (b"data", &data)])
}

/// Assembles a RIFF/WAVE file from chunks (with correct sizes and padding).
pub fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    for (tag, data) in chunks {
        body.extend_from_slice(*tag);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A 16-bit mono WAV of the given samples (via the crate's own encoder).
pub fn wav16(samples: &[f32], rate: u32) -> Vec<u8> {
    ser_audio::encode_wav_pcm16(&ser_audio::Audio {
        samples: samples.to_vec(),
        sample_rate: rate,
    })
}

pub fn sine(freq: f64, rate: u32, seconds: f64, amp: f32) -> Vec<f32> {
    let n = (seconds * rate as f64).round() as usize;
    (0..n)
        .map(|i| amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32)
        .collect()
}

/// Deterministic pseudo-random numbers for test data (xorshift64*).
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }
    /// Uniform integer in [lo, hi].
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}
