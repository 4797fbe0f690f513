//! Scaling's tables: published recommendations, the audit trail of actions, partial-hour
//! readings as they arrived, and confidence penalties after a forecast miss.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::{Hour, SeriesId};

/// A series' confidence penalty after a forecast miss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Penalty {
    pub factor: f64,
    /// The newest model version at the miss: a newer one lifts the penalty.
    pub since_version: i64,
    pub miss_hour: Hour,
    pub reason: String,
}

/// One published recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendationRecord {
    pub target: String,
    pub series: String,
    pub issued_at: Hour,
    pub hour: Hour,
    pub apply_at: chrono::DateTime<chrono::Utc>,
    pub needed: i64,
    pub value: i64,
    pub confidence: f64,
    /// `apply` or `hold`.
    pub decision: String,
    /// Why: `forecast`, the event stage, or the hold's reason.
    pub reason: String,
}

/// One action attempted on a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub id: i64,
    pub target: String,
    pub kind: String,
    pub series: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `forecast`, `event`, `safety_net`, `rollback`.
    pub cause: String,
    pub hour: Option<Hour>,
    pub confidence: Option<f64>,
    pub before: Option<serde_json::Value>,
    pub after: serde_json::Value,
    pub request: Option<serde_json::Value>,
    /// `applied`, `unchanged`, `dry_run`, `failed`.
    pub status: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub rollback_of: Option<i64>,
}

/// An action about to be recorded (the id and time are the store's).
#[derive(Debug, Clone, Default)]
pub struct NewAction {
    pub target: String,
    pub kind: String,
    pub series: String,
    pub cause: String,
    pub hour: Option<Hour>,
    pub confidence: Option<f64>,
    pub before: Option<serde_json::Value>,
    pub after: serde_json::Value,
    pub request: Option<serde_json::Value>,
    pub status: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub rollback_of: Option<i64>,
}

fn json_col(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let s: Option<String> = r.try_get(col)?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok()))
}

fn ms_to_utc(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn action(r: &sqlx::any::AnyRow) -> Result<ActionRecord, StoreError> {
    let hour: Option<i64> = r.try_get("hour")?;
    Ok(ActionRecord {
        id: r.try_get("id")?,
        target: r.try_get("target")?,
        kind: r.try_get("kind")?,
        series: r.try_get("series")?,
        at: ms_to_utc(r.try_get("at_ms")?),
        cause: r.try_get("cause")?,
        hour: hour.map(Hour::from_unix).transpose()?,
        confidence: r.try_get("confidence")?,
        before: json_col(r, "value_before")?,
        after: json_col(r, "value_after")?.unwrap_or_default(),
        request: json_col(r, "request")?,
        status: r.try_get("status")?,
        http_status: r.try_get("http_status")?,
        error: r.try_get("error")?,
        rollback_of: r.try_get("rollback_of")?,
    })
}

const ACTION_COLUMNS: &str = "id, target, kind, series, at_ms, cause, hour, confidence, value_before, value_after, request, status, http_status, error, rollback_of";

impl Store {
    /// Replaces a target's recommendations issued at `issued_at` (one cycle's) with `recs`.
    ///
    /// # Errors
    /// On database failure; nothing is written then.
    pub async fn put_recommendations(
        &self,
        target: &str,
        issued_at: Hour,
        recs: &[RecommendationRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM recommendations WHERE target = $1 AND issued_at = $2")
            .bind(target)
            .bind(issued_at.unix())
            .execute(&mut *tx)
            .await?;
        for r in recs {
            sqlx::query(
                "INSERT INTO recommendations (target, series, issued_at, hour, apply_at, needed, value, confidence, decision, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&r.target)
            .bind(&r.series)
            .bind(r.issued_at.unix())
            .bind(r.hour.unix())
            .bind(r.apply_at.timestamp())
            .bind(r.needed)
            .bind(r.value)
            .bind(r.confidence)
            .bind(&r.decision)
            .bind(&r.reason)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }

    /// The latest cycle's recommendations, of one series or of all, optionally of one target,
    /// ordered by target and hour.
    ///
    /// # Errors
    /// On database failure.
    pub async fn latest_recommendations(
        &self,
        series: Option<&SeriesId>,
        target: Option<&str>,
    ) -> Result<Vec<RecommendationRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.target, r.series, r.issued_at, r.hour, r.apply_at, r.needed, r.value, r.confidence, r.decision, r.reason \
             FROM recommendations r JOIN (SELECT target, MAX(issued_at) AS issued_at FROM recommendations GROUP BY target) l \
             ON r.target = l.target AND r.issued_at = l.issued_at \
             WHERE ($1 = '' OR r.series = $1) AND ($2 = '' OR r.target = $2) ORDER BY r.target, r.hour",
        )
        .bind(series.map_or("", SeriesId::as_str))
        .bind(target.unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RecommendationRecord {
                    target: r.try_get("target")?,
                    series: r.try_get("series")?,
                    issued_at: Hour::from_unix(r.try_get("issued_at")?)?,
                    hour: Hour::from_unix(r.try_get("hour")?)?,
                    apply_at: chrono::DateTime::from_timestamp(r.try_get("apply_at")?, 0)
                        .unwrap_or_default(),
                    needed: r.try_get("needed")?,
                    value: r.try_get("value")?,
                    confidence: r.try_get("confidence")?,
                    decision: r.try_get("decision")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Records an action and returns it with its id. A NUL character in its error (which may
    /// quote a remote server's answer) is stored as U+FFFD: PostgreSQL refuses NUL in text, and
    /// the audit trail must not lose the action for it.
    ///
    /// # Errors
    /// On database failure.
    pub async fn record_action(&self, a: &NewAction) -> Result<ActionRecord, StoreError> {
        let error = a.error.as_ref().map(|e| e.replace('\0', "\u{FFFD}"));
        let js = |v: &Option<serde_json::Value>| v.as_ref().map(serde_json::Value::to_string);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO actions (target, kind, series, at_ms, cause, hour, confidence, value_before, value_after, request, status, http_status, error, rollback_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING {ACTION_COLUMNS}"
        )))
        .bind(&a.target)
        .bind(&a.kind)
        .bind(&a.series)
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(&a.cause)
        .bind(a.hour.map(Hour::unix))
        .bind(a.confidence)
        .bind(js(&a.before))
        .bind(a.after.to_string())
        .bind(js(&a.request))
        .bind(&a.status)
        .bind(a.http_status)
        .bind(error)
        .bind(a.rollback_of)
        .fetch_one(&self.pool)
        .await?;
        action(&row)
    }

    /// Actions, newest first, of one target or all, at most `limit`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn actions(
        &self,
        target: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ActionRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE ($1 = '' OR target = $1) ORDER BY id DESC LIMIT $2"
        )))
        .bind(target.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(action).collect()
    }

    /// Appends a partial-hour reading (the running hour's count so far, at `at_ms`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn put_partial_reading(
        &self,
        id: &SeriesId,
        hour: Hour,
        at_ms: i64,
        demand: f64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO partial_readings (series, hour, at_ms, demand) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (series, hour, at_ms) DO UPDATE SET demand = excluded.demand",
        )
        .bind(id.as_str())
        .bind(hour.unix())
        .bind(at_ms)
        .bind(demand)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The readings of one hour, oldest first: `(at_ms, count so far)`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn partial_readings(
        &self,
        id: &SeriesId,
        hour: Hour,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, demand FROM partial_readings WHERE series = $1 AND hour = $2 ORDER BY at_ms",
        )
        .bind(id.as_str())
        .bind(hour.unix())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("at_ms")?, r.try_get("demand")?)))
            .collect()
    }

    /// Lowers a series' confidence by `factor` from now until its next model version, for the
    /// miss in `miss_hour`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn put_penalty(
        &self,
        id: &SeriesId,
        miss_hour: Hour,
        factor: f64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let version = self.next_model_version(id).await? - 1;
        sqlx::query(
            "INSERT INTO confidence_penalties (series, since_ms, since_version, miss_hour, factor, reason) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (series) DO UPDATE SET since_ms = excluded.since_ms, since_version = excluded.since_version, \
             miss_hour = excluded.miss_hour, factor = excluded.factor, reason = excluded.reason",
        )
        .bind(id.as_str())
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(version)
        .bind(miss_hour.unix())
        .bind(factor)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The penalty in force, if any.
    ///
    /// # Errors
    /// On database failure.
    pub async fn penalty(&self, id: &SeriesId) -> Result<Option<Penalty>, StoreError> {
        let row = sqlx::query(
            "SELECT since_version, miss_hour, factor, reason FROM confidence_penalties WHERE series = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Penalty {
                factor: r.try_get("factor")?,
                since_version: r.try_get("since_version")?,
                miss_hour: Hour::from_unix(r.try_get("miss_hour")?)?,
                reason: r.try_get("reason")?,
            })
        })
        .transpose()
    }

    /// Lifts a series' penalty (a new model was trained).
    ///
    /// # Errors
    /// On database failure.
    pub async fn clear_penalty(&self, id: &SeriesId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM confidence_penalties WHERE series = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
