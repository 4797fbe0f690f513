//! Pruning the serving loop's records by age (`[retention]`): published forecasts, scaling
//! recommendations, the actions audit trail and partial-hour readings. Each delete keeps what
//! the loop still reads: a series' latest published forecast, a target's latest
//! recommendations and its last applied value.

use std::collections::HashSet;

use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::{Hour, SeriesId, TimeZone};

/// Issue hours deleted per statement.
const DELETE_CHUNK: usize = 500;
/// The span of issue times one recommendations delete covers.
const DAY_SECONDS: i64 = 86_400;

impl Store {
    /// Prunes one series' published forecasts: those issued before `whole_before` keep only the
    /// first forecast of each local day (in `tz`), and those issued before `daily_before` go
    /// whole. The series' latest forecast always stays. Returns the rows deleted.
    ///
    /// # Errors
    /// On database failure; each statement deletes whole forecasts (every hour of an issue), so
    /// a failure leaves no forecast half deleted.
    pub async fn prune_published(
        &self,
        id: &SeriesId,
        tz: TimeZone,
        whole_before: Option<Hour>,
        daily_before: Option<Hour>,
    ) -> Result<u64, StoreError> {
        let Some(latest) =
            sqlx::query("SELECT MAX(issued_at) AS m FROM published WHERE series = $1")
                .bind(id.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get::<Option<i64>, _>("m")?
        else {
            return Ok(0);
        };
        let mut deleted = 0;
        // Thinned first, then cut: a day that straddles the daily cutoff keeps its first
        // forecast until that goes too, instead of the next one becoming its first.
        if let Some(before) = whole_before {
            deleted += self.thin_published(id, tz, before, latest).await?;
        }
        if let Some(before) = daily_before {
            deleted += sqlx::query(
                "DELETE FROM published WHERE series = $1 AND issued_at < $2 AND issued_at < $3",
            )
            .bind(id.as_str())
            .bind(before.unix())
            .bind(latest)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }

    /// Deletes the forecasts issued before `before` that are not the first of their local day,
    /// nor the latest.
    async fn thin_published(
        &self,
        id: &SeriesId,
        tz: TimeZone,
        before: Hour,
        latest: i64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        let issued: Vec<i64> = sqlx::query(
            "SELECT DISTINCT issued_at FROM published WHERE series = $1 AND issued_at < $2 \
             ORDER BY issued_at",
        )
        .bind(id.as_str())
        .bind(before.unix())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("issued_at"))
        .collect::<Result<_, _>>()?;
        let mut days = HashSet::new();
        let mut thinned = Vec::new();
        for at in issued {
            let day = Hour::from_unix(at)?
                .to_utc()
                .with_timezone(&tz.tz())
                .date_naive();
            // The first of its local day stays (hours come in order).
            if !days.insert(day) && at != latest {
                thinned.push(at);
            }
        }
        for chunk in thinned.chunks(DELETE_CHUNK) {
            let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "DELETE FROM published WHERE series = $1 AND issued_at IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str());
            for at in chunk {
                q = q.bind(*at);
            }
            deleted += q.execute(&self.pool).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// Runs one `DELETE` whose only parameter is its cutoff; returns the rows deleted.
    async fn delete_before(&self, sql: &'static str, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Deletes the recommendations issued before `before`, except each target's latest issue;
    /// a day of issues per statement, oldest first, so that a backlog (the first pruning of a
    /// store that has run for months) never holds the write lock for long.
    ///
    /// # Errors
    /// On database failure; the days already deleted stay deleted.
    pub async fn prune_recommendations(&self, before: Hour) -> Result<u64, StoreError> {
        let Some(oldest) = sqlx::query("SELECT MIN(issued_at) AS m FROM recommendations")
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>("m")?
        else {
            return Ok(0);
        };
        let mut deleted = 0;
        let mut upto = oldest;
        while upto < before.unix() {
            upto = (upto + DAY_SECONDS).min(before.unix());
            deleted += self
                .delete_before(
                    "DELETE FROM recommendations WHERE issued_at < $1 AND issued_at < \
                     (SELECT MAX(r.issued_at) FROM recommendations r \
                      WHERE r.target = recommendations.target)",
                    upto,
                )
                .await?;
        }
        Ok(deleted)
    }

    /// Deletes the actions recorded before `before_ms` (Unix milliseconds), except each
    /// target's latest applied, unchanged or dry-run action: the value the scaling cycle holds
    /// a target at.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_actions(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.delete_before(
            "DELETE FROM actions WHERE at_ms < $1 AND id NOT IN \
             (SELECT MAX(a.id) FROM actions a WHERE a.status IN ('applied', 'unchanged', 'dry_run') \
              GROUP BY a.target)",
            before_ms,
        )
        .await
    }

    /// Deletes the jobs that finished before `before` (Unix seconds); running ones stay.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_jobs(&self, before: i64) -> Result<u64, StoreError> {
        self.delete_before(
            "DELETE FROM jobs WHERE status <> 'running' AND finished_at IS NOT NULL \
             AND finished_at < $1",
            before,
        )
        .await
    }

    /// Deletes the records of imports made before `before` (Unix seconds); their data stay.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_imports(&self, before: i64) -> Result<u64, StoreError> {
        self.delete_before("DELETE FROM imports WHERE imported_at < $1", before)
            .await
    }

    /// Deletes the partial-hour readings of hours before `before`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_partial_readings(&self, before: Hour) -> Result<u64, StoreError> {
        self.delete_before(
            "DELETE FROM partial_readings WHERE hour < $1",
            before.unix(),
        )
        .await
    }
}
