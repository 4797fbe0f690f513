//! The `models` table: every trained version of a series' model, which one is the champion,
//! and why the others are not.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::series::epoch;
use super::{Store, StoreError};
use crate::domain::{Hour, SeriesId};

/// Where a version stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    Champion,
    Challenger,
    Retired,
}

impl ModelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Champion => "champion",
            Self::Challenger => "challenger",
            Self::Retired => "retired",
        }
    }

    fn parse(raw: &str) -> Result<Self, StoreError> {
        match raw {
            "champion" => Ok(Self::Champion),
            "challenger" => Ok(Self::Challenger),
            "retired" => Ok(Self::Retired),
            other => Err(StoreError::CorruptText(format!("model status {other:?}"))),
        }
    }
}

/// One registered model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    pub series: SeriesId,
    pub version: i64,
    pub status: ModelStatus,
    pub chosen: String,
    pub path: String,
    pub train_start: Hour,
    pub train_end: Hour,
    pub validation_mae: Option<f64>,
    /// This version's and the champion's MAE on the same recent weeks, when compared.
    pub compared_mae: Option<f64>,
    pub champion_mae: Option<f64>,
    pub reason: String,
    pub trained_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str = "series, version, status, chosen, path, train_start, train_end, validation_mae, compared_mae, \
                       champion_mae, reason, trained_at";

fn record(r: &AnyRow) -> Result<ModelRecord, StoreError> {
    Ok(ModelRecord {
        series: SeriesId::parse(r.try_get("series")?)?,
        version: r.try_get("version")?,
        status: ModelStatus::parse(r.try_get("status")?)?,
        chosen: r.try_get("chosen")?,
        path: r.try_get("path")?,
        train_start: Hour::from_unix(r.try_get("train_start")?)?,
        train_end: Hour::from_unix(r.try_get("train_end")?)?,
        validation_mae: r.try_get("validation_mae")?,
        compared_mae: r.try_get("compared_mae")?,
        champion_mae: r.try_get("champion_mae")?,
        reason: r.try_get("reason")?,
        trained_at: epoch(r.try_get("trained_at")?)?,
    })
}

impl Store {
    /// Versions of a series' model, newest first.
    ///
    /// # Errors
    /// On database failure or a stored value that no longer parses.
    pub async fn models(&self, id: &SeriesId) -> Result<Vec<ModelRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM models WHERE series = $1 ORDER BY version DESC");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record).collect()
    }

    /// The champion of a series, if one was promoted.
    ///
    /// # Errors
    /// As [`Store::models`].
    pub async fn champion(&self, id: &SeriesId) -> Result<Option<ModelRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM models WHERE series = $1 AND status = 'champion'");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// The series without a champion, with their observation counts (from `series_counts`),
    /// ordered by id, for the readiness probe and the first-model rule, which run often.
    ///
    /// # Errors
    /// As [`Store::models`].
    pub async fn series_without_champion(&self) -> Result<Vec<(SeriesId, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id AS id, COALESCE(c.observations, 0) AS n FROM series s \
             LEFT JOIN series_counts c ON c.series = s.id WHERE NOT EXISTS \
             (SELECT 1 FROM models m WHERE m.series = s.id AND m.status = 'champion') \
             ORDER BY s.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((SeriesId::parse(r.try_get("id")?)?, r.try_get("n")?)))
            .collect()
    }

    /// The next version number of a series (1 for the first).
    ///
    /// # Errors
    /// On database failure.
    pub async fn next_model_version(&self, id: &SeriesId) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM models WHERE series = $1")
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
        let v: Option<i64> = row.try_get("v")?;
        Ok(v.unwrap_or(0) + 1)
    }

    /// Registers a version in one transaction. A champion retires `replaces`, the champion it
    /// was judged against (`None`: there was none), and only that one.
    ///
    /// # Errors
    /// [`StoreError::ChampionChanged`] when the series' champion is no longer the one the new
    /// champion was judged against; a duplicate version, or a second champion (both
    /// [`StoreError::is_conflict`]); database failure. Nothing is written then.
    pub async fn register_model(
        &self,
        m: &ModelRecord,
        replaces: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if let (ModelStatus::Champion, Some(v)) = (m.status, replaces) {
            let retired = sqlx::query(
                "UPDATE models SET status = 'retired' WHERE series = $1 AND status = 'champion' \
                 AND version = $2",
            )
            .bind(m.series.as_str())
            .bind(v)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if retired != 1 {
                return Err(StoreError::ChampionChanged(m.series.to_string()));
            }
        }
        sqlx::query(
            "INSERT INTO models (series, version, status, chosen, path, train_start, train_end, validation_mae, \
             compared_mae, champion_mae, reason, trained_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(m.series.as_str())
        .bind(m.version)
        .bind(m.status.as_str())
        .bind(m.chosen.as_str())
        .bind(m.path.as_str())
        .bind(m.train_start.unix())
        .bind(m.train_end.unix())
        .bind(m.validation_mae)
        .bind(m.compared_mae)
        .bind(m.champion_mae)
        .bind(m.reason.as_str())
        .bind(m.trained_at.timestamp())
        .execute(&mut *tx)
        .await?;
        Ok(tx.commit().await?)
    }
}
