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

/// Message of a running job whose worker stopped (a shutdown) until another takes it over.
pub const RESUMING: &str = "waiting to resume after a restart";

/// Message of a job that a worker has just claimed.
pub const STARTING: &str = "starting";

/// Message of a running job that another worker took over (its own stopped or died); it
/// resumes from its last checkpoint.
pub const RESUMED: &str = "resumed after a restart";

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

/// Claims the oldest claimable job: queued ($5), or running ($6) with a lease that ended
/// before now ($7). The claim is checked again on the row it updates, so that two claims
/// racing for one row cannot both take it; PostgreSQL also skips rows another claim locked.
macro_rules! claim_next_job {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = $1, lease_owner = $2, lease_until = $3, updated_at = $4,
               message = CASE WHEN status = $8 THEN $9 ELSE $10 END
             WHERE id = (SELECT id FROM jobs
                         WHERE status = $5 OR (status = $6 AND lease_until < $7)
                         ORDER BY created_at LIMIT 1 ",
            $lock,
            ")
               AND (status = $5 OR (status = $6 AND lease_until < $7))
             RETURNING id, message"
        )
    };
}
const CLAIM_NEXT_JOB_POSTGRES: &str = claim_next_job!("FOR UPDATE SKIP LOCKED");
const CLAIM_NEXT_JOB_SQLITE: &str = claim_next_job!("");

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

    /// Claims the oldest job that is queued, or running under a lease that ran out (its
    /// worker died), for `owner` until `now + lease_ms`: the job's id and whether it was
    /// running before (it resumes from its checkpoints). Several workers may claim at once;
    /// each job goes to one of them (the claimed row is checked again as it is updated, and
    /// PostgreSQL skips rows another claim has locked).
    pub async fn claim_next_job(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<(String, bool)>, sqlx::Error> {
        let now = now_ms();
        let sql = if self.postgres {
            CLAIM_NEXT_JOB_POSTGRES
        } else {
            CLAIM_NEXT_JOB_SQLITE
        };
        let row = sqlx::query(sql)
            .bind(RUNNING)
            .bind(owner)
            .bind(now + lease_ms)
            .bind(now)
            .bind(QUEUED)
            .bind(RUNNING)
            .bind(now)
            .bind(RUNNING)
            .bind(RESUMED)
            .bind(STARTING)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let id: String = row.try_get("id")?;
            let message: String = row.try_get("message")?;
            Ok((id, message == RESUMED))
        })
        .transpose()
    }

    /// Extends `owner`'s lease on a running job; `None` if the lease was lost (the job was
    /// taken over, or finished), otherwise whether a cancel was requested.
    pub async fn renew_job_lease(
        &self,
        id: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<bool>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND status = $4
             RETURNING cancel_requested",
        )
        .bind(now_ms() + lease_ms)
        .bind(id)
        .bind(owner)
        .bind(RUNNING)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get::<i64, _>("cancel_requested").map(|c| c != 0))
            .transpose()
    }

    /// Gives up `owner`'s lease on a running job that a shutdown paused, so that the next
    /// worker resumes it at once.
    pub async fn release_job_lease(&self, job: &JobRecord, owner: &str) -> Result<(), sqlx::Error> {
        let paused = JobRecord {
            message: RESUMING.to_owned(),
            ..job.clone()
        };
        self.save_job_progress(&paused, owner).await?;
        sqlx::query("UPDATE jobs SET lease_until = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(&job.id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Asks whichever worker runs the job to stop it (it reads this with its lease).
    pub async fn request_job_cancel(&self, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND status = $2")
            .bind(id)
            .bind(RUNNING)
            .execute(&self.pool)
            .await?;
        Ok(())
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

    /// Persist the live state of a running job that `owner` holds the lease of.
    pub async fn save_job_progress(&self, job: &JobRecord, owner: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE jobs SET progress = $1, message = $2, detail = $3, updated_at = $4
             WHERE id = $5 AND lease_owner = $6",
        )
        .bind(job.progress)
        .bind(&job.message)
        .bind(json_text(&job.detail))
        .bind(now_ms())
        .bind(&job.id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Persist the final state of a job that `owner` holds the lease of; false if it lost
    /// the lease (another worker took the job over).
    pub async fn finish_job(&self, job: &JobRecord, owner: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE jobs SET status = $1, progress = $2, message = $3, detail = $4, result = $5,
               model_id = $6, updated_at = $7, lease_until = 0 WHERE id = $8 AND lease_owner = $9",
        )
        .bind(&job.status)
        .bind(job.progress)
        .bind(&job.message)
        .bind(json_text(&job.detail))
        .bind(json_text(&job.result))
        .bind(&job.model_id)
        .bind(now_ms())
        .bind(&job.id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

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
}

#[cfg(test)]
mod tests {
    use super::super::users::Created;
    use super::*;

    /// A SQLite database in a temporary folder with one user and `jobs` queued jobs of
    /// theirs (tests/postgres.rs races workers on PostgreSQL).
    async fn with_queued_jobs(jobs: usize) -> (Db, Vec<String>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        let email = format!("{}@example.com", super::super::new_id());
        let Created::User(user) = db.create_user("ann", &email, "x").await.unwrap() else {
            panic!("duplicate");
        };
        let mut ids = Vec::new();
        for _ in 0..jobs {
            let job = crate::jobs::new_job(&user.id, "train", serde_json::json!({}), None);
            db.insert_job(&job).await.unwrap();
            ids.push(job.id);
        }
        (db, ids, dir)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn workers_racing_for_one_job_claim_it_once() {
        let (db, ids, _dir) = with_queued_jobs(1).await;
        let claims = (0..8).map(|w| {
            let db = db.clone();
            tokio::spawn(async move { db.claim_next_job(&format!("w{w}"), 60_000).await })
        });
        let mut won = Vec::new();
        for claim in claims {
            if let Some((id, resumed)) = claim.await.unwrap().unwrap() {
                assert!(!resumed);
                won.push(id);
            }
        }
        assert_eq!(won, ids);
    }

    #[tokio::test]
    async fn a_lease_that_runs_out_passes_the_job_on_and_the_old_owner_loses_it() {
        let (db, ids, _dir) = with_queued_jobs(2).await;
        let first = db.claim_next_job("a", 50).await.unwrap().unwrap();
        assert_eq!(first, (ids[0].clone(), false), "oldest first");
        assert_eq!(
            db.renew_job_lease(&ids[0], "a", 50).await.unwrap(),
            Some(false)
        );
        // Under a live lease the next claim gets the other job.
        let second = db.claim_next_job("b", 60_000).await.unwrap().unwrap();
        assert_eq!(second, (ids[1].clone(), false));
        assert_eq!(db.claim_next_job("b", 60_000).await.unwrap(), None);

        tokio::time::sleep(std::time::Duration::from_millis(80)).await;
        let taken = db.claim_next_job("c", 60_000).await.unwrap().unwrap();
        assert_eq!(taken, (ids[0].clone(), true), "resumed by another worker");
        assert_eq!(db.renew_job_lease(&ids[0], "a", 50).await.unwrap(), None);
        let mut job = db.job_by_id(&ids[0]).await.unwrap().unwrap();
        assert_eq!(job.message, RESUMED);
        job.status = DONE.to_owned();
        assert!(!db.finish_job(&job, "a").await.unwrap(), "a lost its lease");
        db.request_job_cancel(&ids[0]).await.unwrap();
        assert_eq!(
            db.renew_job_lease(&ids[0], "c", 50).await.unwrap(),
            Some(true)
        );
        assert!(db.finish_job(&job, "c").await.unwrap());
        assert_eq!(db.claim_next_job("d", 50).await.unwrap(), None, "done");
    }
}
