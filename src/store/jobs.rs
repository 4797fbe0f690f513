//! The `jobs` table: background work and how it ended.

use serde::Serialize;
use sqlx::Row;

use super::series::epoch;
use super::{Store, StoreError};
use crate::domain::SeriesId;

/// One job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub series: String,
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub seconds: Option<f64>,
    /// The job's result as JSON (a training outcome), when it succeeded.
    pub outcome: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Store {
    /// Records a running job; returns its id.
    ///
    /// # Errors
    /// On database failure.
    pub async fn start_job(&self, kind: &str, series: &SeriesId) -> Result<i64, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let sql = "INSERT INTO jobs (kind, series, status, created_at) VALUES ($1, $2, 'running', $3) RETURNING id";
        let row = sqlx::query(sql)
            .bind(kind)
            .bind(series.as_str())
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// Records how a job ended.
    ///
    /// # Errors
    /// On database failure.
    pub async fn finish_job(
        &self,
        id: i64,
        result: Result<serde_json::Value, String>,
        seconds: f64,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp();
        let (status, outcome, error) = match result {
            Ok(v) => ("succeeded", Some(v.to_string()), None),
            Err(e) => ("failed", None, Some(e)),
        };
        sqlx::query("UPDATE jobs SET status = $1, finished_at = $2, seconds = $3, outcome = $4, error = $5 WHERE id = $6")
            .bind(status)
            .bind(now)
            .bind(seconds)
            .bind(outcome)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One job, if it exists.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn job(&self, id: i64) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query("SELECT id, kind, series, status, created_at, finished_at, seconds, outcome, error FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let finished: Option<i64> = r.try_get("finished_at")?;
        let outcome: Option<String> = r.try_get("outcome")?;
        Ok(Some(JobRecord {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            series: r.try_get("series")?,
            status: r.try_get("status")?,
            created_at: epoch(r.try_get("created_at")?)?,
            finished_at: finished.map(epoch).transpose()?,
            seconds: r.try_get("seconds")?,
            outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
            error: r.try_get("error")?,
        }))
    }
}
