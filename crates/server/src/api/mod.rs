//! The JSON API under `/api`.

mod accounts;
mod jobs;
mod models;
mod predict;
mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};

use crate::error::AppError;
use crate::state::AppState;

pub use accounts::{ClientIp, sign_in, sign_up, start_session};
pub(crate) use models::all_models;

/// Model id that means "the model shipped with the software".
pub const DEFAULT_MODEL_ID: &str = "default";

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
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::get_one).delete(jobs::remove))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/openapi.json", get(openapi))
        .fallback(|| async { AppError::NotFound })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
