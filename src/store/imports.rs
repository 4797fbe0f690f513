//! Writing one import: series, observations, weather and holidays in one transaction, with a
//! row in `imports` that says what it did.

use chrono::Utc;
use serde::Serialize;
use sqlx::Row;

use super::holidays::upsert_holidays;
use super::observations::{lock_series, refresh_counts, upsert_observations};
use super::series::{epoch, insert_series};
use super::weather::upsert_weather;
use super::{Store, StoreError};
use crate::domain::{Holiday, Hour, Observation, Series, WeatherHour, WeatherKind};

/// Everything one import writes; the import module has already diffed it against the store.
#[derive(Debug, Clone)]
pub struct ImportBatch {
    pub series: Series,
    pub source: String,
    pub rows_read: u64,
    pub hours: u64,
    /// Observations new or different from what is stored.
    pub observations: Vec<Observation>,
    pub inserted: u64,
    pub updated: u64,
    /// Weather hours to write, already merged with what is stored.
    pub weather: Vec<WeatherHour>,
    pub holidays: Vec<Holiday>,
    pub first_hour: Hour,
    pub last_hour: Hour,
}

/// A past import, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportRecord {
    pub id: i64,
    pub series: String,
    pub source: String,
    pub rows_read: i64,
    pub hours: i64,
    pub inserted: i64,
    pub updated: i64,
    pub first_hour: Hour,
    pub last_hour: Hour,
    pub imported_at: chrono::DateTime<Utc>,
}

impl Store {
    /// Writes the batch in one transaction: all of it, or (on any error) none of it.
    ///
    /// # Errors
    /// On database failure.
    pub async fn import(&self, batch: &ImportBatch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_series(&mut tx, &batch.series).await?;
        let id = &batch.series.id;
        lock_series(&mut tx, self.backend, id).await?;
        upsert_observations(&mut tx, self.backend, id, &batch.observations).await?;
        if !batch.observations.is_empty() {
            refresh_counts(&mut tx, id).await?;
        }
        upsert_weather(
            &mut tx,
            self.backend,
            &batch.series.weather_location,
            WeatherKind::Observed,
            &batch.weather,
        )
        .await?;
        upsert_holidays(&mut tx, self.backend, id, &batch.holidays, "import").await?;
        if !batch.observations.is_empty() || !batch.weather.is_empty() || !batch.holidays.is_empty()
        {
            sqlx::query(
                "INSERT INTO imports (series, source, rows_read, hours, inserted, updated, first_hour, last_hour, imported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(id.as_str())
            .bind(batch.source.as_str())
            .bind(to_i64(batch.rows_read))
            .bind(to_i64(batch.hours))
            .bind(to_i64(batch.inserted))
            .bind(to_i64(batch.updated))
            .bind(batch.first_hour.unix())
            .bind(batch.last_hour.unix())
            .bind(Utc::now().timestamp())
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }

    /// The recorded imports of a series, newest first.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn imports(
        &self,
        id: &crate::domain::SeriesId,
    ) -> Result<Vec<ImportRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, series, source, rows_read, hours, inserted, updated, first_hour, last_hour, imported_at \
             FROM imports WHERE series = $1 ORDER BY id DESC",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ImportRecord {
                    id: r.try_get("id")?,
                    series: r.try_get("series")?,
                    source: r.try_get("source")?,
                    rows_read: r.try_get("rows_read")?,
                    hours: r.try_get("hours")?,
                    inserted: r.try_get("inserted")?,
                    updated: r.try_get("updated")?,
                    first_hour: Hour::from_unix(r.try_get("first_hour")?)?,
                    last_hour: Hour::from_unix(r.try_get("last_hour")?)?,
                    imported_at: epoch(r.try_get("imported_at")?)?,
                })
            })
            .collect()
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
