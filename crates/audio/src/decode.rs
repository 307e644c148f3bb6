//! Decoding with symphonia to mono, into one preallocated buffer or a packet at a time.

use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use symphonia::core::audio::GenericAudioBufferRef;
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioCodecParameters, AudioDecoder, AudioDecoderOptions, well_known as ids,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::TimeBase;

use crate::AudioError;
use crate::source::Input;
use crate::wav_header::PLAUSIBLE_RATES;

/// A compressed stream may lose up to this fraction of its declared frames at the tail (a cut
/// download, a recorder stopped mid-write) and still be accepted, with a warning.
const TOLERATED_TAIL_LOSS: f64 = 0.10;

/// Never reserve more than this many samples up front on the word of a header (256 MiB of f32).
const MAX_PREALLOCATED_SAMPLES: u64 = 1 << 26;

/// Where [`OpenStream::decode_into`] hands each packet's mono samples, with their rate.
pub(crate) type PacketSink<'a, E> = dyn FnMut(&[f32], u32) -> Result<(), E> + 'a;

/// A container with an audio track and a decoder for it, ready to produce packets.
pub(crate) struct OpenStream<'a> {
    pub name: &'a Path,
    pub format: Box<dyn FormatReader + 'a>,
    pub track_id: u32,
    pub params: AudioCodecParameters,
    pub declared_frames: Option<u64>,
    pub time_base: Option<TimeBase>,
    /// Bytes in the input: bounds how many packets a sane demuxer can produce.
    pub input_len: u64,
    pub is_wav: bool,
}

/// Mono samples and their rate, as decoded.
pub(crate) struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// Runs `f`, turning a panic inside a decoder into a [`AudioError::Malformed`] for `file`.
/// This is a last line of defence: malformed input must never bring the process down.
pub(crate) fn catch_decoder_panics<T, E: From<AudioError>>(
    file: &Path,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(malformed(file, format!("the decoder failed on this data ({what})")).into())
    })
}

/// Probes the container and selects its default audio track.
pub(crate) fn open_stream<'a>(input: &Input<'a>) -> Result<OpenStream<'a>, AudioError> {
    match open_format(input, true) {
        // Some demuxers (Ogg) read the end of the file while opening; with the tail cut off
        // that fails, so try again reading strictly forwards, which keeps what is there.
        Err(AudioError::Truncated { .. }) if input.wav.is_none() => {
            let format = open_format(input, false)?;
            tracing::warn!(file = %input.name.display(), "the end of the file is missing; decoding what is there");
            select_track(input, format)
        }
        result => select_track(input, result?),
    }
}

fn open_format<'a>(
    input: &Input<'a>,
    seekable: bool,
) -> Result<Box<dyn FormatReader + 'a>, AudioError> {
    let mut hint = Hint::new();
    if let Some(ext) = input.extension() {
        hint.with_extension(&ext);
    }
    let mss = MediaSourceStream::new(input.media_source(seekable)?, Default::default());
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| probe_error(input.name, e))
}

fn select_track<'a>(
    input: &Input<'a>,
    format: Box<dyn FormatReader + 'a>,
) -> Result<OpenStream<'a>, AudioError> {
    let name = input.name;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::NoSamples {
            file: name.to_owned(),
        })?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or_else(|| AudioError::NoSamples {
            file: name.to_owned(),
        })?;
    let declared_frames = input
        .wav
        .and_then(|w| w.declared_frames)
        .or(track.num_frames);
    Ok(OpenStream {
        name,
        track_id: track.id,
        params,
        declared_frames,
        time_base: track.time_base,
        input_len: input.len,
        is_wav: input.wav.is_some(),
        format,
    })
}

impl OpenStream<'_> {
    pub fn container(&self) -> &'static str {
        self.format.format_info().short_name
    }

    /// Creates the decoder, or says which codec is missing.
    pub fn make_decoder(&self) -> Result<Box<dyn AudioDecoder>, AudioError> {
        let registry = symphonia::default::get_codecs();
        if registry.get_audio_decoder(self.params.codec).is_none() {
            return Err(AudioError::UnsupportedCodec {
                file: self.name.to_owned(),
                codec: describe_unsupported(self.params.codec),
            });
        }
        registry
            .make_audio_decoder(&self.params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) => AudioError::UnsupportedCodec {
                    file: self.name.to_owned(),
                    codec: format!("{} ({what})", codec_name(self.params.codec)),
                },
                other => corrupt(self.name, other.to_string()),
            })
    }

    /// Rejects a stream whose header already says it is longer than `max_s`.
    pub fn check_declared_duration(&self, max_s: Option<f64>) -> Result<(), AudioError> {
        let (Some(max_s), Some(frames), Some(rate)) =
            (max_s, self.declared_frames, self.params.sample_rate)
        else {
            return Ok(());
        };
        let duration_s = frames as f64 / f64::from(rate.max(1));
        if duration_s > max_s {
            return Err(too_long(self.name, duration_s, max_s));
        }
        Ok(())
    }

    /// Decodes the whole track to mono f32, enforcing `max_s` while decoding.
    pub fn decode_all(self, max_s: Option<f64>) -> Result<Decoded, AudioError> {
        let mut samples = Vec::with_capacity(self.initial_capacity(max_s));
        let sample_rate = self.decode_into(max_s, &mut |block: &[f32], _rate: u32| {
            samples.extend_from_slice(block);
            Ok::<(), AudioError>(())
        })?;
        Ok(Decoded {
            samples,
            sample_rate,
        })
    }

    /// Decodes the whole track to mono f32 and hands it to `out` a packet at a time with its
    /// sample rate, enforcing `max_s` while decoding; returns the rate. Damage found at the
    /// end (a truncated WAV) is an error after `out` has seen what came before it.
    pub fn decode_into<E: From<AudioError>>(
        mut self,
        max_s: Option<f64>,
        out: &mut PacketSink<'_, E>,
    ) -> Result<u32, E> {
        let mut decoder = self.make_decoder()?;
        let mut sink = MonoSink::default();
        let mut counts = PacketCounts::default();
        let end = loop {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break StreamEnd::Clean,
                Err(SymError::ResetRequired) => {
                    tracing::warn!(file = %self.name.display(), "stream changes its track layout; decoding only the first part");
                    break StreamEnd::Clean;
                }
                Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                    break StreamEnd::Cut;
                }
                Err(e) => break StreamEnd::Damaged(e.to_string()),
            };
            counts.packets += 1;
            self.check_progress(&counts)?;
            if packet.track_id != self.track_id {
                continue;
            }
            match decoder.decode(&packet) {
                Ok(buf) => {
                    if let Some((block, rate)) = sink.mix(&buf, self.name)? {
                        check_finite(self.name, block)?;
                        out(block, rate)?;
                    }
                }
                Err(SymError::DecodeError(msg)) => counts.record_bad_packet(self.name, msg),
                Err(SymError::IoError(e)) => counts.record_bad_packet(self.name, &e.to_string()),
                Err(SymError::ResetRequired) => decoder.reset(),
                Err(SymError::Unsupported(what)) => {
                    return Err(AudioError::UnsupportedCodec {
                        file: self.name.to_owned(),
                        codec: format!("{} ({what})", codec_name(self.params.codec)),
                    }
                    .into());
                }
                Err(e) => return Err(malformed(self.name, e.to_string()).into()),
            }
            counts.good_packets = sink.packets_with_audio;
            self.check_decoded_duration(&sink, max_s)?;
        };
        Ok(self.finish(&sink, &counts, end)?)
    }

    /// Reserve what the header promises, but never more than the limit or a sane maximum.
    fn initial_capacity(&self, max_s: Option<f64>) -> usize {
        let rate = f64::from(self.params.sample_rate.unwrap_or(0));
        let limit = max_s.map_or(u64::MAX, |s| ((s * rate) as u64).saturating_add(1));
        let declared = self.declared_frames.unwrap_or(0);
        declared.min(limit).min(MAX_PREALLOCATED_SAMPLES) as usize
    }

    /// A demuxer that yields far more packets than the input has bytes is looping.
    fn check_progress(&self, counts: &PacketCounts) -> Result<(), AudioError> {
        // Laced containers may legally yield up to 255 (empty) packets per block.
        let bound = 256 * (self.input_len + 4096);
        if counts.packets > bound {
            return Err(malformed(
                self.name,
                "the demuxer makes no progress (more packets than bytes)",
            ));
        }
        Ok(())
    }

    fn check_decoded_duration(
        &self,
        sink: &MonoSink,
        max_s: Option<f64>,
    ) -> Result<(), AudioError> {
        let (Some(max_s), Some(rate)) = (max_s, sink.rate) else {
            return Ok(());
        };
        let duration_s = sink.frames as f64 / f64::from(rate);
        if duration_s > max_s {
            return Err(too_long(self.name, duration_s, max_s));
        }
        Ok(())
    }

    /// Applies the truncation policy and the final sanity checks; returns the sample rate.
    fn finish(
        self,
        sink: &MonoSink,
        counts: &PacketCounts,
        end: StreamEnd,
    ) -> Result<u32, AudioError> {
        let name = self.name;
        let frames = sink.frames;
        let Some(sample_rate) = sink.rate.filter(|_| frames > 0) else {
            return Err(nothing_decoded(name, counts, &end));
        };
        if counts.bad_packets > counts.good_packets {
            return Err(malformed(
                name,
                format!(
                    "{} of {} packets could not be decoded",
                    counts.bad_packets,
                    counts.bad_packets + counts.good_packets
                ),
            ));
        }
        self.check_truncation(frames, sample_rate, &end)?;
        Ok(sample_rate)
    }

    /// The truncation policy (see the crate docs): WAV must hold every frame its header
    /// declares; a compressed stream may lose a little of its tail (warning), not more.
    fn check_truncation(&self, frames: u64, rate: u32, end: &StreamEnd) -> Result<(), AudioError> {
        let seconds = |n: u64| n as f64 / f64::from(rate);
        match self.declared_frames {
            Some(declared) if frames < declared => {
                let lost = (declared - frames) as f64 / declared as f64;
                let detail = format!(
                    "header declares {declared} frames ({:.2} s) but only {frames} ({:.2} s) could be decoded{}",
                    seconds(declared),
                    seconds(frames),
                    end.reason()
                );
                if self.is_wav || lost > TOLERATED_TAIL_LOSS {
                    return Err(AudioError::Truncated {
                        file: self.name.to_owned(),
                        detail,
                    });
                }
                tracing::warn!(file = %self.name.display(), "accepting a slightly truncated stream: {detail}");
            }
            _ if !matches!(end, StreamEnd::Clean) => {
                tracing::warn!(
                    file = %self.name.display(),
                    "stream ends early{}; keeping the {:.2} s decoded",
                    end.reason(),
                    seconds(frames)
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// How the packet loop ended.
enum StreamEnd {
    Clean,
    /// The input ended inside a packet.
    Cut,
    /// The demuxer hit damaged data.
    Damaged(String),
}

impl StreamEnd {
    fn reason(&self) -> String {
        match self {
            StreamEnd::Clean => String::new(),
            StreamEnd::Cut => "; the file ends inside a packet".into(),
            StreamEnd::Damaged(msg) => format!("; the stream is damaged ({msg})"),
        }
    }
}

#[derive(Default)]
struct PacketCounts {
    packets: u64,
    good_packets: u64,
    bad_packets: u64,
}

impl PacketCounts {
    fn record_bad_packet(&mut self, file: &Path, msg: &str) {
        self.bad_packets += 1;
        tracing::warn!(file = %file.display(), "skipping a packet that does not decode: {msg}");
    }
}

/// Mixes decoded buffers down to mono, one packet at a time, reusing its buffers.
#[derive(Default)]
struct MonoSink {
    block: Vec<f32>,
    scratch: Vec<f32>,
    rate: Option<u32>,
    /// Mono samples mixed so far.
    frames: u64,
    packets_with_audio: u64,
}

impl MonoSink {
    /// The packet as mono samples with their rate; `None` for a packet without audio.
    fn mix(
        &mut self,
        buf: &GenericAudioBufferRef<'_>,
        file: &Path,
    ) -> Result<Option<(&[f32], u32)>, AudioError> {
        let frames = buf.frames();
        let channels = buf.spec().channels().count();
        if frames == 0 {
            return Ok(None);
        }
        if channels == 0 {
            return Err(malformed(file, "decoded audio has 0 channels"));
        }
        let rate = self.check_rate(buf.spec().rate(), file)?;
        self.packets_with_audio += 1;
        self.frames += frames as u64;
        if channels == 1 {
            self.block.resize(frames, 0.0);
            buf.copy_to_slice_interleaved(&mut self.block[..]);
        } else {
            self.scratch.resize(frames * channels, 0.0);
            buf.copy_to_slice_interleaved(&mut self.scratch[..]);
            self.block.clear();
            self.block
                .extend(self.scratch.chunks_exact(channels).map(mean_like_numpy));
        }
        Ok(Some((&self.block, rate)))
    }

    fn check_rate(&mut self, rate: u32, file: &Path) -> Result<u32, AudioError> {
        match self.rate {
            None if PLAUSIBLE_RATES.contains(&rate) => self.rate = Some(rate),
            None => {
                return Err(corrupt(
                    file,
                    format!("sample rate of {rate} Hz is not plausible"),
                ));
            }
            Some(r) if r != rate => {
                return Err(malformed(
                    file,
                    format!("sample rate changes from {r} Hz to {rate} Hz mid-stream"),
                ));
            }
            Some(_) => {}
        }
        Ok(rate)
    }
}

/// Mean over channels summed left to right in f32, then divided: what `librosa.to_mono`
/// (`np.mean(y, axis=0)` on float32) computes for fewer than 8 channels (numpy sums 8 or
/// more pairwise, which can differ in the last bit).
fn mean_like_numpy(frame: &[f32]) -> f32 {
    frame.iter().fold(0.0f32, |acc, &x| acc + x) / frame.len() as f32
}

fn check_finite(file: &Path, samples: &[f32]) -> Result<(), AudioError> {
    let bad = samples.iter().filter(|x| !x.is_finite()).count();
    if bad > 0 {
        return Err(malformed(
            file,
            format!("{bad} samples are NaN or infinite"),
        ));
    }
    Ok(())
}

fn nothing_decoded(file: &Path, counts: &PacketCounts, end: &StreamEnd) -> AudioError {
    match end {
        _ if counts.bad_packets > 0 => malformed(
            file,
            format!("none of {} packets could be decoded", counts.bad_packets),
        ),
        StreamEnd::Cut => AudioError::Truncated {
            file: file.to_owned(),
            detail: "the file ends inside the first packet".into(),
        },
        StreamEnd::Damaged(msg) => malformed(file, msg.clone()),
        StreamEnd::Clean => AudioError::NoSamples {
            file: file.to_owned(),
        },
    }
}

/// Maps a failure to find or open a container.
fn probe_error(file: &Path, e: SymError) -> AudioError {
    match e {
        // The probe found no container it knows anywhere in the first megabyte.
        SymError::Unsupported(msg) if msg.starts_with("core (probe)") => AudioError::NotAudio {
            file: file.to_owned(),
        },
        SymError::Unsupported(msg) => AudioError::UnsupportedCodec {
            file: file.to_owned(),
            codec: msg.to_string(),
        },
        SymError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => AudioError::Truncated {
            file: file.to_owned(),
            detail: "the file ends inside the header".into(),
        },
        SymError::IoError(source) => AudioError::Io {
            file: file.to_owned(),
            source,
        },
        other => corrupt(file, other.to_string()),
    }
}

/// The registry's short name for a codec, or a readable name for well-known codecs that
/// symphonia recognises but cannot decode.
pub(crate) fn codec_name(id: AudioCodecId) -> String {
    if let Some(reg) = symphonia::default::get_codecs().get_audio_decoder(id) {
        return reg.codec.info.short_name.to_string();
    }
    let known = [
        (ids::CODEC_ID_OPUS, "opus"),
        (ids::CODEC_ID_SPEEX, "speex"),
        (ids::CODEC_ID_AC3, "ac3"),
        (ids::CODEC_ID_EAC3, "eac3"),
        (ids::CODEC_ID_DCA, "dts"),
        (ids::CODEC_ID_WMA, "wma"),
        (ids::CODEC_ID_MUSEPACK, "musepack"),
    ];
    known
        .iter()
        .find(|(known_id, _)| *known_id == id)
        .map_or_else(|| format!("codec id {id}"), |(_, name)| name.to_string())
}

fn describe_unsupported(id: AudioCodecId) -> String {
    if id == ids::CODEC_ID_OPUS {
        return "Opus (symphonia 0.6 has no Opus decoder; record or convert to WAV, FLAC, MP3 or Ogg Vorbis)"
            .into();
    }
    format!("{} (no decoder available)", codec_name(id))
}

pub(crate) fn malformed(file: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Malformed {
        file: file.to_owned(),
        detail: detail.into(),
    }
}

fn corrupt(file: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::CorruptHeader {
        file: file.to_owned(),
        detail: detail.into(),
    }
}

fn too_long(file: &Path, duration_s: f64, max_s: f64) -> AudioError {
    AudioError::TooLong {
        file: file.to_owned(),
        duration_s,
        max_s,
    }
}
