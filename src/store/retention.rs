//! Pruning the serving loop's records by age (`[retention]`): published forecasts, scaling
//! recommendations, the actions audit trail and partial-hour readings; and, when set, the
//! history itself (observations and weather). Each delete keeps what
//! the loop still reads: a series' latest published forecast, a target's latest
//! recommendations and its last applied value. Each can also only count what it would delete
//! ([`PruneMode::Count`], for `prescale prune --dry-run`), with the same conditions.

use sqlx::Row;

use super::{Store, StoreError};
use crate::domain::{Hour, SeriesId, TimeZone};

/// Issue hours deleted per statement.
const DELETE_CHUNK: usize = 500;
/// The span of issue times one recommendations delete covers.
const DAY_SECONDS: i64 = 86_400;

/// Whether a pruning deletes, or counts the rows it would delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMode {
    Delete,
    Count,
}

impl PruneMode {
    /// The statement's head before `FROM table WHERE ...`.
    fn verb(self) -> &'static str {
        match self {
            Self::Delete => "DELETE",
            Self::Count => "SELECT COUNT(*) AS n",
        }
    }
}

/// Which of a series' issues (their hours, ascending) a pruning of published forecasts deletes:
/// those before `daily_before`, and those before `whole_before` that are not the first of their
/// local day (in `tz`); never `latest`, the series' newest. The first of a day is the first
/// stored, whether or not an earlier pruning already thinned the day, so a second pruning
/// deletes nothing more.
fn doomed(
    issues: &[Hour],
    latest: Hour,
    tz: TimeZone,
    whole_before: Option<Hour>,
    daily_before: Option<Hour>,
) -> Vec<bool> {
    issues
        .iter()
        .zip(super::published::first_of_local_day(issues, tz))
        .map(|(&at, first)| {
            let before = |cut: Option<Hour>| cut.is_some_and(|c| at < c);
            at != latest && (before(daily_before) || (before(whole_before) && !first))
        })
        .collect()
}

impl Store {
    /// Prunes one series' published forecasts: those issued before `whole_before` keep only the
    /// first forecast of each local day (in `tz`), and those issued before `daily_before` go
    /// whole. The series' latest forecast always stays. Returns the rows deleted (or that would
    /// be).
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
        mode: PruneMode,
    ) -> Result<u64, StoreError> {
        let Some(bound) = whole_before.max(daily_before) else {
            return Ok(0);
        };
        let Some(latest) =
            sqlx::query("SELECT MAX(issued_at) AS m FROM published WHERE series = $1")
                .bind(id.as_str())
                .fetch_one(&self.pool)
                .await?
                .try_get::<Option<i64>, _>("m")?
        else {
            return Ok(0);
        };
        let issues = sqlx::query(
            "SELECT issued_at, COUNT(*) AS n FROM published WHERE series = $1 AND issued_at < $2 \
             GROUP BY issued_at ORDER BY issued_at",
        )
        .bind(id.as_str())
        .bind(bound.unix())
        .fetch_all(&self.pool)
        .await?;
        let (mut hours, mut counts) = (Vec::with_capacity(issues.len()), Vec::new());
        for r in &issues {
            hours.push(Hour::from_unix(r.try_get("issued_at")?)?);
            counts.push(u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0));
        }
        let latest = Hour::from_unix(latest)?;
        let goes = doomed(&hours, latest, tz, whole_before, daily_before);
        let rows = counts
            .iter()
            .zip(&goes)
            .filter(|(_, g)| **g)
            .map(|(n, _)| n)
            .sum();
        let doomed: Vec<i64> = hours
            .iter()
            .zip(&goes)
            .filter(|(_, g)| **g)
            .map(|(h, _)| h.unix())
            .collect();
        if mode == PruneMode::Count {
            return Ok(rows);
        }
        let mut deleted = 0;
        for chunk in doomed.chunks(DELETE_CHUNK) {
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

    /// Runs `mode`'s statement on `from_where` ("FROM table WHERE ...", its only parameter the
    /// cutoff): the rows deleted, or counted.
    async fn prune_where(
        &self,
        mode: PruneMode,
        from_where: &'static str,
        before: i64,
    ) -> Result<u64, StoreError> {
        let sql = format!("{} {from_where}", mode.verb());
        let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before);
        Ok(match mode {
            PruneMode::Delete => q.execute(&self.pool).await?.rows_affected(),
            PruneMode::Count => {
                u64::try_from(q.fetch_one(&self.pool).await?.try_get::<i64, _>("n")?).unwrap_or(0)
            }
        })
    }

    /// Deletes the recommendations issued before `before`, except each target's latest issue;
    /// a day of issues per statement, oldest first, so that a backlog (the first pruning of a
    /// store that has run for months) never holds the write lock for long.
    ///
    /// # Errors
    /// On database failure; the days already deleted stay deleted.
    pub async fn prune_recommendations(
        &self,
        before: Hour,
        mode: PruneMode,
    ) -> Result<u64, StoreError> {
        const FROM_WHERE: &str = "FROM recommendations WHERE issued_at < $1 AND issued_at < \
             (SELECT MAX(r.issued_at) FROM recommendations r \
              WHERE r.target = recommendations.target)";
        if mode == PruneMode::Count {
            return self.prune_where(mode, FROM_WHERE, before.unix()).await;
        }
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
            deleted += self.prune_where(mode, FROM_WHERE, upto).await?;
        }
        Ok(deleted)
    }

    /// Deletes the actions recorded before `before_ms` (Unix milliseconds), except each
    /// target's latest applied, unchanged or dry-run action: the value the scaling cycle holds
    /// a target at.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_actions(&self, before_ms: i64, mode: PruneMode) -> Result<u64, StoreError> {
        self.prune_where(
            mode,
            "FROM actions WHERE at_ms < $1 AND id NOT IN \
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
    pub async fn prune_jobs(&self, before: i64, mode: PruneMode) -> Result<u64, StoreError> {
        self.prune_where(
            mode,
            "FROM jobs WHERE status <> 'running' AND finished_at IS NOT NULL \
             AND finished_at < $1",
            before,
        )
        .await
    }

    /// Deletes the records of imports made before `before` (Unix seconds); their data stay.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_imports(&self, before: i64, mode: PruneMode) -> Result<u64, StoreError> {
        self.prune_where(mode, "FROM imports WHERE imported_at < $1", before)
            .await
    }

    /// Deletes `id`'s observations of hours before `before`, and recounts the series (one
    /// transaction, as an import). Returns the rows deleted (or that would be).
    ///
    /// # Errors
    /// On database failure; nothing of the series is deleted then.
    pub async fn prune_observations(
        &self,
        id: &SeriesId,
        before: Hour,
        mode: PruneMode,
    ) -> Result<u64, StoreError> {
        let from_where = "FROM observations WHERE series = $1 AND hour < $2";
        let sql = format!("{} {from_where}", mode.verb());
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .bind(before.unix());
        if mode == PruneMode::Count {
            let n: i64 = q.fetch_one(&self.pool).await?.try_get("n")?;
            return Ok(u64::try_from(n).unwrap_or(0));
        }
        let mut tx = self.pool.begin().await?;
        super::observations::lock_series(&mut tx, self.backend, id).await?;
        let deleted = q.execute(&mut *tx).await?.rows_affected();
        if deleted > 0 {
            super::observations::refresh_counts(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Deletes the weather (observed and forecast) of hours before `before`, every location.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_weather(&self, before: Hour, mode: PruneMode) -> Result<u64, StoreError> {
        self.prune_where(mode, "FROM weather WHERE hour < $1", before.unix())
            .await
    }

    /// Deletes the partial-hour readings of hours before `before`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn prune_partial_readings(
        &self,
        before: Hour,
        mode: PruneMode,
    ) -> Result<u64, StoreError> {
        self.prune_where(mode, "FROM partial_readings WHERE hour < $1", before.unix())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Over any issue hours and cutoffs: the latest stays; everything before the daily cutoff
        /// goes; between the cutoffs each local day that had a forecast keeps exactly one, its
        /// first; after the whole cutoff nothing goes; and pruning what is left deletes nothing.
        #[test]
        fn published_pruning_thins_to_one_per_local_day_and_is_idempotent(
            offsets in proptest::collection::btree_set(0i64..24 * 60, 1..200),
            whole in 0i64..24 * 60,
            daily_back in 0i64..24 * 30,
            no_daily in any::<bool>(),
        ) {
            let start = Hour::from_unix(1_767_225_600).unwrap(); // 2026-01-01T00:00Z
            let tz = TimeZone::LIMA;
            let issues: Vec<Hour> = offsets.iter().map(|&o| start.plus(o)).collect();
            let latest = *issues.last().unwrap();
            let whole_before = Some(start.plus(whole));
            let daily_before = (!no_daily).then(|| start.plus(whole - daily_back));
            let goes = doomed(&issues, latest, tz, whole_before, daily_before);
            let day = |h: Hour| h.to_utc().with_timezone(&tz.tz()).date_naive();
            let kept: Vec<Hour> = issues.iter().zip(&goes).filter(|(_, g)| !**g).map(|(h, _)| *h).collect();
            prop_assert!(kept.contains(&latest));
            for (&h, &g) in issues.iter().zip(&goes) {
                if h == latest {
                    continue;
                }
                if daily_before.is_some_and(|d| h < d) {
                    prop_assert!(g, "{h} is before the daily cutoff");
                } else if whole_before.is_some_and(|w| h >= w) {
                    prop_assert!(!g, "{h} is after the whole cutoff");
                } else {
                    let first = issues.iter().find(|&&o| day(o) == day(h)).copied();
                    prop_assert_eq!(g, first != Some(h), "{}", h);
                }
            }
            let again = doomed(&kept, latest, tz, whole_before, daily_before);
            prop_assert!(again.iter().all(|g| !g), "a second pruning deletes nothing");
        }
    }
}
