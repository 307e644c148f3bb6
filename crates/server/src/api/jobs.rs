//! Training and testing jobs: start, list, follow (SSE) and cancel.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::multipart::Field;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::predict::choose_model;
use crate::auth::CurrentUser;
use crate::engine::TrainSpec;
use crate::error::{AppError, AppResult};
use crate::jobs::{JobFiles, TestParams, TrainParams, new_job};
use crate::state::AppState;
use crate::store::jobs::{CANCELLED, JobRecord, QUEUED, RUNNING};
use crate::store::models::DEFAULT_MODEL_ID;
use crate::upload::{display_name, multipart_error, save_zip, text_field};

const MAX_EPOCHS: u32 = 1000;
/// Ensembles larger than this cost more prediction time than they add accuracy.
const MAX_MEMBERS: u32 = 5;

/// The text fields of a job form, plus the saved dataset's display name.
#[derive(Default)]
struct JobForm {
    fields: std::collections::HashMap<String, String>,
    dataset_name: Option<String>,
}

/// Read a job form, streaming the `dataset` file to `files.local_upload`.
async fn read_job_form(
    state: &AppState,
    multipart: &mut Multipart,
    files: &JobFiles,
) -> AppResult<JobForm> {
    let mut form = JobForm::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "dataset" {
            form.dataset_name = Some(save_dataset(state, field, files).await?);
        } else if matches!(
            name.as_str(),
            "kind" | "epochs" | "augment" | "members" | "name" | "model_id"
        ) {
            let value = text_field(field).await?;
            form.fields.insert(name, value);
        }
    }
    if form.dataset_name.is_none() {
        return Err(AppError::BadRequest(
            "choose a dataset ZIP file (form field 'dataset')".to_owned(),
        ));
    }
    Ok(form)
}

async fn save_dataset(state: &AppState, field: Field<'_>, files: &JobFiles) -> AppResult<String> {
    let name = display_name(field.file_name(), "dataset.zip");
    save_zip(
        field,
        &name,
        &files.local_upload,
        state.config.max_zip_bytes,
    )
    .await?;
    Ok(name)
}

/// Read the form and put the dataset in the store; on any error remove what was saved.
async fn job_form(
    state: &AppState,
    multipart: &mut Multipart,
    files: &JobFiles,
) -> AppResult<JobForm> {
    let form = match read_job_form(state, multipart, files).await {
        Ok(form) => files.store_upload(&state.blobs).await.map(|()| form),
        Err(e) => Err(e),
    };
    if form.is_err() {
        files.remove(&state.blobs).await;
    }
    form
}

fn train_params(state: &AppState, form: &JobForm) -> AppResult<TrainParams> {
    let kind_id = form.fields.get("kind").map(String::as_str).unwrap_or("");
    let kinds = state.engine.model_kinds();
    let kind = kinds
        .iter()
        .find(|k| k.id == kind_id)
        .ok_or_else(|| AppError::validation("kind", "Choose one of the offered model types."))?;
    let epochs: u32 = form
        .fields
        .get("epochs")
        .and_then(|e| e.parse().ok())
        .filter(|e| (1..=MAX_EPOCHS).contains(e))
        .ok_or_else(|| {
            AppError::validation(
                "epochs",
                format!("Epochs must be a whole number from 1 to {MAX_EPOCHS}."),
            )
        })?;
    let augment = match form.fields.get("augment").map(|a| a.trim()) {
        None | Some("" | "false" | "off" | "0") => false,
        Some("true" | "on" | "1") => true,
        Some(_) => {
            return Err(AppError::validation(
                "augment",
                "Augment must be true or false.",
            ));
        }
    };
    let members: u32 = match form.fields.get("members") {
        None => 1,
        Some(m) => m
            .trim()
            .parse()
            .ok()
            .filter(|m| (1..=MAX_MEMBERS).contains(m))
            .ok_or_else(|| {
                AppError::validation(
                    "members",
                    format!("Ensemble members must be a whole number from 1 to {MAX_MEMBERS}."),
                )
            })?,
    };
    if members > 1 && !kind.ensemble {
        return Err(AppError::validation(
            "members",
            format!("{} trains as a single model, not an ensemble.", kind.name),
        ));
    }
    let name = form
        .fields
        .get("name")
        .map(|n| n.trim())
        .filter(|n| !n.is_empty());
    let model_name = name.map_or_else(
        || {
            let ensemble = if members > 1 {
                format!(" x{members}")
            } else {
                String::new()
            };
            let augmented = if augment { ", augmented" } else { "" };
            format!("{}{ensemble} · {epochs} epochs{augmented}", kind.name)
        },
        |n| n.chars().take(100).collect(),
    );
    Ok(TrainParams {
        spec: TrainSpec {
            kind: kind.id.clone(),
            epochs,
            augment,
            members,
        },
        model_name,
        dataset_name: form.dataset_name.clone().unwrap_or_default(),
    })
}

async fn enqueue(state: &AppState, job: JobRecord) -> AppResult<(StatusCode, Json<JobRecord>)> {
    state.db.insert_job(&job).await?;
    state.jobs.notify_queued();
    Ok((StatusCode::ACCEPTED, Json(job)))
}

pub async fn train(
    State(state): State<AppState>,
    caller: CurrentUser,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, Json<JobRecord>)> {
    let job = new_job(&caller.user.id, "train", Value::Null, None);
    let files = JobFiles::new(&state.blobs, &caller.user.id, &job.id);
    let form = job_form(&state, &mut multipart, &files).await?;
    let params = match train_params(&state, &form) {
        Ok(params) => params,
        Err(e) => {
            files.remove(&state.blobs).await;
            return Err(e);
        }
    };
    let job = JobRecord {
        params: json!(params),
        ..job
    };
    enqueue(&state, job).await
}

pub async fn test(
    State(state): State<AppState>,
    caller: CurrentUser,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, Json<JobRecord>)> {
    let job = new_job(&caller.user.id, "test", Value::Null, None);
    let files = JobFiles::new(&state.blobs, &caller.user.id, &job.id);
    let form = job_form(&state, &mut multipart, &files).await?;
    let model = match choose_model(
        &state,
        &caller.user.id,
        form.fields.get("model_id").map(String::as_str),
    )
    .await
    {
        Ok(model) => model,
        Err(e) => {
            files.remove(&state.blobs).await;
            return Err(e);
        }
    };
    let params = TestParams {
        model_id: model
            .id
            .clone()
            .unwrap_or_else(|| DEFAULT_MODEL_ID.to_owned()),
        model_name: model.name,
        dataset_name: form.dataset_name.unwrap_or_default(),
    };
    let job = JobRecord {
        params: json!(params),
        model_id: model.id,
        ..job
    };
    enqueue(&state, job).await
}

pub async fn list(State(state): State<AppState>, caller: CurrentUser) -> AppResult<Json<Value>> {
    Ok(Json(
        json!({ "jobs": state.db.list_jobs(&caller.user.id).await? }),
    ))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Json<JobRecord>> {
    state
        .db
        .job(&caller.user.id, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

/// Deletes a finished run from the list (a model it trained stays in Models).
pub async fn remove(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let job = state
        .db
        .job(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !state
        .db
        .delete_finished_job(&caller.user.id, &job.id)
        .await?
    {
        return Err(AppError::Conflict(
            "the job has not finished: cancel it first".to_owned(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn cancel(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<JobRecord>)> {
    let job = state
        .db
        .job(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    match job.status.as_str() {
        QUEUED => {
            if state
                .db
                .transition_job(&id, QUEUED, CANCELLED, "cancelled before it started")
                .await?
            {
                JobFiles::new(&state.blobs, &caller.user.id, &id)
                    .remove(&state.blobs)
                    .await;
            }
        }
        RUNNING => {
            state.db.request_job_cancel(&id).await?;
            state.jobs.request_cancel(&id);
        }
        _ => {
            return Err(AppError::Conflict(
                "the job has already finished".to_owned(),
            ));
        }
    }
    let mut job = state
        .db
        .job(&caller.user.id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    match job.status.as_str() {
        CANCELLED => state.jobs.finish(&job),
        // Say so at once: the engine may not report again for a while (the job saves the
        // word itself with its next progress).
        RUNNING => {
            job.message = crate::jobs::CANCELLING.to_owned();
            state.jobs.publish(&job);
        }
        _ => {}
    }
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Server-sent events: the job's current state at once, then every change, ending when
/// the job finishes. Each event is `event: job` with the full job as JSON data.
pub async fn events(
    State(state): State<AppState>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Follow before reading the snapshot so no change falls in between.
    let events = state.jobs.follow(&id);
    let job = match state.db.job(&caller.user.id, &id).await {
        Ok(Some(job)) => job,
        missing_or_failed => {
            state.jobs.unfollow(&id, events);
            return Err(missing_or_failed.map_or_else(AppError::from, |_| AppError::NotFound));
        }
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let id = job.id.clone();
        let events = forward_job_events(&state, job, events, tx).await;
        state.jobs.unfollow(&id, events);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn job_event(job: &JobRecord) -> Event {
    Event::default()
        .event("job")
        .data(serde_json::to_string(job).unwrap_or_default())
}

/// Feed `tx` until the job finishes or the client goes away: from the job's event channel
/// while a worker of this process runs it, otherwise from the database (it waits in the
/// queue, or another process's worker runs it). Gives the channel back.
async fn forward_job_events(
    state: &AppState,
    job: JobRecord,
    mut events: broadcast::Receiver<JobRecord>,
    tx: mpsc::Sender<Event>,
) -> broadcast::Receiver<JobRecord> {
    let id = job.id.clone();
    let mut last_update = job.updated_at;
    if tx.send(job_event(&job)).await.is_err() || job.is_finished() {
        return events;
    }
    loop {
        let job = tokio::select! {
            event = events.recv() => match event {
                Ok(job) => job,
                // Every event carries the whole job, so skipped ones lose nothing.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                // It stopped here unfinished (paused, or taken over elsewhere).
                Err(broadcast::error::RecvError::Closed) => {
                    events = state.jobs.follow(&id);
                    continue;
                }
            },
            () = tokio::time::sleep(DATABASE_POLL), if !state.jobs.is_running_here(&id) => {
                let Ok(Some(job)) = state.db.job_by_id(&id).await else {
                    return events;
                };
                if job.updated_at == last_update && !job.is_finished() {
                    continue;
                }
                job
            }
        };
        last_update = job.updated_at;
        if tx.send(job_event(&job)).await.is_err() || job.is_finished() {
            return events;
        }
    }
}

/// How often events of a job running elsewhere are read from the database (its worker
/// saves progress every half second).
const DATABASE_POLL: Duration = Duration::from_millis(500);
