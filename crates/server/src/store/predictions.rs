//! Past predictions.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, json_column};

#[derive(Debug, Clone, Serialize)]
pub struct PredictionRecord {
    pub id: String,
    /// `None` for the shipped default model.
    pub model_id: Option<String>,
    pub model_name: String,
    /// `upload` or `microphone`.
    pub source: String,
    pub file_name: String,
    pub label: String,
    pub confidence: f64,
    /// The confidence was below the model's threshold: no emotion stood out.
    #[serde(default)]
    pub uncertain: bool,
    pub true_label: Option<String>,
    pub probabilities: serde_json::Value,
    /// Only filled when a single prediction is fetched (it is large).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub waveform: serde_json::Value,
    /// A long recording's [`crate::Timeline`]; like the waveform, only when a single
    /// prediction is fetched.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub timeline: serde_json::Value,
    pub duration_s: f64,
    pub created_at: i64,
}

fn prediction_from_row(row: &AnyRow, with_waveform: bool) -> Result<PredictionRecord, sqlx::Error> {
    let (waveform, timeline) = if with_waveform {
        (
            json_column(row.try_get("waveform")?),
            json_column(row.try_get("timeline")?),
        )
    } else {
        (serde_json::Value::Null, serde_json::Value::Null)
    };
    Ok(PredictionRecord {
        id: row.try_get("id")?,
        model_id: row.try_get("model_id")?,
        model_name: row.try_get("model_name")?,
        source: row.try_get("source")?,
        file_name: row.try_get("file_name")?,
        label: row.try_get("label")?,
        confidence: row.try_get("confidence")?,
        uncertain: row.try_get::<i64, _>("uncertain")? != 0,
        true_label: row.try_get("true_label")?,
        probabilities: json_column(row.try_get("probs")?),
        waveform,
        timeline,
        duration_s: row.try_get("duration_s")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    pub async fn insert_prediction(
        &self,
        user_id: &str,
        p: &PredictionRecord,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO predictions (id, user_id, model_id, model_name, source, file_name, label,
               confidence, uncertain, true_label, probs, waveform, timeline, duration_s, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&p.id)
        .bind(user_id)
        .bind(&p.model_id)
        .bind(&p.model_name)
        .bind(&p.source)
        .bind(&p.file_name)
        .bind(&p.label)
        .bind(p.confidence)
        .bind(i64::from(p.uncertain))
        .bind(&p.true_label)
        .bind(p.probabilities.to_string())
        .bind(p.waveform.to_string())
        .bind((!p.timeline.is_null()).then(|| p.timeline.to_string()))
        .bind(p.duration_s)
        .bind(p.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first, at most `limit`.
    pub async fn list_predictions(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<PredictionRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, model_id, model_name, source, file_name, label, confidence, uncertain,
               true_label, probs,
               duration_s, created_at
             FROM predictions WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| prediction_from_row(r, false)).collect()
    }

    pub async fn prediction(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<PredictionRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, model_id, model_name, source, file_name, label, confidence, uncertain,
               true_label, probs,
               waveform, timeline, duration_s, created_at
             FROM predictions WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| prediction_from_row(&r, true)).transpose()
    }

    pub async fn delete_prediction(&self, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM predictions WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Delete all of a user's predictions, or only those from one source. Returns the count.
    pub async fn delete_predictions(
        &self,
        user_id: &str,
        source: Option<&str>,
    ) -> Result<u64, sqlx::Error> {
        let done = match source {
            Some(source) => {
                sqlx::query("DELETE FROM predictions WHERE user_id = $1 AND source = $2")
                    .bind(user_id)
                    .bind(source)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("DELETE FROM predictions WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected())
    }
}
