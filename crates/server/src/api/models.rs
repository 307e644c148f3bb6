//! Model kinds and the caller's trained models.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::models::DEFAULT_MODEL_ID;
use crate::store::models::ModelRecord;

pub async fn kinds(State(state): State<AppState>, _caller: CurrentUser) -> Json<Value> {
    Json(json!({ "kinds": state.engine.model_kinds() }))
}

fn model_json(model: &ModelRecord) -> Value {
    let mut value = json!(model);
    value["builtin"] = json!(false);
    value
}

/// The shipped model as a list entry, if the engine has one.
pub(crate) fn default_model_json(state: &AppState) -> Option<Value> {
    state.engine.default_model().map(|m| {
        json!({
            "id": DEFAULT_MODEL_ID,
            "name": m.name,
            "kind": m.kind,
            "metrics": { "labels": m.labels },
            "about": m.about,
            "builtin": true,
            "created_at": null,
        })
    })
}

/// The shipped model (if any) first, then the caller's own, newest first.
async fn all_models(state: &AppState, user_id: &str) -> AppResult<Vec<Value>> {
    let own = state.db.list_models(user_id).await?;
    Ok(default_model_json(state)
        .into_iter()
        .chain(own.iter().map(model_json))
        .collect())
}

pub async fn list(State(state): State<AppState>, caller: CurrentUser) -> AppResult<Json<Value>> {
    Ok(Json(
        json!({ "models": all_models(&state, &caller.user.id).await? }),
    ))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<Value>> {
    if id == DEFAULT_MODEL_ID {
        return default_model_json(&state)
            .map(Json)
            .ok_or(AppError::NotFound);
    }
    let model = state
        .db
        .model(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(model_json(&model)))
}

/// The model bundle (`.ser`) as a download, for `ser predict --model` or another server.
pub async fn download(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    if id == DEFAULT_MODEL_ID {
        return Err(AppError::BadRequest(
            "the built-in model ships with ser (models/default.ser) and is not downloaded here"
                .to_owned(),
        ));
    }
    let model = state
        .db
        .model(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let bytes = state
        .blobs
        .get(&model.key)
        .await
        .map_err(AppError::internal)?
        .ok_or_else(|| AppError::internal(format!("model {} has no bundle", model.key)))?;
    let file = download_name(&model.name);
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A safe file name for a model called `name`: letters, digits, `-` and `_`, then `.ser`.
fn download_name(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_matches('-');
    format!("{}.ser", if stem.is_empty() { "model" } else { stem })
}

pub async fn remove(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if id == DEFAULT_MODEL_ID {
        return Err(AppError::BadRequest(
            "the built-in model cannot be deleted".to_owned(),
        ));
    }
    let model = state
        .db
        .model(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    state.db.delete_model(&caller.user.id, &id).await?;
    if let Err(e) = state.blobs.delete_with_copy(&model.key).await {
        tracing::warn!(model = %model.key, error = %e, "could not remove the model's bundle");
    }
    Ok(StatusCode::NO_CONTENT)
}
