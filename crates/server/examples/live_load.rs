//! Load test of live prediction: N WebSocket streams at once against a running `ser serve`,
//! each sending a speech-like signal in real time (100 ms messages of 16 kHz PCM), measuring
//! for every window the time from sending its last sample to receiving its result.
//!
//! `scripts/live-load.sh` starts a server and runs this; by hand:
//! `cargo run --release -p ser-server --example live_load -- ws://127.0.0.1:8080 TOKEN 20 30`
//! (URL, API token, streams, seconds per stream).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const RATE: usize = 16_000;
const CHUNK: usize = RATE / 10;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, token, streams, seconds] =
        <[String; 4]>::try_from(args).expect("usage: live_load WS_URL TOKEN STREAMS SECONDS");
    let streams: usize = streams.parse().expect("STREAMS is a number");
    let seconds: usize = seconds.parse().expect("SECONDS is a number");
    let tasks: Vec<_> = (0..streams)
        .map(|i| {
            let (base, token) = (base.clone(), token.clone());
            tokio::spawn(async move { one_stream(&base, &token, seconds, i).await })
        })
        .collect();
    let mut latencies: Vec<f64> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("stream task"));
    }
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

/// Streams `seconds` of audio in real time; returns each window's latency in ms.
async fn one_stream(base: &str, token: &str, seconds: usize, index: usize) -> Vec<f64> {
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
    let sender = tokio::spawn(async move {
        let mut sent_at = Vec::new();
        let mut ticks = tokio::time::interval(Duration::from_millis(100));
        for c in 0..seconds * 10 {
            ticks.tick().await;
            let bytes: Vec<u8> = (c * CHUNK..(c + 1) * CHUNK)
                .flat_map(|i| speech_like(i, index).to_le_bytes())
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
    while let Some(Ok(message)) = source.next().await {
        match message {
            Message::Text(text) => {
                let result: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                let end_s = result["end_s"].as_f64().expect("end_s");
                received.push((end_s, started.elapsed().as_secs_f64()));
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let sent_at = sender.await.expect("sender");
    received
        .iter()
        .filter_map(|&(end_s, arrived)| {
            // The message that carried the window's last sample.
            let chunk = ((end_s * RATE as f64).round() as usize).div_ceil(CHUNK);
            sent_at
                .get(chunk.checked_sub(1)?)
                .map(|sent| 1000.0 * (arrived - sent))
        })
        .collect()
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
