//! The `series` table: one row per series with the settings that give its hours meaning.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::domain::{CalendarName, Hour, Series, SeriesId, TimeZone, Tolerance};

/// A series with what is stored for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStats {
    #[serde(flatten)]
    pub series: Series,
    pub observations: i64,
    pub first_hour: Option<Hour>,
    pub last_hour: Option<Hour>,
    /// Hours on the UTC grid between the first and last observation that have none.
    pub missing_hours: i64,
}

const COLUMNS: &str =
    "s.id, s.time_zone, s.calendar, s.unit, s.tolerance, s.weather_location, s.created_at";

impl Store {
    /// Stores a new series, or leaves an existing one as it is. Returns true if it was created.
    ///
    /// # Errors
    /// On database failure.
    pub async fn create_series(&self, series: &Series) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let created = insert_series(&mut tx, series).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The series, if it exists.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn series(&self, id: &SeriesId) -> Result<Option<Series>, StoreError> {
        let sql = "SELECT s.id, s.time_zone, s.calendar, s.unit, s.tolerance, s.weather_location, s.created_at \
                   FROM series s WHERE s.id = $1";
        let row = sqlx::query(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(series_from_row).transpose()
    }

    /// The last hour observed for a series (its `list_series` span's end), if any.
    ///
    /// # Errors
    /// On database failure.
    pub async fn last_observed_hour(&self, id: &SeriesId) -> Result<Option<Hour>, StoreError> {
        let row = sqlx::query("SELECT MAX(hour) AS last_hour FROM observations WHERE series = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let last: Option<i64> = row.try_get("last_hour")?;
        Ok(last.map(Hour::from_unix).transpose()?)
    }

    /// Every series, ordered by id, without the statistics of [`Store::list_series`].
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn all_series(&self) -> Result<Vec<Series>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM series s ORDER BY s.id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(series_from_row).collect()
    }

    /// Every series with its observation count and span, ordered by id. The counts are kept in
    /// `series_counts` by each write of observations, so this reads a row per series.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn list_series(&self) -> Result<Vec<SeriesStats>, StoreError> {
        self.stats(None).await
    }

    /// One series with its observation count and span, if it exists.
    ///
    /// # Errors
    /// As [`Store::list_series`].
    pub async fn series_stats(&self, id: &SeriesId) -> Result<Option<SeriesStats>, StoreError> {
        Ok(self.stats(Some(id)).await?.pop())
    }

    /// The statistics of every series, or of `only`.
    async fn stats(&self, only: Option<&SeriesId>) -> Result<Vec<SeriesStats>, StoreError> {
        let filter = if only.is_some() {
            "WHERE s.id = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS}, COALESCE(c.observations, 0) AS n, c.first_hour, c.last_hour \
             FROM series s LEFT JOIN series_counts c ON c.series = s.id {filter} ORDER BY s.id"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = only {
            q = q.bind(id.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let series = series_from_row(row)?;
                let observations: i64 = row.try_get("n")?;
                let first: Option<i64> = row.try_get("first_hour")?;
                let last: Option<i64> = row.try_get("last_hour")?;
                let (first_hour, last_hour) = (
                    first.map(Hour::from_unix).transpose()?,
                    last.map(Hour::from_unix).transpose()?,
                );
                let span = match (first_hour, last_hour) {
                    (Some(f), Some(l)) => f.hours_until(l) + 1,
                    _ => 0,
                };
                Ok(SeriesStats {
                    series,
                    observations,
                    first_hour,
                    last_hour,
                    missing_hours: span - observations,
                })
            })
            .collect()
    }
}

/// [`StoreError::NoSuchSeries`] unless the series is stored (checked inside `tx`).
pub(super) async fn ensure_series(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &SeriesId,
) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT 1 AS one FROM series WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    exists
        .map(|_| ())
        .ok_or_else(|| StoreError::NoSuchSeries(id.to_string()))
}

/// Inserts the series unless it exists; true if it was inserted.
pub(super) async fn insert_series(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    series: &Series,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO series (id, time_zone, calendar, unit, tolerance, weather_location, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(series.id.as_str())
    .bind(series.time_zone.name())
    .bind(series.calendar.as_str())
    .bind(series.unit.as_str())
    .bind(series.tolerance.get())
    .bind(series.weather_location.as_str())
    .bind(series.created_at.timestamp())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn series_from_row(row: &AnyRow) -> Result<Series, StoreError> {
    let created: i64 = row.try_get("created_at")?;
    Ok(Series {
        id: SeriesId::parse(row.try_get("id")?)?,
        time_zone: TimeZone::parse(row.try_get("time_zone")?)?,
        calendar: CalendarName::parse(row.try_get("calendar")?)?,
        unit: row.try_get("unit")?,
        tolerance: Tolerance::new(row.try_get("tolerance")?)?,
        weather_location: row.try_get("weather_location")?,
        created_at: epoch(created)?,
    })
}

pub(super) fn epoch(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .ok_or_else(|| StoreError::CorruptText(format!("timestamp {secs} out of range")))
}
