//! Background jobs (training and testing).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, json_column, now_ms};

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DONE: &str = "done";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

/// Message of jobs that were running when the server stopped, queued again at start-up.
pub const RESUMING: &str = "queued again after a server restart";

/// A job as stored and as sent to clients (REST and SSE).
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: String,
    #[serde(skip)]
    pub user_id: String,
    /// `train` or `test`.
    pub kind: String,
    /// `queued`, `running`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// 0..=1.
    pub progress: f64,
    pub message: String,
    /// What was asked: model kind and epochs, or the model tested, and the dataset's name.
    pub params: serde_json::Value,
    /// Live detail: latest epoch metrics and the history so far.
    pub detail: serde_json::Value,
    /// Final metrics when done.
    pub result: serde_json::Value,
    /// The model trained (train) or tested (test).
    pub model_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JobRecord {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), DONE | FAILED | CANCELLED)
    }
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord, sqlx::Error> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        status: row.try_get("status")?,
        progress: row.try_get("progress")?,
        message: row.try_get("message")?,
        params: json_column(row.try_get("params")?),
        detail: json_column(row.try_get("detail")?),
        result: json_column(row.try_get("result")?),
        model_id: row.try_get("model_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

impl Db {
    pub async fn insert_job(&self, job: &JobRecord) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO jobs (id, user_id, kind, status, progress, message, params, detail, result,
               model_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&job.id)
        .bind(&job.user_id)
        .bind(&job.kind)
        .bind(&job.status)
        .bind(job.progress)
        .bind(&job.message)
        .bind(job.params.to_string())
        .bind(json_text(&job.detail))
        .bind(json_text(&job.result))
        .bind(&job.model_id)
        .bind(job.created_at)
        .bind(job.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The job, only if `user_id` owns it.
    pub async fn job(&self, user_id: &str, id: &str) -> Result<Option<JobRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, user_id, kind, status, progress, message, params, detail, result,
               model_id, created_at, updated_at FROM jobs WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Any job by id (for the worker).
    pub async fn job_by_id(&self, id: &str) -> Result<Option<JobRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, user_id, kind, status, progress, message, params, detail, result,
               model_id, created_at, updated_at FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    pub async fn list_jobs(&self, user_id: &str) -> Result<Vec<JobRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, user_id, kind, status, progress, message, params, detail, result,
               model_id, created_at, updated_at FROM jobs WHERE user_id = $1
             ORDER BY created_at DESC LIMIT 100",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Ids of queued jobs, oldest first.
    pub async fn queued_job_ids(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT id FROM jobs WHERE status = $1 ORDER BY created_at")
            .bind(QUEUED)
            .fetch_all(&self.pool)
            .await
    }

    /// Move a job from `from` to `to` status; false if it was not in `from`.
    pub async fn transition_job(
        &self,
        id: &str,
        from: &str,
        to: &str,
        message: &str,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, message = $2, updated_at = $3 WHERE id = $4 AND status = $5",
        )
        .bind(to)
        .bind(message)
        .bind(now_ms())
        .bind(id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Persist the live state of a running job.
    pub async fn save_job_progress(&self, job: &JobRecord) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET progress = $1, message = $2, detail = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(job.progress)
        .bind(&job.message)
        .bind(json_text(&job.detail))
        .bind(now_ms())
        .bind(&job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Persist the final state of a job.
    pub async fn finish_job(&self, job: &JobRecord) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET status = $1, progress = $2, message = $3, detail = $4, result = $5,
               model_id = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&job.status)
        .bind(job.progress)
        .bind(&job.message)
        .bind(json_text(&job.detail))
        .bind(json_text(&job.result))
        .bind(&job.model_id)
        .bind(now_ms())
        .bind(&job.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// At start-up no job can still be running: queue those left over again. Their files
    /// are still there, so training resumes from its last epoch checkpoint.
    /// Deletes a finished job of `user_id` (one still queued or running is left alone);
    /// whether one was deleted.
    pub async fn delete_finished_job(&self, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE id = $1 AND user_id = $2 AND status NOT IN ($3, $4)",
        )
        .bind(id)
        .bind(user_id)
        .bind(QUEUED)
        .bind(RUNNING)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn requeue_interrupted_jobs(&self) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, message = $2, updated_at = $3 WHERE status = $4",
        )
        .bind(QUEUED)
        .bind(RESUMING)
        .bind(now_ms())
        .bind(RUNNING)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
