//! The `custom_holidays` table: a series' own holidays, on top of its built-in calendar.

use chrono::NaiveDate;
use sqlx::Row;

use super::{BATCH_ROWS, Backend, Store, StoreError, values_placeholders};
use crate::domain::{Calendar, Holiday, Series, SeriesId};

impl Store {
    /// The custom holidays of `id`, by date.
    ///
    /// # Errors
    /// On database failure or a stored date that no longer parses.
    pub async fn custom_holidays(&self, id: &SeriesId) -> Result<Vec<Holiday>, StoreError> {
        let rows =
            sqlx::query("SELECT day, name FROM custom_holidays WHERE series = $1 ORDER BY day")
                .bind(id.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let day: String = r.try_get("day")?;
                let date = day.parse::<NaiveDate>().map_err(|_| {
                    StoreError::CorruptText(format!("holiday date {day:?} of series {id}"))
                })?;
                Ok(Holiday {
                    date,
                    name: r.try_get("name")?,
                })
            })
            .collect()
    }

    /// The full calendar of a series: its time zone, built-in table and custom holidays.
    ///
    /// # Errors
    /// As [`Store::custom_holidays`].
    pub async fn calendar(&self, series: &Series) -> Result<Calendar, StoreError> {
        let custom = self.custom_holidays(&series.id).await?;
        Ok(Calendar::new(series.time_zone, series.calendar, custom))
    }

    /// Adds (or renames) custom holidays of an existing series in one transaction.
    ///
    /// # Errors
    /// [`StoreError::NoSuchSeries`] if the series is not stored; nothing is written then.
    pub async fn put_custom_holidays(
        &self,
        id: &SeriesId,
        holidays: &[Holiday],
        source: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        super::series::ensure_series(&mut tx, id).await?;
        upsert_holidays(&mut tx, self.backend, id, holidays, source).await?;
        Ok(tx.commit().await?)
    }
}

pub(super) async fn upsert_holidays(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    id: &SeriesId,
    holidays: &[Holiday],
    source: &str,
) -> Result<(), StoreError> {
    for chunk in holidays.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO custom_holidays (series, day, name, source) VALUES {} \
             ON CONFLICT (series, day) DO UPDATE SET name = excluded.name, source = excluded.source",
            values_placeholders(backend, chunk.len(), 4)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            q = q
                .bind(id.as_str())
                .bind(h.date.to_string())
                .bind(h.name.as_str())
                .bind(source);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
