//! The JSON API under `/api`.

mod accounts;
mod jobs;
mod models;
mod predict;
mod stream;
mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::error::AppError;
use crate::state::AppState;

const OPENAPI: &str = include_str!("../assets/openapi.json");

pub fn router(state: &AppState) -> Router<AppState> {
    let config = &state.config;
    Router::new()
        .route("/auth/signup", post(accounts::signup))
        .route("/auth/signin", post(accounts::signin))
        .route("/auth/signout", post(accounts::signout))
        .route("/me", get(accounts::me))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::remove))
        .route("/model-kinds", get(models::kinds))
        .route("/models", get(models::list))
        .route("/models/{id}", get(models::get_one).delete(models::remove))
        .route("/models/{id}/download", get(models::download))
        .route(
            "/predict",
            post(predict::predict).layer(DefaultBodyLimit::max(config.max_predict_body())),
        )
        .route(
            "/predictions",
            get(predict::list).delete(predict::remove_all),
        )
        .route(
            "/predictions/{id}",
            get(predict::get_one).delete(predict::remove),
        )
        .route(
            "/jobs/train",
            post(jobs::train).layer(DefaultBodyLimit::max(config.max_dataset_body())),
        )
        .route(
            "/jobs/test",
            post(jobs::test).layer(DefaultBodyLimit::max(config.max_dataset_body())),
        )
        .route("/stream", get(stream::stream))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get_one).delete(jobs::remove))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
        .layer(axum::middleware::map_response(json_errors))
}

/// Largest framework rejection text carried into an Error JSON.
const MAX_REJECTION_BYTES: usize = 16 * 1024;

/// Framework rejections (a malformed multipart body, a wrong Content-Type, a bad query or
/// JSON body) come as plain text; the API answers every error with its Error JSON instead.
async fn json_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_lowercase(),
        false => text,
    };
    // A body the framework could not read into the handler's type is malformed (400); 422
    // stays for the fields our own validation names.
    let status = match status {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        other => other,
    };
    parts.status = status;
    let code = match status.as_u16() {
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let body = serde_json::json!({ "error": message, "code": code });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
