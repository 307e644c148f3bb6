//! Load test of live prediction: N WebSocket streams at once against a running `ser serve`,
//! each sending a speech-like signal in real time (100 ms messages of 16 kHz PCM), measuring
//! for every window the time from sending its last sample to receiving its result.
//!
//! Without audio files each stream is a speech-like tone (which a trained voice-activity
//! detector rightly hears as no voice); with files, each stream plays them (decoded to 16 kHz,
//! joined, looped), starting at its own offset, so the windows hold real speech.
//!
//! `scripts/live-load.sh` starts a server and runs this; by hand:
//! `cargo run --release -p ser-server --example live_load -- ws://127.0.0.1:8080 TOKEN 20 30 [AUDIO...]`
//! (URL, API token, streams, seconds per stream, audio files).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const RATE: usize = 16_000;
const CHUNK: usize = RATE / 10;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    assert!(
        args.len() >= 4,
        "usage: live_load WS_URL TOKEN STREAMS SECONDS [AUDIO...]"
    );
    let (base, token) = (args[0].clone(), args[1].clone());
    let streams: usize = args[2].parse().expect("STREAMS is a number");
    let seconds: usize = args[3].parse().expect("SECONDS is a number");
    let speech = Arc::new(recorded_speech(&args[4..]));
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let (base, token, speech) = (base.clone(), token.clone(), speech.clone());
            tokio::spawn(async move { one_stream(&base, &token, seconds, i, &speech).await })
        })
        .collect();
    let mut latencies: Vec<f64> = Vec::new();
    let (mut windows, mut heard) = (0, 0);
    for task in tasks {
        let stream = task.await.expect("stream task");
        windows += stream.windows;
        heard += stream.speech;
        latencies.extend(stream.latencies);
    }
    println!("{heard} of {windows} windows held speech");
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    println!(
        "{streams} streams x {seconds} s: {} windows; latency from a window's last sample to its \
         result: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        latencies.len(),
        at(0.5),
        at(0.95),
        at(0.99),
        at(1.0)
    );
}

/// What one stream measured.
struct StreamResult {
    /// Each window's latency in ms.
    latencies: Vec<f64>,
    windows: usize,
    /// Windows the server found speech in.
    speech: usize,
}

/// The files decoded at 16 kHz, joined (empty without files).
fn recorded_speech(files: &[String]) -> Vec<i16> {
    let options = ser_audio::LoadOptions {
        target_rate: Some(RATE as u32),
        ..Default::default()
    };
    files
        .iter()
        .flat_map(|f| {
            ser_audio::load(std::path::Path::new(f), &options)
                .unwrap_or_else(|e| panic!("{e}"))
                .samples
        })
        .map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect()
}

/// Streams `seconds` of audio in real time: sample `i` of stream `index` from `speech`
/// (looped, each stream at its own offset), or the speech-like tone without it.
async fn one_stream(
    base: &str,
    token: &str,
    seconds: usize,
    index: usize,
    speech: &Arc<Vec<i16>>,
) -> StreamResult {
    let mut request = format!("{base}/api/stream?window_s=3&hop_s=1")
        .into_client_request()
        .expect("a ws:// URL");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("token"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the server accepts the stream");
    let (mut sink, mut source) = socket.split();
    let started = Instant::now();
    let speech = speech.clone();
    let sample = move |i: usize| match speech.len() {
        0 => speech_like(i, index),
        n => speech[(i + index * 7 * RATE) % n],
    };
    let sender = tokio::spawn(async move {
        let mut sent_at = Vec::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        for c in 0..seconds * 10 {
            ticks.tick().await;
            let bytes: Vec<u8> = (c * CHUNK..(c + 1) * CHUNK)
                .flat_map(|i| sample(i).to_le_bytes())
                .collect();
            sink.send(Message::Binary(bytes.into()))
                .await
                .expect("send");
            sent_at.push(started.elapsed().as_secs_f64());
        }
        sink.send(Message::Text("end".into())).await.expect("send");
        sent_at
    });
    let mut received: Vec<(f64, f64)> = Vec::new(); // (end_s of the window, arrival)
    let mut speech_windows = 0;
    while let Some(Ok(message)) = source.next().await {
        match message {
            Message::Text(text) => {
                let result: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                let end_s = result["end_s"].as_f64().expect("end_s");
                speech_windows += usize::from(result["speech"] == true);
                received.push((end_s, started.elapsed().as_secs_f64()));
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let sent_at = sender.await.expect("sender");
    let latencies = received
        .iter()
        .filter_map(|&(end_s, arrived)| {
            // The message that carried the window's last sample.
            let chunk = ((end_s * RATE as f64).round() as usize).div_ceil(CHUNK);
            sent_at
                .get(chunk.checked_sub(1)?)
                .map(|sent| 1000.0 * (arrived - sent))
        })
        .collect();
    StreamResult {
        latencies,
        windows: received.len(),
        speech: speech_windows,
    }
}

/// A harmonic tone whose level rises and falls like syllables, a little different per stream.
fn speech_like(i: usize, stream: usize) -> i16 {
    let t = i as f64 / RATE as f64;
    let f0 = 120.0 + 10.0 * stream as f64 + 30.0 * (std::f64::consts::PI * 0.5 * t).sin();
    let voiced: f64 = (1..=4)
        .map(|h| (2.0 * std::f64::consts::PI * h as f64 * f0 * t).sin() / h as f64)
        .sum();
    let syllables = 0.2 + 0.8 * (std::f64::consts::PI * 4.0 * t).sin().abs();
    (0.25 * syllables * voiced * 32767.0) as i16
}
