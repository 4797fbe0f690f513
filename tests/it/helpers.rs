//! Fresh databases for tests, and the macro that runs one test body on every backend.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use prescale::store::{Backend, DatabaseUrl, Store};
use sqlx::{Connection, Executor};

/// The PostgreSQL server tests use: TEST_POSTGRES_URL, or the local one with trust auth.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Says why a test cannot run: a printed skip locally, a failure in CI.
pub(crate) fn skip(reason: &str) {
    assert!(!in_ci(), "CI=true but {reason}");
    eprintln!("SKIPPED: {reason}");
}

/// A fresh, migrated database; dropped (PostgreSQL) or deleted (SQLite) by `finish`.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: DatabaseUrl,
    pub(crate) dir: tempfile::TempDir,
    pg_name: Option<String>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    /// `None` (with a printed reason) when the backend's server is not reachable outside CI.
    pub(crate) async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg_name) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("prescale.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = match sqlx::postgres::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) => {
                        skip(&format!("PostgreSQL is not reachable at {admin}: {e}"));
                        return None;
                    }
                };
                let n = COUNTER.fetch_add(1, Ordering::SeqCst);
                let name = format!("prescale_it_{}_{n}", std::process::id());
                drop_stale_databases(&mut conn).await;
                conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(b, _)| b)
                    .to_owned();
                (format!("{base}/{name}"), Some(name))
            }
        };
        let url = DatabaseUrl::parse(&url).expect("test url");
        let store = Store::open(&url).await.expect("open test store");
        Some(Self {
            store,
            url,
            dir,
            pg_name,
        })
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the test's directory and returns its path.
    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    pub(crate) async fn finish(self) {
        self.store.close().await;
        let Some(name) = self.pg_name else { return };
        if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&postgres_admin_url()).await {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            conn.execute(sqlx::AssertSqlSafe(drop)).await.ok();
        }
    }
}

/// Drops test databases left behind by test processes that no longer run (a panicked test).
async fn drop_stale_databases(conn: &mut sqlx::postgres::PgConnection) {
    use sqlx::Row;
    let Ok(rows) =
        sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'prescale_it_%'")
            .fetch_all(&mut *conn)
            .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get("datname");
        let pid = name
            .trim_start_matches("prescale_it_")
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if pid
            .is_some_and(|p| p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists())
        {
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await
            .ok();
        }
    }
}

impl TestDb {
    /// Everything stored, as text: compared before and after a rejected write.
    pub(crate) async fn snapshot(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for s in self.store.list_series().await.expect("list series") {
            let id = &s.series.id;
            let obs = self.store.all_observations(id).await.expect("observations");
            let weather = self
                .store
                .weather(
                    &s.series.weather_location,
                    prescale::domain::Hour::from_unix(-3600 << 28).unwrap(),
                    prescale::domain::Hour::from_unix(3600 << 28).unwrap(),
                    prescale::domain::WeatherKind::Observed,
                )
                .await
                .expect("weather");
            let holidays = self.store.custom_holidays(id).await.expect("holidays");
            let imports = self.store.imports(id).await.expect("imports").len();
            let _ = writeln!(
                out,
                "{s:?}\n{obs:?}\n{weather:?}\n{holidays:?}\nimports={imports}"
            );
        }
        let _ = writeln!(out, "{:?}", self.store.events(None).await.expect("events"));
        out
    }
}

/// A file shipped in the repository.
pub(crate) fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `../shared/datasets` beside the checkout (CI lays it there), if present.
pub(crate) fn shared_datasets() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if dir.join("manifest.json").is_file() {
        Some(dir)
    } else {
        skip(&format!("{} is missing", dir.display()));
        None
    }
}

/// One body, every backend (ripgrep's `rgtest!` runs once per regex engine).
macro_rules! on_each_backend {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let Some($db) = $crate::helpers::TestDb::new(prescale::store::Backend::Sqlite).await else { return };
                $body
                $db.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some($db) = $crate::helpers::TestDb::new(prescale::store::Backend::Postgres).await else { return };
                $body
                $db.finish().await;
            }
        }
    };
}
pub(crate) use on_each_backend;

/// The local ISO label of a frame position, as the backtest writes it.
pub(crate) fn local_label(frame: &prescale::forecast::Frame, pos: usize) -> String {
    prescale::forecast::backtest::local_iso(frame, pos)
}

/// The candidates for debug-build tests: all but the gradient-boosted ones, which are slow
/// unoptimized (the release-built backtests and benchmarks cover them).
pub(crate) fn quick_specs() -> Vec<prescale::forecast::ModelSpec> {
    use prescale::forecast::ModelSpec;
    ModelSpec::candidates()
        .into_iter()
        .filter(|s| !matches!(s, ModelSpec::Boosted { .. } | ModelSpec::Direct { .. }))
        .collect()
}
