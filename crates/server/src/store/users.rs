//! Accounts.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub created_at: i64,
}

impl User {
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// Outcome of [`Db::create_user`].
pub enum Created {
    User(User),
    DuplicateEmail,
}

impl Db {
    /// `email` must already be normalised (trimmed, lower-case).
    pub async fn create_user(
        &self,
        name: &str,
        email: &str,
        password_hash: &str,
    ) -> Result<Created, sqlx::Error> {
        let user = User {
            id: new_id(),
            name: name.to_owned(),
            email: email.to_owned(),
            created_at: now_ms(),
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, name, email, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(password_hash)
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(Created::User(user)),
            Err(e) if is_unique_violation(&e) => Ok(Created::DuplicateEmail),
            Err(e) => Err(e),
        }
    }

    /// The user and their password hash, by normalised email.
    pub async fn user_with_hash(&self, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, name, email, created_at, password_hash FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((User::from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation() || d.message().to_lowercase().contains("unique"))
}

pub(crate) fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    User::from_row(row)
}
