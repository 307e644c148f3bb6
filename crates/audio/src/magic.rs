//! Is it audio at all? A container starts where its format says it does: a file whose first
//! bytes (after an ID3 tag, the one prefix audio files carry) are no known audio container is
//! refused before any decoding. Symphonia's probe would otherwise scan forward and decode the
//! first audio it finds inside anything, such as a FLAC file stored in a ZIP.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::AudioError;

/// Magic numbers at offset 0 of the containers symphonia reads.
const STARTS: [&[u8]; 10] = [
    b"RIFF",                   // WAV
    b"RIFX",                   // WAV, big-endian
    b"RF64",                   // WAV over 4 GiB
    b"BW64",                   // broadcast WAV over 4 GiB
    b"fLaC",                   // FLAC
    b"OggS",                   // Ogg (Vorbis, Opus, FLAC)
    b"FORM",                   // AIFF, AIFF-C
    b"caff",                   // Core Audio Format
    b"ADIF",                   // AAC, ADIF
    &[0x1A, 0x45, 0xDF, 0xA3], // Matroska, WebM
];

/// ISO base media boxes that open an MP4/M4A/MOV file (the box type sits at offset 4).
const MP4_BOXES: [&[u8]; 6] = [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"];

/// An MPEG stream (MP3, ADTS AAC) may follow this many bytes of zero padding.
const MAX_ZERO_PADDING: u64 = 64 * 1024;

/// At most this many ID3 tags are skipped (some files carry two).
const MAX_ID3_TAGS: usize = 4;

/// `Err(NotAudio)` unless `reader` starts like an audio container.
pub(crate) fn check_start<R: Read + Seek>(
    reader: &mut R,
    file_len: u64,
    file: &Path,
) -> Result<(), AudioError> {
    let io = |source| AudioError::Io {
        file: file.to_owned(),
        source,
    };
    let mut offset = 0;
    for _ in 0..=MAX_ID3_TAGS {
        let head = read_at(reader, offset, 10).map_err(io)?;
        match id3_tag_len(&head) {
            Some(len) => offset += len,
            None if starts_like_audio(&head) => return Ok(()),
            None if head.iter().all(|&b| b == 0) && !head.is_empty() => {
                return match first_non_zero(reader, offset, file_len).map_err(io)? {
                    Some(at) => {
                        let head = read_at(reader, at, 2).map_err(io)?;
                        match is_mpeg_sync(&head) {
                            true => Ok(()),
                            false => Err(not_audio(file)),
                        }
                    }
                    None => Err(not_audio(file)),
                };
            }
            None => return Err(not_audio(file)),
        }
    }
    Err(not_audio(file))
}

fn not_audio(file: &Path) -> AudioError {
    AudioError::NotAudio {
        file: file.to_owned(),
    }
}

fn starts_like_audio(head: &[u8]) -> bool {
    STARTS.iter().any(|magic| head.starts_with(magic))
        || head.get(4..8).is_some_and(|b| MP4_BOXES.contains(&b))
        || is_mpeg_sync(head)
}

/// An MPEG audio frame (MP1/2/3) or ADTS AAC frame: eleven set sync bits.
fn is_mpeg_sync(head: &[u8]) -> bool {
    matches!(head, [0xFF, b, ..] if b & 0xE0 == 0xE0)
}

/// The length of the ID3v2 tag `head` opens (header, body and footer), if it opens one.
fn id3_tag_len(head: &[u8]) -> Option<u64> {
    let [b'I', b'D', b'3', _, _, flags, size @ ..] = head else {
        return None;
    };
    // The size is "syncsafe": four 7-bit groups.
    if size.len() != 4 || size.iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let body = size.iter().fold(0u64, |n, &b| (n << 7) | u64::from(b));
    let footer = if flags & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

/// Up to `n` bytes at `offset` (fewer at the end of the input).
fn read_at<R: Read + Seek>(reader: &mut R, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
    reader.seek(SeekFrom::Start(offset))?;
    let mut out = Vec::with_capacity(n);
    reader.take(n as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// Where the first non-zero byte at or after `offset` is, within [`MAX_ZERO_PADDING`].
fn first_non_zero<R: Read + Seek>(
    reader: &mut R,
    offset: u64,
    file_len: u64,
) -> std::io::Result<Option<u64>> {
    let window = MAX_ZERO_PADDING.min(file_len.saturating_sub(offset));
    let bytes = read_at(reader, offset, window as usize)?;
    Ok(bytes
        .iter()
        .position(|&b| b != 0)
        .map(|at| offset + at as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn check(bytes: &[u8]) -> bool {
        check_start(&mut Cursor::new(bytes), bytes.len() as u64, Path::new("x")).is_ok()
    }

    #[test]
    fn known_containers_pass_and_anything_else_is_not_audio() {
        for good in [
            &b"RIFF\0\0\0\0WAVEfmt "[..],
            b"fLaC\0\0\0\x22",
            b"OggS\0\x02",
            b"\0\0\0\x20ftypM4A ",
            &[0xFF, 0xFB, 0x90, 0x64],
            &[0x1A, 0x45, 0xDF, 0xA3, 0x01],
        ] {
            assert!(check(good), "{good:?}");
        }
        for bad in [
            &b"PK\x03\x04\x14\0\0\0\0\0fLaC"[..],
            b"path,emotion\nclip.wav,happy\n",
            b"%PDF-1.7",
            &[0u8; 100],
        ] {
            assert!(!check(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_id3_tag_and_zero_padding_may_precede_mpeg_frames() {
        // A 20-byte ID3v2.4 tag, then an MP3 frame header.
        let mut tagged = b"ID3\x04\0\0\0\0\0\x14".to_vec();
        tagged.extend([0u8; 20]);
        tagged.extend([0xFF, 0xFB, 0x90, 0x64]);
        assert!(check(&tagged));
        // The same tag before a ZIP is still no audio.
        let mut zip = tagged[..30].to_vec();
        zip.extend(b"PK\x03\x04");
        assert!(!check(&zip));
        let mut padded = vec![0u8; 300];
        padded.extend([0xFF, 0xFB, 0x90, 0x64]);
        assert!(check(&padded));
    }
}
