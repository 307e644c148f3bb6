//! A small RIFF/WAVE header walk done before symphonia sees the file.
//!
//! Symphonia reports a lying header only as a generic error (or as a short read at the very
//! end), so we check the few facts a user can get wrong ourselves and name the problem:
//! zero channels, absurd sample rates, zero-sized blocks, and a `data` chunk that claims more
//! bytes than the file holds.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::AudioError;

/// Sample rates outside this range are treated as a corrupt header (1 kHz .. 768 kHz).
pub(crate) const PLAUSIBLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;

/// A data-chunk size that writers use when the length was unknown (streaming, piping).
const UNKNOWN_SIZE: u32 = u32::MAX;

/// At most this many chunks are walked before the header is declared corrupt (hang guard).
const MAX_CHUNKS: usize = 4096;

/// What the header says about the audio data, for the decoder's checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WavFacts {
    pub sample_rate: u32,
    /// Frames the data chunk declares; `None` when the writer did not know the size, or for
    /// ADPCM, where a block holds many frames.
    pub declared_frames: Option<u64>,
}

/// WAVE format tags symphonia decodes: PCM, MS ADPCM, IEEE float, A-law, µ-law, IMA ADPCM,
/// extensible.
const SUPPORTED_FORMAT_TAGS: [u16; 7] = [0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0xFFFE];

/// MS ADPCM and IMA ADPCM pack many frames into each block.
const ADPCM_FORMAT_TAGS: [u16; 2] = [0x0002, 0x0011];

/// The `fmt ` chunk fields we validate.
#[derive(Debug, Clone, Copy)]
struct Fmt {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    bits_per_sample: u16,
}

/// Walks the chunks of a RIFF/WAVE stream. Returns `Ok(None)` when the stream is not
/// RIFF/WAVE at all (then it is someone else's business), and an error naming the problem
/// when it is WAVE but its header is corrupt or promises more data than the file holds.
pub(crate) fn check_wav<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    file: &Path,
) -> Result<Option<WavFacts>, AudioError> {
    let mut riff = [0u8; 12];
    if !read_full(reader, &mut riff, file)? || &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Ok(None);
    }
    let mut fmt = None;
    let mut pos = 12u64;
    for _ in 0..MAX_CHUNKS {
        let Some((tag, len)) = read_chunk_header(reader, file)? else {
            return Err(missing_data_chunk(file, fmt.is_some()));
        };
        let body = pos + 8;
        match &tag {
            b"fmt " => fmt = Some(parse_fmt(reader, len, file)?),
            b"data" => {
                let fmt =
                    fmt.ok_or_else(|| corrupt(file, "data chunk comes before the fmt chunk"))?;
                return data_facts(fmt, len, file_len.saturating_sub(body), file).map(Some);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body + u64::from(len) + u64::from(len & 1);
        if pos > file_len {
            return Err(truncated(
                file,
                format!("file ends inside the '{}' chunk", tag_name(&tag)),
            ));
        }
        seek_to(reader, pos, file)?;
    }
    Err(corrupt(file, "more than 4096 chunks before the data chunk"))
}

fn data_facts(fmt: Fmt, len: u32, available: u64, file: &Path) -> Result<WavFacts, AudioError> {
    let block = u64::from(fmt.block_align);
    let one_frame_per_block = !ADPCM_FORMAT_TAGS.contains(&fmt.format_tag);
    let declared_frames =
        (len != UNKNOWN_SIZE && one_frame_per_block).then(|| u64::from(len) / block);
    if len != UNKNOWN_SIZE && u64::from(len) > available {
        let detail = if one_frame_per_block {
            format!(
                "data chunk declares {len} bytes ({} frames) but only {available} bytes ({} frames) are present",
                u64::from(len) / block,
                available / block
            )
        } else {
            format!("data chunk declares {len} bytes but only {available} bytes are present")
        };
        return Err(truncated(file, detail));
    }
    Ok(WavFacts {
        sample_rate: fmt.sample_rate,
        declared_frames,
    })
}

fn parse_fmt<R: Read>(reader: &mut R, len: u32, file: &Path) -> Result<Fmt, AudioError> {
    if len < 16 {
        return Err(corrupt(
            file,
            format!("fmt chunk is {len} bytes, needs at least 16"),
        ));
    }
    let mut b = [0u8; 16];
    if !read_full(reader, &mut b, file)? {
        return Err(truncated(file, "file ends inside the fmt chunk".into()));
    }
    let le16 = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let fmt = Fmt {
        format_tag: le16(0),
        channels: le16(2),
        sample_rate: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        block_align: le16(12),
        bits_per_sample: le16(14),
    };
    validate_fmt(&fmt, file)?;
    Ok(fmt)
}

fn validate_fmt(fmt: &Fmt, file: &Path) -> Result<(), AudioError> {
    if !SUPPORTED_FORMAT_TAGS.contains(&fmt.format_tag) {
        return Err(AudioError::UnsupportedCodec {
            file: file.to_owned(),
            codec: format!(
                "WAV format tag {:#06x} ({})",
                fmt.format_tag,
                format_tag_name(fmt.format_tag)
            ),
        });
    }
    if fmt.channels == 0 {
        return Err(corrupt(file, "fmt chunk declares 0 channels"));
    }
    if !PLAUSIBLE_RATES.contains(&fmt.sample_rate) {
        return Err(corrupt(
            file,
            format!(
                "fmt chunk declares a sample rate of {} Hz (expected {}..={} Hz)",
                fmt.sample_rate,
                PLAUSIBLE_RATES.start(),
                PLAUSIBLE_RATES.end()
            ),
        ));
    }
    if fmt.block_align == 0 {
        return Err(corrupt(file, "fmt chunk declares a block size of 0 bytes"));
    }
    if fmt.bits_per_sample > 64 {
        return Err(corrupt(
            file,
            format!("fmt chunk declares {} bits per sample", fmt.bits_per_sample),
        ));
    }
    Ok(())
}

/// Names of common WAVE format tags symphonia cannot decode.
fn format_tag_name(tag: u16) -> &'static str {
    match tag {
        0x0000 => "unknown",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG",
        0x0055 => "MPEG Layer 3",
        0x0092 => "Dolby AC-3",
        0x0161..=0x0163 => "Windows Media Audio",
        0x1610 => "AAC",
        0x704F | 0x7050 => "Opus",
        _ => "not supported",
    }
}

/// Reads an 8-byte chunk header; `None` at a clean end of file.
fn read_chunk_header<R: Read>(
    reader: &mut R,
    file: &Path,
) -> Result<Option<([u8; 4], u32)>, AudioError> {
    let mut h = [0u8; 8];
    if !read_full(reader, &mut h, file)? {
        return Ok(None);
    }
    let tag = [h[0], h[1], h[2], h[3]];
    Ok(Some((tag, u32::from_le_bytes([h[4], h[5], h[6], h[7]]))))
}

/// Fills `buf`; `false` if the stream ended first.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8], file: &Path) -> Result<bool, AudioError> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(source) => Err(AudioError::Io {
            file: file.to_owned(),
            source,
        }),
    }
}

fn seek_to<R: Seek>(reader: &mut R, pos: u64, file: &Path) -> Result<(), AudioError> {
    reader
        .seek(SeekFrom::Start(pos))
        .map(drop)
        .map_err(|source| AudioError::Io {
            file: file.to_owned(),
            source,
        })
}

fn missing_data_chunk(file: &Path, has_fmt: bool) -> AudioError {
    if has_fmt {
        truncated(file, "file ends before the data chunk".into())
    } else {
        corrupt(file, "no fmt chunk and no data chunk")
    }
}

fn tag_name(tag: &[u8; 4]) -> String {
    tag.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

fn corrupt(file: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::CorruptHeader {
        file: file.to_owned(),
        detail: detail.into(),
    }
}

fn truncated(file: &Path, detail: String) -> AudioError {
    AudioError::Truncated {
        file: file.to_owned(),
        detail,
    }
}
