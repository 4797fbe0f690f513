//! The only door to the database: SQLite by default (a file, zero set-up), PostgreSQL when
//! the URL names it. One SQL dialect for both (`$N` placeholders, epoch seconds, f64, TEXT);
//! only the DDL of `migrations/{sqlite,postgres}` differs. Every write is one transaction.

mod events;
mod holidays;
mod imports;
mod jobs;
mod leader;
mod models;
mod observations;
mod published;
mod retention;
mod scaling;
mod series;
mod weather;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

use crate::domain::DomainError;

pub use events::EventAgainstHistory;
pub use imports::{ImportBatch, ImportRecord};
pub use jobs::JobRecord;
pub use leader::Leadership;
pub use models::{ModelRecord, ModelStatus};
pub use published::{Issues, PublishedPoint};
pub use retention::PruneMode;
pub use scaling::{ActionRecord, NewAction, Penalty, RecommendationRecord};
pub use series::SeriesStats;
pub use weather::merge_weather;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL that knows its backend: `sqlite://prescale.db`, `sqlite::memory:`,
/// `postgres://user@host/db`.
///
/// ```
/// use prescale::store::{Backend, DatabaseUrl};
/// assert_eq!(DatabaseUrl::parse("sqlite://prescale.db").unwrap().backend(), Backend::Sqlite);
/// assert_eq!(DatabaseUrl::parse("postgresql://localhost/test").unwrap().backend(), Backend::Postgres);
/// assert!(DatabaseUrl::parse("mysql://localhost/test").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
}

impl DatabaseUrl {
    /// # Errors
    /// When the scheme is neither `sqlite:` nor `postgres://`/`postgresql://`.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let backend = if raw.starts_with("sqlite:") {
            Backend::Sqlite
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(redact(raw)));
        };
        Ok(Self {
            url: raw.to_owned(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL to connect with: a SQLite file is created on first use.
    fn connect_url(&self) -> String {
        match self.backend {
            Backend::Sqlite if !self.url.contains("mode=") && !self.url.contains(":memory:") => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}mode=rwc", self.url)
            }
            _ => self.url.clone(),
        }
    }
}

/// Hides a password in `scheme://user:password@host`, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl TryFrom<String> for DatabaseUrl {
    type Error = StoreError;
    fn try_from(raw: String) -> Result<Self, StoreError> {
        Self::parse(&raw)
    }
}

impl From<DatabaseUrl> for String {
    fn from(u: DatabaseUrl) -> Self {
        u.url
    }
}

impl FromStr for DatabaseUrl {
    type Err = StoreError;
    fn from_str(raw: &str) -> Result<Self, StoreError> {
        Self::parse(raw)
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DB")]
    Url(String),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored value is invalid: {0}")]
    Corrupt(#[from] DomainError),
    #[error("stored value is invalid: {0}")]
    CorruptText(String),
    #[error("series {0} does not exist")]
    NoSuchSeries(String),
    #[error("the champion of series {0} changed while a new one was judged against it")]
    ChampionChanged(String),
}

impl StoreError {
    /// Whether a write lost a race: a version or a champion that exists already, or a champion
    /// that changed meanwhile. The caller can retry differently.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::ChampionChanged(_))
            || matches!(self, Self::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// The handle to the database; cheap to clone (a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// To open connections outside the pool (the leader's lock); its Debug hides the password.
    url: DatabaseUrl,
}

/// Rows per multi-row INSERT: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const BATCH_ROWS: usize = 1000;

impl Store {
    /// Connects (creating a SQLite file if needed) and runs the backend's migrations.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub async fn open(url: &DatabaseUrl) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = url.backend();
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers (the API) go on while an import writes.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;")
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url.connect_url()).await?;
        migrator(backend).run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            url: url.clone(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// True when a trivial query answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

fn migrator(backend: Backend) -> Migrator {
    let files: &[(i64, &str, &'static str)] = match backend {
        Backend::Sqlite => &[
            (
                1,
                "foundation",
                include_str!("../../migrations/sqlite/0001_foundation.sql"),
            ),
            (
                2,
                "models",
                include_str!("../../migrations/sqlite/0002_models.sql"),
            ),
            (
                3,
                "published",
                include_str!("../../migrations/sqlite/0003_published.sql"),
            ),
            (
                4,
                "jobs",
                include_str!("../../migrations/sqlite/0004_jobs.sql"),
            ),
            (
                5,
                "partial",
                include_str!("../../migrations/sqlite/0005_partial.sql"),
            ),
            (
                6,
                "scaling",
                include_str!("../../migrations/sqlite/0006_scaling.sql"),
            ),
            (
                7,
                "one_champion",
                include_str!("../../migrations/sqlite/0007_one_champion.sql"),
            ),
            (
                8,
                "series_counts",
                include_str!("../../migrations/sqlite/0008_series_counts.sql"),
            ),
            (
                9,
                "published_doubts",
                include_str!("../../migrations/sqlite/0009_published_doubts.sql"),
            ),
        ],
        Backend::Postgres => &[
            (
                1,
                "foundation",
                include_str!("../../migrations/postgres/0001_foundation.sql"),
            ),
            (
                2,
                "models",
                include_str!("../../migrations/postgres/0002_models.sql"),
            ),
            (
                3,
                "published",
                include_str!("../../migrations/postgres/0003_published.sql"),
            ),
            (
                4,
                "jobs",
                include_str!("../../migrations/postgres/0004_jobs.sql"),
            ),
            (
                5,
                "partial",
                include_str!("../../migrations/postgres/0005_partial.sql"),
            ),
            (
                6,
                "scaling",
                include_str!("../../migrations/postgres/0006_scaling.sql"),
            ),
            (
                7,
                "one_champion",
                include_str!("../../migrations/postgres/0007_one_champion.sql"),
            ),
            (
                8,
                "series_counts",
                include_str!("../../migrations/postgres/0008_series_counts.sql"),
            ),
            (
                9,
                "published_doubts",
                include_str!("../../migrations/postgres/0009_published_doubts.sql"),
            ),
        ],
    };
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, name, sql)| {
                Migration::new(
                    version,
                    name.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Rows per PostgreSQL bulk INSERT: each column travels as one comma-joined text parameter
/// that the server splits with `string_to_array` and `unnest`. Per-row bind parameters cost
/// about twice the server's own insert work (7 s of 11 s for a 10 MB file); this removes it.
const PG_ARRAY_ROWS: usize = 20_000;

/// Values joined by commas; f64 `Display` is the shortest text that parses back exactly.
fn joined<T: fmt::Display>(values: impl Iterator<Item = T>) -> String {
    let mut s = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            s.push(',');
        }
        std::fmt::Write::write_fmt(&mut s, format_args!("{v}")).expect("writing to a String");
    }
    s
}

/// `($1, $2, $3), ($4, $5, $6), ...` for `rows` rows of `cols` columns. SQLite gets anonymous
/// `?` instead: it looks every named parameter up in a list, which makes binding thousands of
/// `$N` quadratic (87% of an import's time in a profile); `?` binds in order at no cost.
fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_database_url_is_never_shown() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db.internal:5432/prescale").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://app:***@db.internal:5432/prescale"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        let err = DatabaseUrl::parse("mysql://app:s3cret@db/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn a_sqlite_file_url_is_opened_in_create_mode() {
        let url = DatabaseUrl::parse("sqlite://prescale.db").unwrap();
        assert_eq!(url.connect_url(), "sqlite://prescale.db?mode=rwc");
        let ro = DatabaseUrl::parse("sqlite://prescale.db?mode=ro").unwrap();
        assert_eq!(ro.connect_url(), "sqlite://prescale.db?mode=ro");
    }

    #[test]
    fn joined_floats_parse_back_exactly() {
        let values = [0.1, 1.0 / 3.0, 12_345_678.901_234_5, 5e-324, 1e300];
        let text = joined(values.iter());
        let back: Vec<f64> = text.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(back, values);
    }

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(
            values_placeholders(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
