//! API tokens for programs (`Authorization: Bearer ...`). Stored as hashes.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::users::{User, user_from_row};
use super::{Db, new_id, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Db {
    pub async fn create_token(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &str,
    ) -> Result<ApiToken, sqlx::Error> {
        let token = ApiToken {
            id: new_id(),
            name: name.to_owned(),
            created_at: now_ms(),
            last_used_at: None,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(user_id)
        .bind(&token.name)
        .bind(token_hash)
        .bind(token.created_at)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    pub async fn list_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at FROM api_tokens
             WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// True when a token of this user was deleted.
    pub async fn delete_token(&self, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The owner of a token, marking it used.
    pub async fn token_user(&self, token_hash: &str) -> Result<Option<User>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT u.id, u.name, u.email, u.created_at FROM api_tokens t
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now_ms())
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        user_from_row(&row).map(Some)
    }
}
