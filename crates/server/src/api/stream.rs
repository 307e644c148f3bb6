//! `GET /api/stream`: live prediction over a WebSocket. The client sends binary messages of
//! 16-bit little-endian mono PCM at 16 kHz (any sizes); the server answers with one JSON text
//! message per window ([`LiveResult`]) as soon as the window is complete, and the last,
//! shorter window when the client closes (or sends the text `end`). Authenticated like the
//! rest of the API; a browser session must come from this site's own pages (Origin check:
//! the WebSocket handshake carries no CSRF token).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::predict::choose_model;
use crate::auth::CurrentUser;
use crate::engine::{EngineError, LIVE_SAMPLE_RATE, LiveResult, LiveSession};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The longest live stream (one hour of audio); the socket closes after it.
const MAX_STREAM_S: u64 = 3600;
/// The largest message a client may send (about 30 s of audio).
const MAX_MESSAGE_BYTES: usize = 1 << 20;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    model_id: Option<String>,
    #[serde(default = "default_window")]
    window_s: f64,
    #[serde(default = "default_hop")]
    hop_s: f64,
}

fn default_window() -> f64 {
    4.0
}

fn default_hop() -> f64 {
    1.0
}

pub async fn stream(
    State(state): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> AppResult<Response> {
    if caller.csrf_token.is_some() && !same_origin(&headers) {
        return Err(AppError::Forbidden(
            "a live stream signed in by cookie must come from this site's pages",
        ));
    }
    if !(0.5..=30.0).contains(&query.window_s) || !(0.1..=query.window_s).contains(&query.hop_s) {
        return Err(AppError::BadRequest(
            "window_s must be 0.5-30 s and hop_s 0.1 s up to the window".into(),
        ));
    }
    let upgrade = upgrade.map_err(|_| {
        AppError::BadRequest(
            "GET /api/stream is a WebSocket: connect with a WebSocket client (Upgrade: \
             websocket)"
                .into(),
        )
    })?;
    let model = choose_model(&state, &caller.user.id, query.model_id.as_deref()).await?;
    let (engine, path) = (state.engine.clone(), model.path.clone());
    let (window_s, hop_s) = (query.window_s, query.hop_s);
    let session =
        tokio::task::spawn_blocking(move || engine.live(path.as_deref(), window_s, hop_s))
            .await
            .map_err(AppError::internal)?
            .map_err(|e| match e {
                EngineError::Input(message) => AppError::BadRequest(state.config.scrub(&message)),
                other => AppError::internal(other),
            })?;
    Ok(upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(socket, session)))
}

/// Whether the request's Origin (if any) names the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match (text("origin"), text("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, origin_host)| origin_host.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// Feeds the socket's audio to the session and sends each window's result; everything the
/// session held is dropped when the socket closes or breaks.
async fn run(mut socket: WebSocket, session: Box<dyn LiveSession>) {
    let mut session = Some(session);
    let mut received = 0u64;
    while let Some(Ok(message)) = socket.recv().await {
        let bytes = match message {
            Message::Binary(bytes) => bytes,
            Message::Text(text) if text.trim() == "end" => break,
            Message::Close(_) => break,
            _ => continue,
        };
        received += bytes.len() as u64;
        // Two bytes a sample.
        if received > 2 * MAX_STREAM_S * u64::from(LIVE_SAMPLE_RATE) {
            let _ = send_error(&mut socket, "the stream is longer than an hour").await;
            return;
        }
        let outcome = blocking(&mut session, move |s| s.push(&bytes)).await;
        if !send_results(&mut socket, outcome).await {
            return;
        }
    }
    let outcome = blocking(&mut session, |s| s.finish()).await;
    if send_results(&mut socket, outcome).await {
        let _ = socket.send(Message::Close(None)).await;
    }
}

/// Runs `work` on the session on the blocking pool (models are CPU-bound) and hands the
/// session back.
async fn blocking(
    session: &mut Option<Box<dyn LiveSession>>,
    work: impl FnOnce(&mut dyn LiveSession) -> Result<Vec<LiveResult>, EngineError> + Send + 'static,
) -> Result<Vec<LiveResult>, String> {
    let Some(mut owned) = session.take() else {
        return Err("the live session failed earlier".into());
    };
    let (owned, outcome) = tokio::task::spawn_blocking(move || {
        let outcome = work(owned.as_mut());
        (owned, outcome)
    })
    .await
    .map_err(|e| format!("live prediction crashed: {e}"))?;
    *session = Some(owned);
    outcome.map_err(|e| {
        tracing::error!(error = %e, "live prediction failed");
        "live prediction failed".to_string()
    })
}

/// Sends results (or the error); false when the socket is gone or the stream must end.
async fn send_results(socket: &mut WebSocket, outcome: Result<Vec<LiveResult>, String>) -> bool {
    let results = match outcome {
        Ok(results) => results,
        Err(message) => {
            let _ = send_error(socket, &message).await;
            return false;
        }
    };
    for result in results {
        let text = serde_json::to_string(&result).unwrap_or_default();
        if socket.send(Message::Text(text.into())).await.is_err() {
            return false;
        }
    }
    true
}

async fn send_error(socket: &mut WebSocket, message: &str) -> Result<(), axum::Error> {
    let text = serde_json::json!({ "error": message }).to_string();
    socket.send(Message::Text(text.into())).await?;
    socket.send(Message::Close(None)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_name_the_host() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert("host", "ser.example:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert("origin", o.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(Some("https://ser.example:8080"))));
        assert!(same_origin(&headers(None)));
        assert!(!same_origin(&headers(Some("https://evil.example"))));
    }
}
