//! The `observations` table: one demand value per series and UTC hour.

use sqlx::Row;

use super::{BATCH_ROWS, Backend, PG_ARRAY_ROWS, Store, StoreError, joined, values_placeholders};
use crate::domain::{Demand, Hour, Observation, SeriesId};

impl Store {
    /// Observations of `id` with `from <= hour <= to`, ordered by hour.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn observations(
        &self,
        id: &SeriesId,
        from: Hour,
        to: Hour,
    ) -> Result<Vec<Observation>, StoreError> {
        self.observations_between(id, from.unix(), to.unix()).await
    }

    /// All observations of `id`, ordered by hour.
    ///
    /// # Errors
    /// As [`Store::observations`].
    pub async fn all_observations(&self, id: &SeriesId) -> Result<Vec<Observation>, StoreError> {
        self.observations_between(id, i64::MIN, i64::MAX).await
    }

    async fn observations_between(
        &self,
        id: &SeriesId,
        from: i64,
        to: i64,
    ) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour, demand FROM observations WHERE series = $1 AND hour >= $2 AND hour <= $3 AND partial = 0 \
             ORDER BY hour",
        )
        .bind(id.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Observation {
                    hour: Hour::from_unix(r.try_get("hour")?)?,
                    demand: Demand::new(r.try_get("demand")?)?,
                })
            })
            .collect()
    }

    /// How many hours of `id` are stored (partial ones included), as kept in `series_counts`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn count_observations(&self, id: &SeriesId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT observations AS n FROM series_counts WHERE series = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("n")).transpose()?.unwrap_or(0))
    }
}

impl Store {
    /// Observations of `id` in `[from, to]` with whether each is partial, ordered by hour.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn observations_marked(
        &self,
        id: &SeriesId,
        from: Hour,
        to: Hour,
    ) -> Result<Vec<(Observation, bool)>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour, demand, partial FROM observations WHERE series = $1 AND hour >= $2 AND hour <= $3 ORDER BY hour",
        )
        .bind(id.as_str())
        .bind(from.unix())
        .bind(to.unix())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let partial: i64 = r.try_get("partial")?;
                let o = Observation {
                    hour: Hour::from_unix(r.try_get("hour")?)?,
                    demand: Demand::new(r.try_get("demand")?)?,
                };
                Ok((o, partial != 0))
            })
            .collect()
    }

    /// Stores counts of hours not complete yet, in one transaction; a complete observation
    /// already stored for an hour is never replaced by a partial one.
    ///
    /// # Errors
    /// [`StoreError::NoSuchSeries`], or a database failure; nothing is written then.
    pub async fn put_partial(&self, id: &SeriesId, rows: &[Observation]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        super::series::ensure_series(&mut tx, id).await?;
        lock_series(&mut tx, self.backend, id).await?;
        for o in rows {
            sqlx::query(
                "INSERT INTO observations (series, hour, demand, partial) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (series, hour) DO UPDATE SET demand = excluded.demand WHERE observations.partial = 1",
            )
            .bind(id.as_str())
            .bind(o.hour.unix())
            .bind(o.demand.get())
            .execute(&mut *tx)
            .await?;
        }
        refresh_counts(&mut tx, id).await?;
        Ok(tx.commit().await?)
    }
}

/// Serializes the writers of one series' observations on PostgreSQL until `tx` ends, so that
/// [`refresh_counts`] sees every committed row (two imports of one series committing together
/// would otherwise each count without the other's). `FOR NO KEY UPDATE`, not `FOR UPDATE`: rows
/// that only reference the series (a publication, a model) take a key-share lock on it, which
/// this one does not block. SQLite has one writer at a time already.
pub(super) async fn lock_series(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    id: &SeriesId,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 AS one FROM series WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Recounts `id`'s observations and span into `series_counts`, inside the transaction that
/// wrote them (after [`lock_series`]): one pass over the series' own rows, by its index.
pub(super) async fn refresh_counts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &SeriesId,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO series_counts (series, observations, first_hour, last_hour) \
         SELECT $1, COUNT(*), MIN(hour), MAX(hour) FROM observations WHERE series = $1 \
         ON CONFLICT (series) DO UPDATE SET observations = excluded.observations, \
         first_hour = excluded.first_hour, last_hour = excluded.last_hour",
    )
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts or overwrites observations, many rows per statement.
pub(super) async fn upsert_observations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    id: &SeriesId,
    rows: &[Observation],
) -> Result<(), StoreError> {
    const UPSERT: &str =
        "ON CONFLICT (series, hour) DO UPDATE SET demand = excluded.demand, partial = 0";
    if backend == Backend::Postgres {
        for chunk in rows.chunks(PG_ARRAY_ROWS) {
            let sql = format!(
                "INSERT INTO observations (series, hour, demand) SELECT $1, h, d FROM \
                 unnest(string_to_array($2, ',')::bigint[], string_to_array($3, ',')::float8[]) AS t(h, d) {UPSERT}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.as_str())
                .bind(joined(chunk.iter().map(|o| o.hour.unix())))
                .bind(joined(chunk.iter().map(|o| o.demand.get())))
                .execute(&mut **tx)
                .await?;
        }
        return Ok(());
    }
    for chunk in rows.chunks(BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO observations (series, hour, demand) VALUES {} {UPSERT}",
            values_placeholders(backend, chunk.len(), 3)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for o in chunk {
            q = q.bind(id.as_str()).bind(o.hour.unix()).bind(o.demand.get());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
