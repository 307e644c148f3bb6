//! The web application and JSON API of `ser`.
//!
//! [`serve`] runs it; [`router`] builds the axum app over an [`AppState`] (tests drive it
//! without a socket). All ML work goes through the [`Engine`] trait.

mod accounts;
mod api;
mod auth;
mod blobs;
mod config;
mod engine;
mod error;
mod ids;
mod jobs;
mod pages;
mod ratelimit;
mod state;
mod store;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use blobs::Blobs;
pub use config::ServerConfig;
pub use engine::{
    ClassMetrics, DefaultModel, Engine, EngineError, EpochRecord, LIVE_SAMPLE_RATE, LabelProb,
    LiveResult, LiveSession, ModelKind, Prediction, TestOutcome, Timeline, TimelineSegment,
    TrainOutcome, TrainProgress, TrainSpec,
};
pub use error::ServerError;
pub use state::AppState;

/// Content-Security-Policy: everything from this origin, nothing inline, no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
    media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The whole application: pages, assets and `/api`.
pub fn router(state: AppState) -> Router {
    let headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("permissions-policy"),
            "microphone=(self), camera=()",
        ),
    ];
    let mut app = Router::new()
        .nest("/api", api::router(&state))
        .merge(pages::router());
    for (name, value) in headers {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    app.layer(TraceLayer::new_for_http()).with_state(state)
}

/// Open connections (event streams of running jobs) get this long to close after Ctrl-C or
/// SIGTERM before the server stops anyway.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Run the server until Ctrl-C (or SIGTERM): then it takes no new work, pauses running jobs
/// (the next start resumes them from their checkpoints) and exits within a few seconds.
pub async fn serve(config: ServerConfig, engine: Arc<dyn Engine>) -> Result<(), ServerError> {
    let addr = config.addr;
    let state = AppState::new(config, engine).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
    let pausing = state.clone();
    let server = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: pausing running jobs");
        pausing.pause_jobs();
        let _ = stopping.send(true);
    });
    let deadline = async move {
        let _ = stop_seen.wait_for(|stop| *stop).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::info!("closing the connections still open"),
    }
    Ok(())
}

/// Run job workers only (no HTTP) until Ctrl-C or SIGTERM, beside `ser serve` processes on
/// the same database and data folder: then running jobs are paused and their leases given
/// up, so that another worker resumes them at once.
pub async fn work(config: ServerConfig, engine: Arc<dyn Engine>) -> Result<(), ServerError> {
    let workers = config.job_workers;
    let state = AppState::new(config, engine).await?;
    tracing::info!(workers, "running jobs from the database");
    shutdown_signal().await;
    tracing::info!("shutting down: pausing running jobs");
    state.pause_jobs();
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while state.jobs_running_here() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
