//! API tokens: created and revoked by their owner; the secret is shown once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, API_TOKEN_PREFIX, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: CurrentUser,
    Json(body): Json<CreateBody>,
) -> AppResult<(StatusCode, Json<serde_json::Value>)> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::validation(
            "name",
            "Give the token a name of 1 to 100 characters.",
        ));
    }
    let secret = format!("{API_TOKEN_PREFIX}{}", crate::ids::random_hex(32));
    let token = state
        .db
        .create_token(&caller.user.id, name, &auth::hash_token(&secret))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": token, "secret": secret })),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> AppResult<Json<serde_json::Value>> {
    let tokens = state.db.list_tokens(&caller.user.id).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if state.db.delete_token(&caller.user.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}
