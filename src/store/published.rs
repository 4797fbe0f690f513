//! The `published` table: forecasts as the serving loop published them.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{BATCH_ROWS, Store, StoreError, values_placeholders};
use crate::domain::{Hour, SeriesId, TimeZone};
use crate::forecast::ForecastPoint;
use crate::forecast::confidence::{Doubts, Outcome};

/// One published forecast point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedPoint {
    pub issued_at: Hour,
    pub model_version: i64,
    pub lead: i64,
    #[serde(flatten)]
    pub point: ForecastPoint,
}

/// Which published forecasts an accuracy report scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Issues {
    /// Every forecast published: 24 a day when published hourly, so every lead from 1 up.
    All,
    /// The first forecast issued on each local day of the series: normally the midnight one,
    /// the backtest's origins (leads 1-24 are the day's hours). Retention keeps these past
    /// `published_days`.
    Daily,
}

impl Issues {
    /// For a window of `days` days: every forecast while retention keeps them all
    /// (`published_days` `None` keeps everything), else the daily ones over the whole window, so
    /// that its older days do not weigh 24 times less than its recent ones.
    pub fn default_for(days: i64, published_days: Option<u32>) -> Self {
        match published_days {
            Some(p) if days >= i64::from(p) => Self::Daily,
            _ => Self::All,
        }
    }
}

/// For issue hours in ascending order, whether each is the first of its local day in `tz`: the
/// forecast that accuracy reports score daily and that retention keeps one of per day.
pub(super) fn first_of_local_day(issues: &[Hour], tz: TimeZone) -> Vec<bool> {
    let mut days = HashSet::new();
    issues
        .iter()
        .map(|at| days.insert(at.to_utc().with_timezone(&tz.tz()).date_naive()))
        .collect()
}

const COLUMNS: &str = "issued_at, model_version, hour, lead, expected, lower80, upper80, lower95, upper95, confidence, doubts";

fn point(r: &sqlx::any::AnyRow) -> Result<PublishedPoint, StoreError> {
    Ok(PublishedPoint {
        issued_at: Hour::from_unix(r.try_get("issued_at")?)?,
        model_version: r.try_get("model_version")?,
        lead: r.try_get("lead")?,
        point: ForecastPoint {
            hour: Hour::from_unix(r.try_get("hour")?)?,
            expected: r.try_get("expected")?,
            lower80: r.try_get("lower80")?,
            upper80: r.try_get("upper80")?,
            lower95: r.try_get("lower95")?,
            upper95: r.try_get("upper95")?,
            confidence: r.try_get("confidence")?,
            doubts: Doubts::from_bits(u16::try_from(r.try_get::<i64, _>("doubts")?).unwrap_or(0)),
        },
    })
}

impl Store {
    /// Stores one published forecast whole (replacing a forecast issued for the same hour).
    ///
    /// # Errors
    /// On database failure; nothing is written then.
    pub async fn publish(
        &self,
        id: &SeriesId,
        points: &[PublishedPoint],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(first) = points.first() {
            sqlx::query("DELETE FROM published WHERE series = $1 AND issued_at = $2")
                .bind(id.as_str())
                .bind(first.issued_at.unix())
                .execute(&mut *tx)
                .await?;
        }
        for chunk in points.chunks(BATCH_ROWS / 2) {
            let sql = format!(
                "INSERT INTO published (series, {COLUMNS}) VALUES {}",
                values_placeholders(self.backend, chunk.len(), 12)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                q = q
                    .bind(id.as_str())
                    .bind(p.issued_at.unix())
                    .bind(p.model_version)
                    .bind(p.point.hour.unix())
                    .bind(p.lead)
                    .bind(p.point.expected)
                    .bind(p.point.lower80)
                    .bind(p.point.upper80)
                    .bind(p.point.lower95)
                    .bind(p.point.upper95)
                    .bind(p.point.confidence)
                    .bind(i64::from(p.point.doubts.bits()));
            }
            q.execute(&mut *tx).await?;
        }
        Ok(tx.commit().await?)
    }

    /// The latest forecast published for a series, ordered by hour.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn latest_published(&self, id: &SeriesId) -> Result<Vec<PublishedPoint>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM published WHERE series = $1 AND issued_at = \
             (SELECT MAX(issued_at) FROM published WHERE series = $1) ORDER BY hour"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point).collect()
    }

    /// The forecast published for `issued_at`, ordered by hour (empty if there is none).
    ///
    /// # Errors
    /// As [`Store::latest_published`].
    pub async fn published_at(
        &self,
        id: &SeriesId,
        issued_at: Hour,
    ) -> Result<Vec<PublishedPoint>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM published WHERE series = $1 AND issued_at = $2 ORDER BY hour"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(issued_at.unix())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point).collect()
    }

    /// Every published point whose target hour is in `[from, to]`.
    ///
    /// # Errors
    /// As [`Store::latest_published`].
    pub async fn published_between(
        &self,
        id: &SeriesId,
        from: Hour,
        to: Hour,
    ) -> Result<Vec<PublishedPoint>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM published WHERE series = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour, issued_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(from.unix())
            .bind(to.unix())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(point).collect()
    }

    /// The published points whose target hour is in `[from, to]` that `issues` scores. A
    /// forecast is its local day's first (in `tz`) among every issue stored, not only those
    /// that reach into the window.
    ///
    /// # Errors
    /// As [`Store::latest_published`].
    pub async fn published_scored(
        &self,
        id: &SeriesId,
        tz: TimeZone,
        from: Hour,
        to: Hour,
        issues: Issues,
    ) -> Result<Vec<PublishedPoint>, StoreError> {
        let mut points = self.published_between(id, from, to).await?;
        if issues == Issues::All {
            return Ok(points);
        }
        let Some(oldest) = points.iter().map(|p| p.issued_at).min() else {
            return Ok(points);
        };
        // A day's first issue is at most 23 hours before any other of that day.
        let rows = sqlx::query(
            "SELECT DISTINCT issued_at FROM published WHERE series = $1 AND issued_at >= $2 \
             AND issued_at <= $3 ORDER BY issued_at",
        )
        .bind(id.as_str())
        .bind(oldest.plus(-24).unix())
        .bind(to.unix())
        .fetch_all(&self.pool)
        .await?;
        let issued = rows
            .iter()
            .map(|r| Ok(Hour::from_unix(r.try_get("issued_at")?)?))
            .collect::<Result<Vec<Hour>, StoreError>>()?;
        let first: HashSet<Hour> = issued
            .iter()
            .zip(first_of_local_day(&issued, tz))
            .filter_map(|(at, first)| first.then_some(*at))
            .collect();
        points.retain(|p| first.contains(&p.issued_at));
        Ok(points)
    }

    /// How the forecasts published for each observed target hour in `[from, to]` fared against
    /// its observation (a hit being within `tolerance` of the expected demand), in hour order,
    /// each with its hour: aggregated in the database, one row per hour, however often the hour
    /// was forecast.
    ///
    /// # Errors
    /// As [`Store::latest_published`].
    pub async fn published_outcomes(
        &self,
        id: &SeriesId,
        from: Hour,
        to: Hour,
        tolerance: f64,
    ) -> Result<Vec<(Hour, Outcome)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.hour AS hour, COUNT(*) AS n, \
             SUM(CASE WHEN o.demand < p.lower80 OR o.demand > p.upper80 THEN 1 ELSE 0 END) AS miss80, \
             SUM(CASE WHEN o.demand < p.lower95 OR o.demand > p.upper95 THEN 1 ELSE 0 END) AS miss95, \
             SUM(CASE WHEN ABS(o.demand - p.expected) <= $4 * ABS(p.expected) THEN 1 ELSE 0 END) AS hits, \
             AVG(p.confidence) AS confidence \
             FROM published p JOIN observations o ON o.series = p.series AND o.hour = p.hour \
             WHERE p.series = $1 AND p.hour >= $2 AND p.hour <= $3 \
             GROUP BY p.hour ORDER BY p.hour",
        )
        .bind(id.as_str())
        .bind(from.unix())
        .bind(to.unix())
        .bind(tolerance)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let n = r.try_get::<i64, _>("n")? as f64;
                let share =
                    |c: &str| -> Result<f64, StoreError> { Ok(r.try_get::<i64, _>(c)? as f64 / n) };
                let hour = Hour::from_unix(r.try_get::<i64, _>("hour")?)?;
                let outcome = Outcome {
                    miss80: share("miss80")?,
                    miss95: share("miss95")?,
                    confidence_gap: r.try_get::<f64, _>("confidence")? - share("hits")?,
                };
                Ok((hour, outcome))
            })
            .collect()
    }
}
