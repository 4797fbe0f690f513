//! The `weather` table: one row per location, hour and kind (observed, or forecast with its
//! issue time), the hour's variables in a JSON object.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{BATCH_ROWS, Backend, PG_ARRAY_ROWS, Store, StoreError, joined, values_placeholders};
use crate::domain::{Hour, WeatherHour, WeatherKind, WeatherVariable};

impl Store {
    /// Weather of `location` with `from <= hour <= to` of one kind, ordered by hour. For
    /// forecasts, the newest issue at or before `issued` wins for each hour.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn weather(
        &self,
        location: &str,
        from: Hour,
        to: Hour,
        kind: WeatherKind,
    ) -> Result<Vec<WeatherHour>, StoreError> {
        let rows = match kind {
            WeatherKind::Observed => {
                sqlx::query(
                    "SELECT hour, vars FROM weather WHERE location = $1 AND kind = 'observed' \
                     AND hour >= $2 AND hour <= $3 ORDER BY hour",
                )
                .bind(location)
                .bind(from.unix())
                .bind(to.unix())
                .fetch_all(&self.pool)
                .await?
            }
            WeatherKind::Forecast { issued } => {
                sqlx::query(
                    "SELECT w.hour, w.vars FROM weather w WHERE w.location = $1 AND w.kind = 'forecast' \
                     AND w.hour >= $2 AND w.hour <= $3 AND w.issued_at = (SELECT MAX(x.issued_at) FROM weather x \
                     WHERE x.location = w.location AND x.hour = w.hour AND x.kind = 'forecast' AND x.issued_at <= $4) \
                     ORDER BY w.hour",
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
                let vars: String = r.try_get("vars")?;
                let values: BTreeMap<WeatherVariable, f64> = serde_json::from_str(&vars)
                    .map_err(|e| StoreError::CorruptText(format!("weather of {location}: {e}")))?;
                Ok(WeatherHour {
                    hour: Hour::from_unix(r.try_get("hour")?)?,
                    values,
                })
            })
            .collect()
    }

    /// Stores weather of one location and kind in one transaction. Variables an hour already
    /// has and `hours` does not mention are kept.
    ///
    /// # Errors
    /// On database failure; nothing is written then.
    pub async fn put_weather(
        &self,
        location: &str,
        kind: WeatherKind,
        hours: &[WeatherHour],
    ) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (
            hours.iter().map(|h| h.hour).min(),
            hours.iter().map(|h| h.hour).max(),
        ) else {
            return Ok(());
        };
        let stored = self.weather(location, first, last, kind).await?;
        let merged = merge_weather(&stored, hours);
        let mut tx = self.pool.begin().await?;
        upsert_weather(&mut tx, self.backend, location, kind, &merged).await?;
        Ok(tx.commit().await?)
    }
}

/// The hours of `new` whose variables, laid over `stored`, change something; merged whole.
pub fn merge_weather(stored: &[WeatherHour], new: &[WeatherHour]) -> Vec<WeatherHour> {
    let by_hour: BTreeMap<Hour, &WeatherHour> = stored.iter().map(|w| (w.hour, w)).collect();
    new.iter()
        .filter_map(|n| {
            let Some(old) = by_hour.get(&n.hour) else {
                return Some(n.clone());
            };
            let mut values = old.values.clone();
            values.extend(n.values.iter().map(|(k, v)| (k.clone(), *v)));
            (values != old.values).then_some(WeatherHour {
                hour: n.hour,
                values,
            })
        })
        .collect()
}

pub(super) async fn upsert_weather(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    location: &str,
    kind: WeatherKind,
    hours: &[WeatherHour],
) -> Result<(), StoreError> {
    const UPSERT: &str =
        "ON CONFLICT (location, hour, kind, issued_at) DO UPDATE SET vars = excluded.vars";
    let issued = |w: &WeatherHour| match kind {
        WeatherKind::Observed => w.hour.unix(),
        WeatherKind::Forecast { issued } => issued.unix(),
    };
    let vars = |w: &WeatherHour| {
        serde_json::to_string(&w.values).expect("a map of names to numbers serializes")
    };
    if backend == Backend::Postgres {
        for chunk in hours.chunks(PG_ARRAY_ROWS) {
            // JSON has commas: the objects are joined by the ASCII unit separator, which it never has.
            let objects: Vec<String> = chunk.iter().map(vars).collect();
            let sql = format!(
                "INSERT INTO weather (location, hour, kind, issued_at, vars) SELECT $1, h, $2, i, v FROM \
                 unnest(string_to_array($3, ',')::bigint[], string_to_array($4, ',')::bigint[], \
                 string_to_array($5, chr(31))) AS t(h, i, v) {UPSERT}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(location)
                .bind(kind.as_str())
                .bind(joined(chunk.iter().map(|w| w.hour.unix())))
                .bind(joined(chunk.iter().map(issued)))
                .bind(objects.join("\u{1f}"))
                .execute(&mut **tx)
                .await?;
        }
        return Ok(());
    }
    for chunk in hours.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO weather (location, hour, kind, issued_at, vars) VALUES {} {UPSERT}",
            values_placeholders(backend, chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for w in chunk {
            q = q
                .bind(location)
                .bind(w.hour.unix())
                .bind(kind.as_str())
                .bind(issued(w))
                .bind(vars(w));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
