//! Sliding-window limit on failed sign-ins, per client address and per email. The failures
//! are kept in the database, so that every replica of the server counts the same ones.

use std::time::Duration;

use crate::store::{Db, duration_ms, now_ms};

#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
}

impl RateLimiter {
    pub fn new(limit: usize, window: Duration) -> Self {
        Self { limit, window }
    }

    fn window_ms(&self) -> i64 {
        duration_ms(self.window)
    }

    /// Seconds to wait if any key is over its limit, else `None`.
    pub async fn blocked_for(&self, db: &Db, keys: &[String]) -> Result<Option<u64>, sqlx::Error> {
        let now = now_ms();
        let mut wait_ms = None;
        for key in keys {
            let (failures, oldest) = db
                .signin_failures_since(key, now - self.window_ms() + 1)
                .await?;
            if failures >= self.limit as i64 {
                // Under the limit again once the oldest failure in the window has left it.
                let left = oldest.map_or(0, |t| t + self.window_ms() - now);
                wait_ms = wait_ms.max(Some(left));
            }
        }
        Ok(wait_ms.map(|ms| (ms.max(0) as u64).div_ceil(1000).max(1)))
    }

    pub async fn record_failure(&self, db: &Db, keys: &[String]) -> Result<(), sqlx::Error> {
        let now = now_ms();
        db.record_signin_failure(keys, now, now - self.window_ms())
            .await
    }

    /// A successful sign-in clears that account's counter (not the address's).
    pub async fn clear(&self, db: &Db, key: &str) -> Result<(), sqlx::Error> {
        db.clear_signin_failures(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocks_after_limit_and_clears_across_replicas() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        // Two replicas: two limiters over one database.
        let (a, b) = (
            RateLimiter::new(2, Duration::from_secs(60)),
            RateLimiter::new(2, Duration::from_secs(60)),
        );
        let keys = vec!["ip:1".to_owned(), "email:a".to_owned()];
        assert_eq!(a.blocked_for(&db, &keys).await.unwrap(), None);
        a.record_failure(&db, &keys).await.unwrap();
        b.record_failure(&db, &keys).await.unwrap();
        let wait = a.blocked_for(&db, &keys).await.unwrap().unwrap();
        assert!((59..=60).contains(&wait), "{wait}");
        b.clear(&db, "email:a").await.unwrap();
        assert!(
            a.blocked_for(&db, &["email:a".to_owned()])
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            a.blocked_for(&db, &["ip:1".to_owned()])
                .await
                .unwrap()
                .is_some()
        );

        let brief = RateLimiter::new(1, Duration::from_millis(50));
        brief
            .record_failure(&db, &["ip:2".to_owned()])
            .await
            .unwrap();
        assert!(
            brief
                .blocked_for(&db, &["ip:2".to_owned()])
                .await
                .unwrap()
                .is_some()
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(
            brief.blocked_for(&db, &["ip:2".to_owned()]).await.unwrap(),
            None
        );
    }
}
