//! The live WebSocket (`GET /api/stream`) over a real socket: PCM in, a JSON result per hop out.

mod support;

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Serves the test app on a free port; returns its address.
async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app
        .router
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// A handshake to `/api/stream?{query}` with `session`'s cookie and `origin`.
fn handshake(
    addr: SocketAddr,
    query: &str,
    session: Option<&Session>,
    origin: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("ws://{addr}/api/stream?{query}")
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert("origin", origin.parse().unwrap());
    if let Some(s) = session {
        headers.insert("cookie", s.cookie.parse().unwrap());
    }
    request
}

/// `seconds` of 16 kHz PCM: silence, or a sound when `loud`.
fn pcm(seconds: f64, loud: bool) -> Vec<u8> {
    (0..(seconds * 16_000.0) as usize)
        .flat_map(|i| {
            let v = if loud {
                0.3 * (i as f32 * 0.07).sin()
            } else {
                0.0
            };
            ((v * 32767.0) as i16).to_le_bytes()
        })
        .collect()
}

/// A served test app with one signed-in user, Ann.
struct Live {
    app: TestApp,
    ann: Session,
    addr: SocketAddr,
    origin: String,
}

impl Live {
    async fn start() -> Self {
        let app = TestApp::new().await;
        let ann = app.user("ann").await;
        let addr = serve(&app).await;
        let origin = format!("http://{addr}");
        Self {
            app,
            ann,
            addr,
            origin,
        }
    }

    /// Ann's stream with `query`, from this site's own origin.
    async fn open(
        &self,
        query: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>
    {
        let request = handshake(self.addr, query, Some(&self.ann), &self.origin);
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }
}

fn status_of(err: WsError) -> u16 {
    match err {
        WsError::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_stream_gets_a_result_per_hop_and_the_last_short_window() {
    let live = Live::start().await;
    let mut socket = live.open("window_s=1&hop_s=0.5").await;
    // 1 s of silence, then 1.25 s of sound, in 999-byte pieces: odd sizes that divide
    // neither a sample nor the hop.
    let mut audio = pcm(1.0, false);
    audio.extend(pcm(1.25, true));
    for piece in audio.chunks(999) {
        socket
            .send(Message::Binary(piece.to_vec().into()))
            .await
            .unwrap();
    }
    socket.send(Message::Text("end".into())).await.unwrap();
    let mut results = Vec::new();
    while let Some(Ok(message)) = socket.next().await {
        match message {
            Message::Text(text) => {
                results.push(serde_json::from_str::<serde_json::Value>(&text).unwrap())
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let starts: Vec<f64> = results
        .iter()
        .map(|r| r["start_s"].as_f64().unwrap())
        .collect();
    // Windows at 0, 0.5, 1 s, then the last 0.75 s from 1.5 s.
    assert_eq!(starts, [0.0, 0.5, 1.0, 1.5], "{results:?}");
    assert_eq!(results[0]["speech"], false);
    assert!(results[0].get("label").is_none());
    assert_eq!(results[2]["label"], "happy");
    assert_eq!(results[3]["end_s"], 2.25);
}

#[tokio::test]
async fn streams_are_refused_to_strangers_other_sites_and_others_models() {
    let live = Live::start().await;
    let (addr, origin, ann) = (live.addr, &live.origin, &live.ann);
    let refused = |request| async move {
        status_of(
            tokio_tungstenite::connect_async(request)
                .await
                .expect_err("refused"),
        )
    };
    assert_eq!(refused(handshake(addr, "", None, origin)).await, 401);
    let evil = handshake(addr, "", Some(ann), "https://evil.example");
    assert_eq!(refused(evil).await, 403);
    let bad_window = handshake(addr, "window_s=100", Some(ann), origin);
    assert_eq!(refused(bad_window).await, 400);
    // Bob's model is not Ann's to use: not found, as any model of another user.
    let bob = live.app.user("bob").await;
    let model_id = format!("model_id={}", bob.user_id);
    assert_eq!(
        refused(handshake(addr, &model_id, Some(ann), origin)).await,
        404
    );
}

#[tokio::test]
async fn a_socket_dropped_mid_window_leaves_the_server_serving() {
    let live = Live::start().await;
    let mut socket = live.open("").await;
    socket
        .send(Message::Binary(pcm(1.5, true).into()))
        .await
        .unwrap();
    drop(socket);
    let mut socket = live.open("window_s=1&hop_s=1").await;
    socket
        .send(Message::Binary(pcm(1.0, true).into()))
        .await
        .unwrap();
    let first = socket.next().await.unwrap().unwrap();
    assert!(
        first.to_text().unwrap().contains("\"speech\":true"),
        "{first}"
    );
}
