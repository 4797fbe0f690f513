//! Several `prescale serve` processes on one PostgreSQL database: exactly one leads and runs the
//! serving loop; when it dies, another takes over within a few seconds.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prescale::domain::SeriesId;
use prescale::store::Backend;

use crate::api::request;
use crate::helpers::TestDb;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn serve(db: &TestDb, config: &std::path::Path, addr: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_prescale"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--database-url",
            db.url.as_str(),
            "serve",
            "--listen",
            &addr.to_string(),
        ])
        .env_remove("DATABASE_URL")
        .env("PRESCALE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prescale serve")
}

/// (leader gauge, forecasts published) from a replica's /metrics, if it answers.
async fn state(addr: SocketAddr) -> Option<(f64, f64)> {
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let body = request(addr, "GET", "/metrics", None, "", b"").await.body;
    let value = |name: &str| {
        body.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    Some((
        value("prescale_leader "),
        value("prescale_forecasts_published_total "),
    ))
}

async fn until<T>(limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

#[tokio::test]
async fn only_the_leader_publishes_and_another_takes_over_when_it_dies() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    // A series with six weeks of demand up to now, and a model.
    crate::import::import_recent(&db, "live", 5, 42).await;
    let models = db.path("models");
    let config = db.write(
        "prescale.toml",
        &format!(
            "models_dir = {:?}\n[serving]\ninterval_seconds = 1\nleader_check_seconds = 1\n",
            models.display().to_string()
        ),
    );
    let mut settings = prescale::config::Settings::load(
        Some(&config),
        Vec::new(),
        prescale::config::Overrides::default(),
    )
    .unwrap();
    settings.database_url = db.url.clone();
    let quick = crate::helpers::quick_specs();
    prescale::jobs::retrain::retrain(
        &db.store,
        &settings,
        &SeriesId::parse("live").unwrap(),
        &quick,
    )
    .await
    .unwrap();

    let (a, b) = (free_addr(), free_addr());
    let mut procs = vec![(a, serve(&db, &config, a)), (b, serve(&db, &config, b))];
    // Both answer; exactly one leads and has published.
    let split = until(Duration::from_secs(30), async || {
        let (sa, sb) = (state(a).await?, state(b).await?);
        let leaders = [sa, sb].iter().filter(|s| s.0 == 1.0).count();
        (leaders == 1 && (sa.1 > 0.0 || sb.1 > 0.0)).then_some((sa, sb))
    })
    .await
    .expect("one replica leads and publishes");
    let (leader, follower) = if split.0.0 == 1.0 { (0, 1) } else { (1, 0) };
    let follower_before = if follower == 0 { split.0 } else { split.1 };
    assert_eq!(
        follower_before,
        (0.0, 0.0),
        "the follower neither leads nor publishes"
    );
    // The leader prunes after its first cycle's publishing and scaling (nothing is old enough
    // to go). It counts what it published before it scales and prunes, so wait for it.
    let pruned = "prescale_pruned_rows_total{table=\"published\"} 0";
    let leader_addr = procs[leader].0;
    let metrics = until(Duration::from_secs(30), async || {
        let body = request(leader_addr, "GET", "/metrics", None, "", b"")
            .await
            .body;
        body.contains(pruned).then_some(body)
    })
    .await;
    assert!(
        metrics.is_some(),
        "the leader did not prune after its first cycle"
    );
    let settled = state(procs[follower].0).await.unwrap();
    assert_eq!(settled.1, 0.0, "the follower still has not published");

    // Kill the leader: its lock goes with its connection; the other takes over and publishes.
    procs[leader].1.kill().unwrap();
    procs[leader].1.wait().unwrap();
    let faddr = procs[follower].0;
    let took_over = until(Duration::from_secs(30), async || {
        state(faddr).await.filter(|s| s.0 == 1.0 && s.1 > 0.0)
    })
    .await;
    for (_, p) in &mut procs {
        let _ = p.kill();
        let _ = p.wait();
    }
    assert!(took_over.is_some(), "the follower did not take over");
    let published = db
        .store
        .latest_published(&SeriesId::parse("live").unwrap())
        .await
        .unwrap();
    assert_eq!(published.len(), 24);
    db.finish().await;
}
