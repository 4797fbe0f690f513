//! The `weather` table: hourly values per location and variable, observed or forecast.

use sqlx::Row;

use super::{BATCH_ROWS, Backend, Store, StoreError, values_placeholders};
use crate::domain::{Hour, WeatherKind, WeatherReading, WeatherVariable};

impl Store {
    /// Weather of `location` with `from <= hour <= to` of one kind, ordered by hour and variable.
    /// For forecasts, the newest issue at or before `issued_by` wins for each hour.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn weather(
        &self,
        location: &str,
        from: Hour,
        to: Hour,
        kind: WeatherKind,
    ) -> Result<Vec<WeatherReading>, StoreError> {
        let rows = match kind {
            WeatherKind::Observed => {
                sqlx::query(
                    "SELECT hour, variable, value FROM weather WHERE location = $1 AND kind = 'observed' \
                     AND hour >= $2 AND hour <= $3 ORDER BY hour, variable",
                )
                .bind(location)
                .bind(from.unix())
                .bind(to.unix())
                .fetch_all(&self.pool)
                .await?
            }
            WeatherKind::Forecast { issued } => {
                sqlx::query(
                    "SELECT w.hour, w.variable, w.value FROM weather w WHERE w.location = $1 AND w.kind = 'forecast' \
                     AND w.hour >= $2 AND w.hour <= $3 AND w.issued_at = (SELECT MAX(x.issued_at) FROM weather x \
                     WHERE x.location = w.location AND x.variable = w.variable AND x.hour = w.hour \
                     AND x.kind = 'forecast' AND x.issued_at <= $4) ORDER BY w.hour, w.variable",
                )
                .bind(location)
                .bind(from.unix())
                .bind(to.unix())
                .bind(issued.unix())
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(WeatherReading {
                    hour: Hour::from_unix(r.try_get("hour")?)?,
                    variable: WeatherVariable::parse(r.try_get("variable")?)?,
                    value: r.try_get("value")?,
                })
            })
            .collect()
    }

    /// Stores weather readings of one location and kind in one transaction.
    ///
    /// # Errors
    /// On database failure; nothing is written then.
    pub async fn put_weather(&self, location: &str, kind: WeatherKind, readings: &[WeatherReading]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        upsert_weather(&mut tx, self.backend, location, kind, readings).await?;
        Ok(tx.commit().await?)
    }
}

pub(super) async fn upsert_weather(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    location: &str,
    kind: WeatherKind,
    readings: &[WeatherReading],
) -> Result<(), StoreError> {
    for chunk in readings.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO weather (location, variable, hour, kind, issued_at, value) VALUES {} \
             ON CONFLICT (location, variable, hour, kind, issued_at) DO UPDATE SET value = excluded.value",
            values_placeholders(backend, chunk.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let issued = match kind {
                WeatherKind::Observed => r.hour.unix(),
                WeatherKind::Forecast { issued } => issued.unix(),
            };
            q = q.bind(location).bind(r.variable.as_str()).bind(r.hour.unix()).bind(kind.as_str()).bind(issued).bind(r.value);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
