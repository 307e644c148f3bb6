//! MP3, Ogg/Vorbis and (unsupported) Opus, made in the test with LAME and libvorbis.

mod common;

use std::num::{NonZeroU8, NonZeroU32};

use common::*;
use ser_audio::{AudioError, LoadOptions, load_bytes, probe_bytes};

/// Encodes mono or stereo (planar) f32 audio as MP3; `lame_tag` writes the Xing/LAME frame
/// that declares the length and the encoder delay/padding (gapless decoding).
fn mp3_bytes(planes: &[Vec<f32>], rate: u32, lame_tag: bool) -> Vec<u8> {
    use mp3lame_encoder::{Builder, DualPcm, FlushGap, MonoPcm};
    let mut b = Builder::new().unwrap();
    b.set_num_channels(planes.len() as u8).unwrap();
    b.set_sample_rate(rate).unwrap();
    b.set_brate(mp3lame_encoder::Bitrate::Kbps128).unwrap();
    b.set_quality(mp3lame_encoder::Quality::Good).unwrap();
    b.set_to_write_vbr_tag(lame_tag).unwrap();
    let mut enc = b.build().unwrap();
    let mut out =
        Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(planes[0].len()) + 8192);
    match planes {
        [mono] => enc
            .encode_to_vec(MonoPcm(mono.as_slice()), &mut out)
            .unwrap(),
        [l, r] => enc
            .encode_to_vec(
                DualPcm {
                    left: l.as_slice(),
                    right: r.as_slice(),
                },
                &mut out,
            )
            .unwrap(),
        _ => panic!("1 or 2 channels"),
    };
    out.reserve(8192);
    enc.flush_to_vec::<FlushGap>(&mut out).unwrap();
    if lame_tag {
        // LAME left a placeholder frame at the start; overwrite it with the final tag.
        let mut tag = Vec::with_capacity(4096);
        let n = enc.lame_tag_encode_to_vec(&mut tag).unwrap().get();
        out[..n].copy_from_slice(&tag);
    }
    out
}

fn vorbis_bytes(planes: &[Vec<f32>], rate: u32) -> Vec<u8> {
    use vorbis_rs::VorbisEncoderBuilder;
    let channels = NonZeroU8::new(planes.len() as u8).unwrap();
    // Small pages, as a streaming recorder writes them, so a cut file keeps whole pages.
    let mut enc = VorbisEncoderBuilder::new_with_serial(
        NonZeroU32::new(rate).unwrap(),
        channels,
        Vec::new(),
        42,
    )
    .minimum_page_data_size(Some(256))
    .build()
    .unwrap();
    for start in (0..planes[0].len()).step_by(4096) {
        let end = (start + 4096).min(planes[0].len());
        let block: Vec<&[f32]> = planes.iter().map(|p| &p[start..end]).collect();
        enc.encode_audio_block(&block).unwrap();
    }
    enc.finish().unwrap()
}

/// Two tones, so a wrong rate or a shift shows up in the correlation.
fn speech_like(rate: u32, seconds: f64) -> Vec<f32> {
    let a = sine(440.0, rate, seconds, 0.3);
    let b = sine(1330.0, rate, seconds, 0.2);
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// SNR (dB) of `decoded` against `original` over their common middle part.
fn snr_db(decoded: &[f32], original: &[f32]) -> f64 {
    let n = decoded.len().min(original.len());
    let (a, b) = (n / 10, n - n / 10);
    let signal: f64 = original[a..b].iter().map(|&x| f64::from(x).powi(2)).sum();
    let noise: f64 = decoded[a..b]
        .iter()
        .zip(&original[a..b])
        .map(|(&d, &o)| f64::from(d - o).powi(2))
        .sum();
    10.0 * (signal / noise).log10()
}

#[test]
fn mp3_with_lame_tag_decodes_gapless() {
    let original = speech_like(16000, 2.0);
    let bytes = mp3_bytes(std::slice::from_ref(&original), 16000, true);
    let audio = load_bytes(&bytes, "clip.mp3", &LoadOptions::default()).unwrap();
    assert_eq!(audio.sample_rate, 16000);
    assert_eq!(
        audio.samples.len(),
        original.len(),
        "gapless decode restores the exact length"
    );
    let snr = snr_db(&audio.samples, &original);
    assert!(snr > 20.0, "MP3 SNR {snr:.1} dB");
    let info = probe_bytes(&bytes, "clip.mp3").unwrap();
    assert_eq!(
        (info.container.as_str(), info.codec.as_str(), info.channels),
        ("mp3", "mp3", 1)
    );
}

#[test]
fn mp3_without_tag_and_without_extension_decodes() {
    let original = speech_like(22050, 1.5);
    let bytes = mp3_bytes(std::slice::from_ref(&original), 22050, false);
    let audio = load_bytes(&bytes, "upload", &LoadOptions::default()).unwrap();
    assert_eq!(audio.sample_rate, 22050);
    // Without the LAME tag the encoder delay and padding stay in: up to ~2 frames longer.
    let extra = audio.samples.len() as i64 - original.len() as i64;
    assert!(
        (0..=2 * 1152 + 1152).contains(&extra),
        "{extra} extra samples"
    );
}

/// A stored (uncompressed) ZIP entry holding `data`: the local header, then the bytes.
fn stored_zip_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"PK\x03\x04".to_vec();
    out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date
    out.extend([0; 4]); // CRC (not checked by anyone here)
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((name.len() as u16).to_le_bytes());
    out.extend([0, 0]);
    out.extend(name.as_bytes());
    out.extend(data);
    out
}

/// Audio inside another file (an MP3 stored in a ZIP, renamed .wav) is not audio: the
/// decoder must not scan forward into it. An ID3 tag before MP3 frames is fine.
#[test]
fn audio_inside_a_zip_is_not_audio_but_an_id3_tag_is_fine() {
    let mp3 = mp3_bytes(&[speech_like(22050, 1.0)], 22050, false);
    let zip = stored_zip_entry("clip.mp3", &mp3);
    for name in ["x.wav", "x.mp3", "upload"] {
        let err = load_bytes(&zip, name, &LoadOptions::default()).unwrap_err();
        assert!(matches!(err, AudioError::NotAudio { .. }), "{name}: {err}");
        assert!(probe_bytes(&zip, name).is_err());
    }
    let mut tagged = b"ID3\x03\0\0\0\0\0\x0a".to_vec();
    tagged.extend([0u8; 10]);
    tagged.extend(&mp3);
    let audio = load_bytes(&tagged, "tagged.mp3", &LoadOptions::default()).unwrap();
    assert_eq!(audio.sample_rate, 22050);
}

#[test]
fn stereo_mp3_is_mixed_down() {
    let left = speech_like(16000, 1.0);
    let right: Vec<f32> = left.iter().map(|x| -x).collect();
    let bytes = mp3_bytes(&[left, right], 16000, true);
    let audio = load_bytes(&bytes, "st.mp3", &LoadOptions::default()).unwrap();
    let rms =
        (audio.samples.iter().map(|x| x * x).sum::<f32>() / audio.samples.len() as f32).sqrt();
    assert!(rms < 0.02, "opposite channels should cancel, rms {rms}");
}

#[test]
fn vorbis_decodes_with_exact_length() {
    let original = speech_like(16000, 2.0);
    let bytes = vorbis_bytes(std::slice::from_ref(&original), 16000);
    let audio = load_bytes(&bytes, "clip.ogg", &LoadOptions::default()).unwrap();
    assert_eq!(audio.sample_rate, 16000);
    assert_eq!(audio.samples.len(), original.len());
    let snr = snr_db(&audio.samples, &original);
    assert!(snr > 20.0, "Vorbis SNR {snr:.1} dB");
    let info = probe_bytes(&bytes, "clip.ogg").unwrap();
    assert_eq!(
        (info.container.as_str(), info.codec.as_str()),
        ("ogg", "vorbis")
    );
}

#[test]
fn stereo_vorbis_is_mixed_down() {
    let left = speech_like(44100, 1.0);
    let bytes = vorbis_bytes(&[left.clone(), left.clone()], 44100);
    let audio = load_bytes(&bytes, "st.ogg", &LoadOptions::default()).unwrap();
    assert!(snr_db(&audio.samples, &left) > 20.0);
}

#[test]
fn mp3_cut_in_half_is_truncated_when_the_tag_declares_the_length() {
    let bytes = mp3_bytes(&[speech_like(16000, 2.0)], 16000, true);
    let cut = &bytes[..bytes.len() / 2];
    let err = load_bytes(cut, "half.mp3", &LoadOptions::default()).unwrap_err();
    assert!(matches!(err, AudioError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().contains("half.mp3"), "{err}");
}

#[test]
fn mp3_missing_a_few_bytes_at_the_end_is_accepted() {
    let original = speech_like(16000, 2.0);
    let bytes = mp3_bytes(std::slice::from_ref(&original), 16000, true);
    let cut = &bytes[..bytes.len() - 100];
    let audio = load_bytes(cut, "cut.mp3", &LoadOptions::default()).unwrap();
    assert!(audio.samples.len() >= original.len() * 9 / 10);
}

#[test]
fn vorbis_cut_short_is_handled_by_the_policy() {
    let original = speech_like(16000, 3.0);
    let bytes = vorbis_bytes(std::slice::from_ref(&original), 16000);
    // A few bytes short: still usable speech.
    let nearly = load_bytes(
        &bytes[..bytes.len() - 50],
        "nearly.ogg",
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(nearly.samples.len() >= original.len() * 8 / 10);
    // A quarter of the file: either reported as truncated or decoded as what is there.
    match load_bytes(
        &bytes[..bytes.len() / 4],
        "quarter.ogg",
        &LoadOptions::default(),
    ) {
        Ok(a) => assert!(a.samples.len() < original.len() / 2),
        Err(e) => assert!(matches!(e, AudioError::Truncated { .. }), "{e:?}"),
    }
}

// ---------- Opus: demuxed, not decodable ----------

fn ebml(id: u32, body: &[u8]) -> Vec<u8> {
    let id_bytes = id.to_be_bytes();
    let skip = id_bytes.iter().position(|&b| b != 0).unwrap();
    let mut out = id_bytes[skip..].to_vec();
    // 8-byte size vint: 0x01 followed by 7 bytes.
    out.push(0x01);
    out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(body);
    out
}

fn ebml_uint(id: u32, v: u64) -> Vec<u8> {
    ebml(id, &v.to_be_bytes())
}

fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(1); // channels
    h.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    h.extend_from_slice(&48000u32.to_le_bytes());
    h.extend_from_slice(&0i16.to_le_bytes());
    h.push(0); // mapping family
    h
}

/// A minimal WebM file with one Opus track and one (silent) Opus packet, as MediaRecorder
/// would produce.
fn webm_opus() -> Vec<u8> {
    let header = ebml(
        0x1A45_DFA3,
        &[
            ebml_uint(0x4286, 1),
            ebml_uint(0x42F7, 1),
            ebml_uint(0x42F2, 4),
            ebml_uint(0x42F3, 8),
            ebml(0x4282, b"webm"),
            ebml_uint(0x4287, 4),
            ebml_uint(0x4285, 2),
        ]
        .concat(),
    );
    let info = ebml(
        0x1549_A966,
        &[
            ebml_uint(0x2A_D7B1, 1_000_000),
            ebml(0x4D80, b"test"),
            ebml(0x5741, b"test"),
        ]
        .concat(),
    );
    let audio = ebml(
        0xE1,
        &[ebml(0xB5, &48000f64.to_be_bytes()), ebml_uint(0x9F, 1)].concat(),
    );
    let track = ebml(
        0xAE,
        &[
            ebml_uint(0xD7, 1),
            ebml_uint(0x73C5, 1),
            ebml_uint(0x83, 2),
            ebml(0x86, b"A_OPUS"),
            ebml(0x63A2, &opus_head()),
            audio,
        ]
        .concat(),
    );
    let tracks = ebml(0x1654_AE6B, &track);
    // SimpleBlock: track 1 (vint 0x81), relative timecode 0, keyframe flag, Opus silence frame.
    let block = ebml(0xA3, &[0x81, 0x00, 0x00, 0x80, 0xF8, 0xFF, 0xFE]);
    let cluster = ebml(0x1F43_B675, &[ebml_uint(0xE7, 0), block].concat());
    let segment = ebml(0x1853_8067, &[info, tracks, cluster].concat());
    [header, segment].concat()
}

/// Ogg page CRC: polynomial 0x04C11DB7, no reflection, initial value 0.
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn ogg_page(flags: u8, granule: u64, seq: u32, packet: &[u8]) -> Vec<u8> {
    let mut page = b"OggS".to_vec();
    page.push(0);
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&7u32.to_le_bytes()); // serial
    page.extend_from_slice(&seq.to_le_bytes());
    page.extend_from_slice(&0u32.to_le_bytes()); // CRC placeholder
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    page.push(lacing.len() as u8);
    page.extend_from_slice(&lacing);
    page.extend_from_slice(packet);
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

fn ogg_opus() -> Vec<u8> {
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&4u32.to_le_bytes());
    tags.extend_from_slice(b"test");
    tags.extend_from_slice(&0u32.to_le_bytes());
    [
        ogg_page(0x02, 0, 0, &opus_head()),
        ogg_page(0x00, 0, 1, &tags),
        ogg_page(0x04, 960 + 312, 2, &[0xF8, 0xFF, 0xFE]),
    ]
    .concat()
}

fn assert_opus_unsupported(bytes: &[u8], name: &str, container: &str) {
    let err = load_bytes(bytes, name, &LoadOptions::default()).unwrap_err();
    match &err {
        AudioError::UnsupportedCodec { codec, .. } => assert!(codec.contains("Opus"), "{codec}"),
        other => panic!("expected UnsupportedCodec, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(name) && msg.contains("Opus"), "{msg}");
    let info = probe_bytes(bytes, name).unwrap();
    assert_eq!(
        (info.container.as_str(), info.codec.as_str()),
        (container, "opus")
    );
    assert_eq!(info.sample_rate, 48000);
}

#[test]
fn webm_opus_is_demuxed_but_reported_as_unsupported() {
    assert_opus_unsupported(&webm_opus(), "recording.webm", "matroska");
}

#[test]
fn ogg_opus_is_reported_as_unsupported() {
    assert_opus_unsupported(&ogg_opus(), "voice.opus", "ogg");
}

/// Writes small MP3, Ogg/Vorbis, Ogg/Opus and WebM files as a seed corpus for `fuzz/`:
/// `SER_FUZZ_SEEDS=fuzz/corpus/decode cargo test -p ser-audio --test compressed -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir =
        std::path::PathBuf::from(std::env::var("SER_FUZZ_SEEDS").expect("set SER_FUZZ_SEEDS"));
    let short = speech_like(8000, 0.3);
    // The fuzz target reads its first byte as the extension hint: 2 = mp3, 3 = ogg, 4 = webm.
    let seeds = [
        (
            "seed_tag.mp3",
            2u8,
            mp3_bytes(std::slice::from_ref(&short), 8000, true),
        ),
        (
            "seed_stereo.mp3",
            2,
            mp3_bytes(&[short.clone(), short.clone()], 8000, false),
        ),
        (
            "seed.ogg",
            3,
            vorbis_bytes(std::slice::from_ref(&short), 8000),
        ),
        ("seed_opus.ogg", 3, ogg_opus()),
        ("seed.webm", 4, webm_opus()),
    ];
    for (name, selector, bytes) in seeds {
        std::fs::write(dir.join(name), [&[selector][..], &bytes].concat()).unwrap();
    }
}
