//! Failed sign-ins, kept for the sign-in rate limit (see [`crate::ratelimit`]).

use sqlx::Row;

use super::Db;

impl Db {
    /// How many failures `key` has at or after `since`, and when the first of them was.
    pub async fn signin_failures_since(
        &self,
        key: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), sqlx::Error> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM signin_failures WHERE key = $1 AND at >= $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// Records one failure at `at` for each key, and drops those older than `forget_before`.
    pub async fn record_signin_failure(
        &self,
        keys: &[String],
        at: i64,
        forget_before: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM signin_failures WHERE at < $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        for key in keys {
            sqlx::query("INSERT INTO signin_failures (key, at) VALUES ($1, $2)")
                .bind(key)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    pub async fn clear_signin_failures(&self, key: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM signin_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
