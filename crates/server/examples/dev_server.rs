//! Run the web app with the fake engine of the tests (no ML: answers from file names), for
//! trying the UI and taking screenshots.
//!
//! ```text
//! cargo run -p ser-server --example dev_server
//! SER_ADDR=127.0.0.1:8090 SER_DATA_DIR=/tmp/ser-dev cargo run -p ser-server --example dev_server
//! ```
//! With `SER_DEV_AUTOLOGIN=1` it creates a demo account with sample jobs and predictions and
//! signs every cookie-less browser in as that account (for headless screenshots only).

// The tests' gates and counters go unused here.
#[allow(dead_code)]
#[path = "../tests/support/fake_engine.rs"]
mod fake_engine;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use fake_engine::FakeEngine;
use ser_server::{AppState, ServerConfig};
use tower::ServiceExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn config() -> ServerConfig {
    let env = |k: &str| std::env::var(k).ok();
    let data_dir = PathBuf::from(env("SER_DATA_DIR").unwrap_or_else(|| "target/ser-dev".into()));
    std::fs::create_dir_all(&data_dir).expect("create data dir");
    ServerConfig {
        addr: env("SER_ADDR")
            .and_then(|a| a.parse().ok())
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
        database_url: env("SER_DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data_dir.join("ser.db").display())),
        data_dir,
        ..ServerConfig::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter("info,tower_http=warn")
        .init();
    let config = config();
    let engine = Arc::new(FakeEngine {
        epoch_time: Duration::from_millis(120),
        ..FakeEngine::default()
    });
    if std::env::var("SER_DEV_AUTOLOGIN").is_err() {
        return Ok(ser_server::serve(config, engine).await?);
    }
    let addr = config.addr;
    let state = AppState::new(config, engine).await?;
    let app = ser_server::router(state);
    let cookie = seed_demo_account(&app).await?;
    let app = app.layer(middleware::from_fn(move |mut req: Request, next: Next| {
        let cookie = cookie.clone();
        async move {
            if !req.headers().contains_key(header::COOKIE) {
                req.headers_mut().insert(
                    header::COOKIE,
                    HeaderValue::from_str(&cookie).expect("cookie"),
                );
            }
            next.run(req).await
        }
    }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("demo (auto-login) on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

async fn call(app: &axum::Router, req: Request) -> Result<(String, serde_json::Value), Error> {
    let res = app.clone().oneshot(req).await?;
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    let body = to_bytes(res.into_body(), usize::MAX).await?;
    Ok((cookie, serde_json::from_slice(&body).unwrap_or_default()))
}

fn multipart(
    uri: &str,
    cookie: &str,
    csrf: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Request {
    let boundary = "demo-boundary";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        let file = file
            .map(|f| format!("; filename=\"{f}\""))
            .unwrap_or_default();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Request::post(uri)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::COOKIE, cookie)
        .header("x-csrf-token", csrf)
        .body(Body::from(body))
        .expect("request")
}

/// A short synthetic vowel-like WAV (16-bit mono, 16 kHz).
fn tone_wav(seconds: f32, pitch: f32) -> Vec<u8> {
    let rate = 16000u32;
    let n = (seconds * rate as f32) as u32;
    let mut wav = Vec::with_capacity(44 + n as usize * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + n * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(n * 2).to_le_bytes());
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let envelope = (std::f32::consts::PI * t / seconds).sin().powi(2)
            * (0.6 + 0.4 * (t * 7.0).sin().abs());
        let s = envelope
            * ((2.0 * std::f32::consts::PI * pitch * t).sin() * 0.6
                + (2.0 * std::f32::consts::PI * pitch * 2.7 * t).sin() * 0.25);
        wav.extend_from_slice(&((s * 26000.0) as i16).to_le_bytes());
    }
    wav
}

/// Create the demo account with a finished training run, a test and some predictions
/// (once: later runs just sign in).
async fn seed_demo_account(app: &axum::Router) -> Result<String, Error> {
    let json = |uri: &str, body: serde_json::Value| {
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
    };
    let signup = serde_json::json!({"name": "Dana Reyes", "email": "dana@example.com", "password": "demo-password"});
    let (cookie, body) = call(app, json("/api/auth/signup", signup)?).await?;
    if !cookie.is_empty() {
        return finish_seed(app, cookie, body).await;
    }
    let signin = serde_json::json!({"email": "dana@example.com", "password": "demo-password"});
    Ok(call(app, json("/api/auth/signin", signin)?).await?.0)
}

async fn finish_seed(
    app: &axum::Router,
    cookie: String,
    body: serde_json::Value,
) -> Result<String, Error> {
    let csrf = body["csrf_token"].as_str().unwrap_or_default().to_owned();
    let zip = b"PK\x03\x04 demo dataset";
    let train = multipart(
        "/api/jobs/train",
        &cookie,
        &csrf,
        &[
            ("kind", None, b"fake-cnn"),
            ("epochs", None, b"30"),
            ("name", None, b"RAVDESS CNN, actors 1-19"),
            ("dataset", Some("ravdess_speech.zip"), zip),
        ],
    );
    call(app, train).await?;
    let test = multipart(
        "/api/jobs/test",
        &cookie,
        &csrf,
        &[
            ("model_id", None, b"default"),
            ("dataset", Some("ravdess_actors_20-24.zip"), zip),
        ],
    );
    call(app, test).await?;
    let clips = [
        ("happy_take1.wav", 180.0),
        ("angry_take2.wav", 140.0),
        ("interview_long_part2.wav", 210.0),
        ("sad_take1.wav", 120.0),
    ];
    for (name, pitch) in clips {
        let wav = tone_wav(2.5, pitch);
        call(
            app,
            multipart(
                "/api/predict",
                &cookie,
                &csrf,
                &[("files", Some(name), &wav)],
            ),
        )
        .await?;
    }
    let wav = tone_wav(3.0, 160.0);
    call(
        app,
        multipart(
            "/api/predict",
            &cookie,
            &csrf,
            &[
                ("source", None, b"microphone"),
                ("files", Some("recording-20250101-101500.wav"), &wav),
            ],
        ),
    )
    .await?;
    Ok(cookie)
}
