//! Trained models owned by users. The file path is server-side only (never serialised).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, json_column};

#[derive(Debug, Clone, Serialize)]
pub struct ModelRecord {
    pub id: String,
    pub name: String,
    pub kind: String,
    #[serde(skip)]
    pub path: String,
    /// Accuracies, labels, training history, protocol.
    pub metrics: serde_json::Value,
    pub created_at: i64,
}

fn model_from_row(row: &AnyRow) -> Result<ModelRecord, sqlx::Error> {
    Ok(ModelRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        path: row.try_get("path")?,
        metrics: json_column(row.try_get("metrics")?),
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    pub async fn insert_model(
        &self,
        user_id: &str,
        model: &ModelRecord,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO models (id, user_id, name, kind, path, metrics, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&model.id)
        .bind(user_id)
        .bind(&model.name)
        .bind(&model.kind)
        .bind(&model.path)
        .bind(model.metrics.to_string())
        .bind(model.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_models(&self, user_id: &str) -> Result<Vec<ModelRecord>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, kind, path, metrics, created_at FROM models
             WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(model_from_row).collect()
    }

    /// The model, only if `user_id` owns it.
    pub async fn model(&self, user_id: &str, id: &str) -> Result<Option<ModelRecord>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, name, kind, path, metrics, created_at FROM models WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(model_from_row).transpose()
    }

    pub async fn delete_model(&self, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM models WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
