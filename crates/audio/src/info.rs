//! `probe`: what a file holds, without decoding it all.

use std::io::ErrorKind;

use serde::Serialize;
use symphonia::core::errors::Error as SymError;

use crate::AudioError;
use crate::decode::{OpenStream, codec_name};

/// A description of an audio file as its container and codec headers tell it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioInfo {
    /// Container short name: "wave", "flac", "mp3", "ogg", "matroska", ...
    pub container: String,
    /// Codec short name: "pcm_s16le", "flac", "mp3", "vorbis", "opus", ...
    pub codec: String,
    /// Samples per second per channel (Hz); 0 when the header does not say.
    pub sample_rate: u32,
    /// Number of channels; 0 when the header does not say.
    pub channels: u16,
    /// Bits per coded sample, where the codec has them (PCM, FLAC, ...); `None` for lossy
    /// codecs such as MP3 and Vorbis.
    pub bits_per_sample: Option<u32>,
    /// Frames per channel: from the header, or counted from packet durations when the header
    /// does not say (e.g. MP3 without a Xing header).
    pub frames: u64,
    /// `frames / sample_rate`, in seconds; 0 when the rate is unknown.
    pub duration_s: f64,
}

/// Packets counted before giving up on a stream that never ends (hang guard).
const MAX_COUNTED_PACKETS: u64 = 1 << 28;

pub(crate) fn describe(mut stream: OpenStream<'_>) -> Result<AudioInfo, AudioError> {
    let frames = match stream.declared_frames {
        Some(frames) => frames,
        None => count_frames(&mut stream)?,
    };
    let params = &stream.params;
    let sample_rate = params.sample_rate.unwrap_or(0);
    let channels = params.channels.as_ref().map_or(0, |c| c.count());
    Ok(AudioInfo {
        container: stream.container().to_string(),
        codec: codec_name(params.codec),
        sample_rate,
        channels: u16::try_from(channels).unwrap_or(u16::MAX),
        bits_per_sample: params.bits_per_sample,
        frames,
        duration_s: if sample_rate > 0 {
            frames as f64 / f64::from(sample_rate)
        } else {
            0.0
        },
    })
}

/// Sums packet durations of the audio track by demuxing only (no decoding).
fn count_frames(stream: &mut OpenStream<'_>) -> Result<u64, AudioError> {
    let mut ticks = 0u64;
    for _ in 0..MAX_COUNTED_PACKETS {
        match stream.format.next_packet() {
            Ok(Some(p)) if p.track_id == stream.track_id => {
                let trimmed = p.trim_start.get().saturating_add(p.trim_end.get());
                ticks = ticks.saturating_add(p.dur.get().saturating_sub(trimmed));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(SymError::ResetRequired) => return Ok(ticks_to_frames(stream, ticks)),
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return Ok(ticks_to_frames(stream, ticks));
            }
            Err(e) => return Err(crate::decode::malformed(stream.name, e.to_string())),
        }
    }
    Err(crate::decode::malformed(
        stream.name,
        "the stream never ends",
    ))
}

/// Packet durations are in the track's time base, which is not always one tick per frame
/// (Matroska counts in nanosecond multiples).
fn ticks_to_frames(stream: &OpenStream<'_>, ticks: u64) -> u64 {
    let (Some(tb), Some(rate)) = (stream.time_base, stream.params.sample_rate) else {
        return ticks;
    };
    let frames = u128::from(ticks) * u128::from(tb.numer.get()) * u128::from(rate)
        / u128::from(tb.denom.get());
    u64::try_from(frames).unwrap_or(u64::MAX)
}
