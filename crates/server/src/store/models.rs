//! Trained models owned by users. The bundle's storage key is server-side only (never
//! serialised); the column keeps its first name, `path`.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, json_column};

/// The id that names the shipped model wherever a model id is asked for.
pub const DEFAULT_MODEL_ID: &str = "default";

#[derive(Debug, Clone, Serialize)]
pub struct ModelRecord {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The bundle's key in [`crate::blobs::Blobs`].
    #[serde(skip)]
    pub key: String,
    /// Accuracies, labels, training history, protocol.
    pub metrics: serde_json::Value,
    pub created_at: i64,
}

fn model_from_row(row: &AnyRow) -> Result<ModelRecord, sqlx::Error> {
    Ok(ModelRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        key: row.try_get("path")?,
        metrics: json_column(row.try_get("metrics")?),
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Rows written before models had keys hold absolute paths: those inside the local
    /// store's folder `root` become keys (relative paths).
    pub async fn relativise_model_paths(&self, root: &std::path::Path) -> Result<(), sqlx::Error> {
        let prefix = format!("{}/", root.display());
        let rows = sqlx::query("SELECT id, path FROM models WHERE path LIKE '/%'")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let (id, path): (String, String) = (row.try_get("id")?, row.try_get("path")?);
            if let Some(key) = path.strip_prefix(&prefix) {
                sqlx::query("UPDATE models SET path = $1 WHERE id = $2")
                    .bind(key)
                    .bind(&id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

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
        .bind(&model.key)
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

#[cfg(test)]
mod tests {
    use super::super::users::Created;
    use super::*;

    /// Models stored before keys held absolute paths in the data folder; they keep working.
    #[tokio::test]
    async fn absolute_paths_in_the_store_folder_become_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        let Created::User(user) = db.create_user("ann", "ann@example.com", "x").await.unwrap()
        else {
            panic!("duplicate");
        };
        let root = dir.path().join("data");
        let model = |id: &str, key: String| ModelRecord {
            id: id.to_owned(),
            name: id.to_owned(),
            kind: "cnn4".to_owned(),
            key,
            metrics: serde_json::Value::Null,
            created_at: 0,
        };
        let inside = format!("{}/users/{}/models/a.bundle", root.display(), user.id);
        db.insert_model(&user.id, &model("a", inside))
            .await
            .unwrap();
        db.insert_model(&user.id, &model("b", "/elsewhere/b.bundle".into()))
            .await
            .unwrap();
        db.relativise_model_paths(&root).await.unwrap();
        let key = |id: &str| {
            let db = db.clone();
            let user = user.id.clone();
            let id = id.to_owned();
            async move { db.model(&user, &id).await.unwrap().unwrap().key }
        };
        assert_eq!(key("a").await, format!("users/{}/models/a.bundle", user.id));
        assert_eq!(key("b").await, "/elsewhere/b.bundle");
    }
}
