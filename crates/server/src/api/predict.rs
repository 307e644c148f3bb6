//! Prediction of uploaded or recorded clips, and the caller's prediction history.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::engine::{EngineError, Prediction};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::models::DEFAULT_MODEL_ID;
use crate::store::predictions::PredictionRecord;
use crate::store::{new_id, now_ms};
use crate::upload::{display_name, multipart_error, read_limited, text_field};

/// The model a request resolved to.
pub(crate) struct ChosenModel {
    /// `None` for the shipped default.
    pub id: Option<String>,
    pub name: String,
    /// The bundle as a local file (fetched from the store if need be); `None` for the default.
    pub path: Option<PathBuf>,
}

/// A model id from a form (empty or `default` = shipped model), checked against the caller.
pub(crate) async fn choose_model(
    state: &AppState,
    user_id: &str,
    id: Option<&str>,
) -> AppResult<ChosenModel> {
    match id
        .map(str::trim)
        .filter(|id| !id.is_empty() && *id != DEFAULT_MODEL_ID)
    {
        None => {
            let default = state.engine.default_model().ok_or_else(|| {
                AppError::BadRequest(
                    "no model chosen and no default model is installed; train one first".to_owned(),
                )
            })?;
            Ok(ChosenModel {
                id: None,
                name: default.name,
                path: None,
            })
        }
        Some(id) => {
            let model = state
                .db
                .model(user_id, id)
                .await?
                .ok_or(AppError::NotFound)?;
            let path = state
                .blobs
                .local_file(&model.key)
                .await
                .map_err(AppError::internal)?;
            Ok(ChosenModel {
                id: Some(model.id),
                name: model.name,
                path: Some(path),
            })
        }
    }
}

struct Upload {
    name: String,
    data: Vec<u8>,
}

/// Form fields of a prediction request.
struct PredictForm {
    model_id: Option<String>,
    source: String,
    /// The files are clips of one speaker (classified together).
    one_speaker: bool,
    files: Vec<Upload>,
}

async fn read_predict_form(state: &AppState, multipart: &mut Multipart) -> AppResult<PredictForm> {
    let config = &state.config;
    let mut form = PredictForm {
        model_id: None,
        source: "upload".to_owned(),
        one_speaker: false,
        files: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "model_id" => form.model_id = Some(text_field(field).await?),
            "one_speaker" => form.one_speaker = text_field(field).await? == "true",
            "source" => {
                let source = text_field(field).await?;
                form.source = if source == "microphone" {
                    source
                } else {
                    "upload".to_owned()
                };
            }
            "files" | "file" => {
                if form.files.len() >= config.max_predict_files {
                    return Err(AppError::BadRequest(format!(
                        "too many files: at most {} per request",
                        config.max_predict_files
                    )));
                }
                // A plain form value is not a file (browsers and curl -F name every upload).
                if field.file_name().is_none() {
                    return Err(AppError::BadRequest(
                        "form field 'files' must be a file upload, with a file name".to_owned(),
                    ));
                }
                let fallback = format!("file-{}", form.files.len() + 1);
                let name = display_name(field.file_name(), &fallback);
                let data =
                    read_limited(field, &name, config.max_audio_bytes, "audio files").await?;
                form.files.push(Upload { name, data });
            }
            _ => {}
        }
    }
    if form.files.is_empty() {
        return Err(AppError::BadRequest(
            "choose at least one audio file (form field 'files')".to_owned(),
        ));
    }
    Ok(form)
}

pub async fn predict(
    State(state): State<AppState>,
    caller: CurrentUser,
    mut multipart: Multipart,
) -> AppResult<Json<Value>> {
    let form = read_predict_form(&state, &mut multipart).await?;
    let model = choose_model(&state, &caller.user.id, form.model_id.as_deref()).await?;
    let names: Vec<String> = form.files.iter().map(|u| u.name.clone()).collect();
    let mut outcomes: Vec<Option<Result<Prediction, EngineError>>> =
        names.iter().map(|_| None).collect();
    let mut uploads = Vec::with_capacity(names.len());
    for (i, upload) in form.files.into_iter().enumerate() {
        if upload.data.is_empty() {
            let error = format!("{} is empty", upload.name);
            outcomes[i] = Some(Err(EngineError::Input(error)));
        } else {
            uploads.push((i, upload));
        }
    }
    for (i, outcome) in run_engine(&state, &model, uploads, form.one_speaker).await {
        outcomes[i] = outcome;
    }
    let mut results = Vec::with_capacity(names.len());
    for (name, outcome) in names.iter().zip(outcomes) {
        let source = &form.source;
        results.push(result_json(&state, &caller.user.id, &model, source, name, outcome).await?);
    }
    Ok(Json(json!({
        "model": { "id": model.id.as_deref().unwrap_or(DEFAULT_MODEL_ID), "name": model.name },
        "results": results,
    })))
}

/// What the engine made of each upload (by its place in the request): one call per file, or
/// with `one_speaker` one call for all of them. `None` where the engine's task died.
async fn run_engine(
    state: &AppState,
    model: &ChosenModel,
    uploads: Vec<(usize, Upload)>,
    one_speaker: bool,
) -> Vec<(usize, Option<Result<Prediction, EngineError>>)> {
    let places: Vec<usize> = uploads.iter().map(|(i, _)| *i).collect();
    if one_speaker && uploads.len() > 1 {
        let (engine, path) = (state.engine.clone(), model.path.clone());
        let task = tokio::task::spawn_blocking(move || {
            let clips: Vec<(&[u8], &str)> = uploads
                .iter()
                .map(|(_, u)| (u.data.as_slice(), u.name.as_str()))
                .collect();
            engine.predict_one_speaker(path.as_deref(), &clips)
        });
        let results = task
            .await
            .inspect_err(|join| tracing::error!(error = %join, "prediction panicked"))
            .ok();
        return match results {
            Some(results) => places
                .into_iter()
                .zip(results.into_iter().map(Some))
                .collect(),
            None => places.into_iter().map(|i| (i, None)).collect(),
        };
    }
    let mut outcomes = Vec::with_capacity(uploads.len());
    for (i, upload) in uploads {
        let (engine, path) = (state.engine.clone(), model.path.clone());
        let name = upload.name.clone();
        let task = tokio::task::spawn_blocking(move || {
            engine.predict(path.as_deref(), &upload.data, &upload.name)
        });
        let outcome = task
            .await
            .inspect_err(|join| tracing::error!(file = %name, error = %join, "prediction panicked"))
            .ok();
        outcomes.push((i, outcome));
    }
    outcomes
}

/// One file's outcome, stored when it is a prediction: `{file_name, ok: true, prediction,
/// uncertain}`, `{file_name, ok: false, no_speech: true, error}` for audio without speech, or
/// `{file_name, ok: false, error}`.
async fn result_json(
    state: &AppState,
    user_id: &str,
    model: &ChosenModel,
    source: &str,
    name: &str,
    outcome: Option<Result<Prediction, EngineError>>,
) -> AppResult<Value> {
    let failed = |error: String| Ok(json!({ "file_name": name, "ok": false, "error": error }));
    let prediction = match outcome {
        Some(Ok(p)) => p,
        Some(Err(EngineError::Input(msg))) => return failed(state.config.scrub(&msg)),
        Some(Err(no_speech @ EngineError::NoSpeech(_))) => {
            let error = no_speech.to_string();
            return Ok(
                json!({ "file_name": name, "ok": false, "no_speech": true, "error": error }),
            );
        }
        Some(Err(other)) => {
            tracing::error!(file = %name, error = %other, "prediction failed");
            return failed(format!("{name}: the engine failed unexpectedly"));
        }
        None => return failed(format!("{name}: the engine crashed unexpectedly")),
    };
    let record = record_from(prediction, model, source, name);
    state.db.insert_prediction(user_id, &record).await?;
    let uncertain = record.uncertain;
    Ok(json!({ "file_name": name, "ok": true, "prediction": record, "uncertain": uncertain }))
}

fn record_from(
    p: Prediction,
    model: &ChosenModel,
    source: &str,
    file_name: &str,
) -> PredictionRecord {
    PredictionRecord {
        id: new_id(),
        model_id: model.id.clone(),
        model_name: model.name.clone(),
        source: source.to_owned(),
        file_name: file_name.to_owned(),
        label: p.label,
        confidence: f64::from(p.confidence),
        uncertain: p.uncertain,
        true_label: p.true_label,
        probabilities: json!(p.probabilities),
        waveform: json!(p.waveform),
        timeline: p.timeline.map_or(Value::Null, |t| json!(t)),
        duration_s: f64::from(p.duration_s),
        created_at: now_ms(),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// The most predictions one list request returns.
const MAX_LIST: i64 = 1000;

/// Where a stored prediction came from.
const SOURCES: [&str; 2] = ["upload", "microphone"];

pub async fn list(
    State(state): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<Value>> {
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=MAX_LIST) => n,
        Some(n) => {
            return Err(AppError::BadRequest(format!(
                "limit must be from 1 to {MAX_LIST}, not {n}"
            )));
        }
    };
    let predictions = state.db.list_predictions(&caller.user.id, limit).await?;
    Ok(Json(json!({ "predictions": predictions })))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<PredictionRecord>> {
    let record = state.db.prediction(&caller.user.id, &id).await?;
    record.map(Json).ok_or(AppError::NotFound)
}

pub async fn remove(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if state.db.delete_prediction(&caller.user.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    /// Only this source (`upload` or `microphone`); all when absent.
    source: Option<String>,
}

pub async fn remove_all(
    State(state): State<AppState>,
    caller: CurrentUser,
    Query(query): Query<DeleteQuery>,
) -> AppResult<Json<Value>> {
    if let Some(source) = query.source.as_deref()
        && !SOURCES.contains(&source)
    {
        return Err(AppError::BadRequest(format!(
            "source must be one of {}, not {source:?}",
            SOURCES.join(", ")
        )));
    }
    let deleted = state
        .db
        .delete_predictions(&caller.user.id, query.source.as_deref())
        .await?;
    Ok(Json(json!({ "deleted": deleted })))
}
