//! The command line: one clap command per job, each a thin shell over the library. Human
//! output by default, `--json` for machines; progress bars only on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Utc};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::config::{Overrides, Settings};
use crate::domain::{Calendar, CalendarName, Hour, SeriesId, SpecialEvent, TimeZone};
use crate::import::{self, ImportOptions, ImportReport, Progress, Resample};
use crate::store::{DatabaseUrl, SeriesStats, Store};

/// A count of days or hours that must be at least 1: clap names the flag and the value
/// otherwise (`--origin-every 0` would read as every hour, `--refit-every-days 0` as every
/// origin).
fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a whole number of at least 1".to_owned()),
    }
}

/// Days of history to train on: at least what training needs
/// ([`MIN_HISTORY_DAYS`](crate::forecast::trainer::MIN_HISTORY_DAYS)).
fn at_least_a_week(raw: &str) -> Result<usize, String> {
    let least = crate::forecast::trainer::MIN_HISTORY_DAYS;
    match raw.parse::<usize>() {
        Ok(n) if n >= least => Ok(n),
        _ => Err(format!(
            "must be a whole number of days, at least {least} (what training needs)"
        )),
    }
}

/// prescale: forecasts hourly demand and scales services ahead of it.
#[derive(Debug, Parser)]
#[command(name = "prescale", version, about)]
pub struct Cli {
    /// Config file (default: prescale.toml in the working directory, when present).
    #[arg(long, global = true, value_name = "FILE", env = "PRESCALE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://FILE (default sqlite://prescale.db) or postgres://USER@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<DatabaseUrl>,
    /// Log format on stderr.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import hourly (or finer) demand from a CSV with columns timestamp,y[,...].
    ///
    /// Timestamps are ISO-8601 with a UTC offset (or local time in --tz). Weather columns
    /// (temp*, precip*, rain*, snow*, humidity*, wind*, weather, ...) and the holiday column are
    /// stored too; other columns are reported as ignored. The whole file is checked first: a bad
    /// row rejects the import and nothing is written. Re-importing the same file changes nothing.
    Import(ImportArgs),
    /// Inspect stored series.
    #[command(subcommand)]
    Series(SeriesCommand),
    /// List a holiday calendar, or import a series' custom holidays.
    Holidays(HolidaysArgs),
    /// Import or list special events (concerts, matches) that move demand.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Backtest the trainer on a dataset CSV by the shared protocol; needs no database.
    ///
    /// The last --test-days days are the test window; every local midnight in it is an origin;
    /// leads 1..--horizon are forecast from data strictly before it; models are refitted every
    /// --refit-every-days days, each time choosing among the candidates by validation inside the
    /// training data. Writes one row per (origin, target) and a JSON with the metrics.
    Backtest(BacktestArgs),
    /// What-if replay of scaling policies on a real trace: predictive (prescale's forecasts,
    /// recommendations and gate), reactive (HPA-like), static (the training peak) and oracle,
    /// hour by hour over the test window on one target's capacity model.
    Simulate(SimulateArgs),
    /// Accuracy report: from a backtest (--backtest M.json --forecasts F.csv) or from what the
    /// serving loop published for a series (--series ID --days 28); HTML with charts, JSON or
    /// Markdown.
    Report(ReportArgs),
    /// Capacity and growth planning for a series: growth over the last 30 days (holidays and
    /// events left out), the projected peak for next week, month, quarter and year, what each of
    /// its targets needs then and at what cost, headroom, and the growth phase.
    Capacity {
        #[arg(long)]
        series: String,
        #[arg(long)]
        json: bool,
    },
    /// Train the model of one series (or all) on its stored history. The new version becomes
    /// the champion only if it does at least as well as the champion on the recent weeks.
    Train {
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        series: Option<SeriesId>,
        #[arg(long)]
        all: bool,
        /// Series trained at once (default: the number of cores).
        #[arg(long, value_parser = at_least_one)]
        parallel: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// List the model versions of a series: champion, challengers and why.
    Models {
        #[arg(long)]
        series: SeriesId,
        #[arg(long)]
        json: bool,
    },
    /// Forecast a series with its champion: expected demand, 80/95% bounds, confidence and what
    /// lowered it.
    Forecast {
        #[arg(long)]
        series: SeriesId,
        #[arg(long, default_value_t = 24)]
        horizon: usize,
        /// First hour to forecast (default: the hour after the last observation).
        #[arg(long, value_name = "TIMESTAMP")]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run one cycle of the serving loop and exit: forecast every series that has a model from
    /// the current hour (or --at), publish the forecasts, recommend and scale every target
    /// (dry-run targets only record what they would do), and prune what the retention settings
    /// no longer keep.
    Tick {
        /// The hour to publish for (default: the current hour).
        #[arg(long, value_name = "TIMESTAMP")]
        at: Option<String>,
        #[arg(long, default_value_t = 24)]
        horizon: usize,
        #[arg(long)]
        json: bool,
    },
    /// Delete the published forecasts, recommendations, actions, partial readings, job and
    /// import records, model files and (with retention.history_days set) observations and
    /// weather that the retention settings (retention.* in prescale.toml) no longer keep (the
    /// serving loop's leader does this every hour).
    Prune {
        /// Count what would be deleted, and delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API (forecasts, observations, models, recommendations, health, metrics)
    /// and run the serving loop (publish, scale, retrain) until SIGTERM.
    Serve {
        /// Address to listen on (default: api.listen, 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// The audit trail: every scaling action attempted, newest first.
    Actions {
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Restore a target's previous values: the last action, or every action from --to on
    /// (newest first). Each restore is recorded as an action of its own.
    Rollback {
        #[arg(long)]
        target: String,
        #[arg(long, value_name = "ACTION_ID")]
        to: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    /// The latest published recommendations (per target and hour, with decision and reason).
    Recommendations {
        #[arg(long)]
        series: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks: `prescale bench train` trains many synthetic series and reports wall time,
    /// series per second and peak memory.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// The tour on the embedded default: import the shipped datasets, train, backtest one with a
    /// policy replay, forecast its next day, show a dry-run Cloud Run target's recommendations,
    /// write the HTML report to prescale-demo/, and show Lima's next holidays.
    Demo {
        /// Folder with the shipped datasets.
        #[arg(long, default_value = "datasets")]
        datasets: PathBuf,
    },
    /// Print the settings in force after defaults, config file, environment and flags.
    Config {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Series id, e.g. trips or trips/lima-norte.
    #[arg(long)]
    pub series: SeriesId,
    /// IANA time zone of the series (new series) and of timestamps without an offset.
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<TimeZone>,
    /// Built-in holiday calendar of a new series: PE, US or none.
    #[arg(long)]
    pub calendar: Option<CalendarName>,
    /// How sub-hourly rows become an hour: sum (counts) or mean (rates).
    #[arg(long, default_value = "sum")]
    pub resample: Resample,
    /// Print the import report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The CSV file.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The dataset: timestamp,y[,exogenous columns...].
    pub file: PathBuf,
    /// Local time zone (default: the offsets written in the file).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<TimeZone>,
    /// Special events CSV (e.g. worldcup98_events.csv).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    #[arg(long, default_value_t = 28, value_parser = at_least_one)]
    pub test_days: usize,
    #[arg(long, default_value_t = 24, value_parser = at_least_one)]
    pub origin_every: usize,
    #[arg(long, default_value_t = 24)]
    pub horizon: usize,
    #[arg(long, default_value_t = 7, value_parser = at_least_one)]
    pub refit_every_days: usize,
    /// Confidence = P(actual within ±tolerance of the forecast).
    #[arg(long, default_value_t = 0.2)]
    pub tolerance: f64,
    /// Candidates to choose among (default: all): snaive24, snaive168, profile168x4,
    /// profile24x7, ets168x4, mstl, ridge, boosted, direct.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// The boosting candidates' row-sampling seed (0, as training uses): other seeds tell how
    /// much of a result is the draw of rows (`scripts/seeds`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One row per (origin, target): origin,timestamp,yhat,lo80,hi80,lo95,hi95,confidence.
    #[arg(long, value_name = "FILE")]
    pub forecasts_out: Option<PathBuf>,
    /// Protocol, metrics, chosen models and timings as JSON.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The backtest's JSON (--json-out).
    #[arg(
        long,
        value_name = "M.json",
        requires = "forecasts",
        conflicts_with = "series"
    )]
    pub backtest: Option<PathBuf>,
    /// The backtest's forecasts (--forecasts-out).
    #[arg(long, value_name = "F.csv", requires = "backtest")]
    pub forecasts: Option<PathBuf>,
    /// The dataset, for the worst days' holiday and weather.
    #[arg(long, value_name = "FILE.csv")]
    pub data: Option<PathBuf>,
    /// Events CSV, for the worst days' events.
    #[arg(long, value_name = "FILE.csv")]
    pub events: Option<PathBuf>,
    /// A `simulate --json-out` file: capacity against demand per policy.
    #[arg(long, value_name = "S.json")]
    pub simulation: Option<PathBuf>,
    /// A stored series: its published forecasts and the observations that arrived.
    #[arg(long, value_name = "ID")]
    pub series: Option<String>,
    #[arg(long, default_value_t = 28)]
    pub days: i64,
    /// With --series: score every published forecast, or each local day's first (default: all
    /// while retention.published_days keeps every forecast of the window, else daily).
    #[arg(long, value_enum, requires = "series")]
    pub issues: Option<crate::store::Issues>,
    /// Where to write (default: print Markdown).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// html, json or md (default: from --out's extension).
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The dataset: timestamp,y[,exogenous columns...].
    pub file: PathBuf,
    /// A TOML file with the target (its keys at the top level, or `[[targets]]` tables).
    #[arg(long, value_name = "TARGET_CONFIG")]
    pub target: PathBuf,
    /// Which of the file's `[[targets]]` (default: the first).
    #[arg(long, value_name = "NAME")]
    pub target_name: Option<String>,
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<TimeZone>,
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    #[arg(long, default_value_t = 28, value_parser = at_least_one)]
    pub test_days: usize,
    #[arg(long, default_value_t = 7, value_parser = at_least_one)]
    pub refit_every_days: usize,
    /// How long a new instance takes to serve.
    #[arg(long, default_value_t = 5)]
    pub cold_start_minutes: u32,
    /// Price of an instance-hour (unless the target sets price_per_instance_hour).
    #[arg(long, default_value_t = 0.0864)]
    pub price: f64,
    /// Candidates (default: all), as for backtest.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Vary one knob of the predictive policy: threshold=0.6,0.7,0.8,0.9 or
    /// quantile=expected,upper80,upper95.
    #[arg(long, value_name = "KNOB=V1,V2,...")]
    pub sweep: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Publish one serving cycle for N series with models, in a fresh temporary SQLite store (or
    /// --postgres), then prune by the retention settings.
    Publish {
        #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
        series: usize,
        #[arg(long, default_value_t = 42, value_parser = at_least_a_week)]
        days: usize,
        /// Days of hourly publications (24 hours each) stored before the timed cycle, as in
        /// steady state, where each forecast replays the last 28 days' for its corrections.
        #[arg(long, default_value_t = 0)]
        published_days: usize,
        /// Days of history that arrive after training, as with a weekly retrain: each forecast
        /// then recalibrates its model on its own forecasts of those days (four a day).
        #[arg(long, default_value_t = 0)]
        model_age_days: usize,
        /// A PostgreSQL database to run in instead (it must hold no series; they stay there).
        #[arg(long, value_name = "URL")]
        postgres: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Train N synthetic series of D days each, on all cores (or --workers).
    Train {
        #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
        series: usize,
        #[arg(long, default_value_t = 365, value_parser = at_least_a_week)]
        days: usize,
        #[arg(long, value_parser = at_least_one)]
        workers: Option<usize>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SeriesCommand {
    /// Every series with its observation count, span and missing hours.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HolidaysArgs {
    #[command(subcommand)]
    pub command: Option<HolidaysCommand>,
    /// Built-in calendar to list: PE, US or none.
    #[arg(long)]
    pub calendar: Option<CalendarName>,
    /// A series whose full calendar (built-in, imported and configured holidays) to list.
    #[arg(long, conflicts_with = "calendar")]
    pub series: Option<SeriesId>,
    /// Year to list (default: this year).
    #[arg(long)]
    pub year: Option<i32>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HolidaysCommand {
    /// Add custom holidays to a series from a CSV with columns date,name.
    Import {
        #[arg(long)]
        series: SeriesId,
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Import events from a CSV (event_id,name,venue,starts_at,ends_at,expected_attendance,...).
    Import {
        /// Series the events move (repeatable); a `series` column may name more.
        #[arg(long)]
        series: Vec<SeriesId>,
        file: PathBuf,
    },
    /// List stored events; of one series (--series), each with whether it will be unlike the
    /// series' history (over 1.5 times the attendance of every earlier event with demand stored).
    List {
        #[arg(long)]
        series: Option<SeriesId>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs one command.
///
/// # Errors
/// Whatever the command failed on, with what it was doing.
pub async fn run(cli: Cli) -> Result<()> {
    let overrides = Overrides {
        database_url: cli.database_url.clone(),
    };
    let settings = Settings::load(cli.config.as_deref(), std::env::vars(), overrides)?;
    init_tracing(&settings.log, &cli.log_format);

    let text = match cli.command {
        Command::Import(args) => import_cmd(&settings, args).await?,
        Command::Series(SeriesCommand::List { json }) => series_list(&settings, json).await?,
        Command::Holidays(args) => holidays_cmd(&settings, args).await?,
        Command::Events(cmd) => events_cmd(&settings, cmd).await?,
        Command::Backtest(args) => backtest_cmd(&args)?,
        Command::Simulate(args) => simulate_cmd(&args)?,
        Command::Report(args) => report_cmd(&settings, &args).await?,
        Command::Capacity {
            series,
            json: as_json,
        } => {
            let id = SeriesId::parse(&series)?;
            let store = open_store(&settings).await?;
            let p = crate::analysis::capacity::plan(&store, &settings, &id).await;
            store.close().await;
            let p = p?;
            if as_json {
                json(&p)?
            } else {
                crate::analysis::capacity::text(&p)
            }
        }
        Command::Tick {
            at,
            horizon,
            json: as_json,
        } => tick_cmd(&settings, at.as_deref(), horizon, as_json).await?,
        Command::Prune {
            dry_run,
            json: as_json,
        } => {
            let store = open_store(&settings).await?;
            let r = if dry_run {
                crate::jobs::retention::dry_run(&store, &settings, Utc::now()).await
            } else {
                crate::jobs::retention::prune(&store, &settings, Utc::now()).await
            };
            store.close().await;
            let r = r?;
            if as_json {
                json(&r)?
            } else {
                format_pruned(&r)
            }
        }
        Command::Serve { listen } => serve_cmd(settings.clone(), listen).await?,
        Command::Actions {
            target,
            limit,
            json: as_json,
        } => actions_cmd(&settings, target.as_deref(), limit, as_json).await?,
        Command::Rollback {
            target,
            to,
            json: as_json,
        } => rollback_cmd(&settings, &target, to, as_json).await?,
        Command::Recommendations {
            series,
            target,
            json: as_json,
        } => recommendations_cmd(&settings, series.as_deref(), target.as_deref(), as_json).await?,
        Command::Bench(BenchCommand::Publish {
            series,
            days,
            published_days,
            model_age_days,
            postgres,
            json: as_json,
        }) => {
            let dir = tempfile_dir()?;
            let mut s = settings.clone();
            s.database_url = match postgres {
                Some(url) => {
                    let url = DatabaseUrl::parse(&url)?;
                    anyhow::ensure!(
                        url.backend() == crate::store::Backend::Postgres,
                        "--postgres {url} is not a postgres:// URL"
                    );
                    url
                }
                None => {
                    DatabaseUrl::parse(&format!("sqlite://{}", dir.join("bench.db").display()))?
                }
            };
            s.models_dir = dir.join("models");
            let r = crate::bench::publish_bench(
                &s,
                series,
                days * 24,
                published_days * 24,
                model_age_days * 24,
            )
            .await;
            let _ = std::fs::remove_dir_all(&dir);
            let r = r?;
            if as_json {
                json(&r)?
            } else {
                format!(
                    "{} series x {} h (models {} h old): setup {:.1} s, training {:.1} s, one publish cycle {:.2} s ({} published), pruning {:.2} s ({} rows), an hour later {:.2} s\n",
                    r.series,
                    r.hours_per_series,
                    r.model_age_hours,
                    r.setup_seconds,
                    r.train_seconds,
                    r.publish_seconds,
                    r.published,
                    r.prune_seconds,
                    r.pruned_rows,
                    r.next_prune_seconds
                )
            }
        }
        Command::Bench(BenchCommand::Train {
            series,
            days,
            workers,
            json: as_json,
        }) => {
            let workers = workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(series as u64)
            } else {
                ProgressBar::hidden()
            };
            let r = crate::bench::train_bench(series, days * 24, workers, &|n| {
                bar.set_position(n as u64)
            });
            bar.finish_and_clear();
            if as_json {
                json(&r)?
            } else {
                format!(
                    "trained {} series x {} h on {} workers in {:.1} s ({:.1} series/s), peak memory {} MiB\nchosen: {:?}\n",
                    r.series,
                    r.hours_per_series,
                    r.workers,
                    r.wall_seconds,
                    r.series_per_second,
                    r.peak_rss_mib
                        .map_or_else(|| "?".to_owned(), |m| format!("{m:.0}")),
                    r.chosen
                )
            }
        }
        Command::Train {
            series,
            all,
            parallel,
            json: as_json,
        } => train_cmd(&settings, series, all, parallel, as_json).await?,
        Command::Models {
            series,
            json: as_json,
        } => models_cmd(&settings, &series, as_json).await?,
        Command::Forecast {
            series,
            horizon,
            at,
            json: as_json,
        } => forecast_cmd(&settings, &series, horizon, at.as_deref(), as_json).await?,
        Command::Demo { datasets } => demo(&settings, &datasets).await?,
        Command::Config { json: true } => serde_json::to_string_pretty(&settings)? + "\n",
        Command::Config { json: false } => settings_lines(&serde_json::to_value(&settings)?),
    };
    emit(&text)
}

/// The settings as one `key = value` line each, keys as configuration errors and the
/// `PRESCALE_` variables name them (`retention.published_days = 35`), values as in TOML; a
/// list of tables numbers its items (`targets[0].name`), and a key without a value is a comment.
fn settings_lines(v: &serde_json::Value) -> String {
    fn walk(key: &str, v: &serde_json::Value, out: &mut String) {
        use serde_json::Value;
        let join = |k: &str| {
            if key.is_empty() {
                k.to_owned()
            } else {
                format!("{key}.{k}")
            }
        };
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(&join(k), v, out)),
            Value::Array(items) if items.iter().any(Value::is_object) => {
                for (i, item) in items.iter().enumerate() {
                    walk(&format!("{key}[{i}]"), item, out);
                }
            }
            Value::Null => out.push_str(&format!("# {key} is not set\n")),
            _ => out.push_str(&format!("{key} = {v}\n")),
        }
    }
    let mut out = String::new();
    walk("", v, &mut out);
    out
}

/// Writes a command's output; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

fn json(value: &impl Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The log filter of setting `log`: PostgreSQL's notices (at every start: "relation
/// \"_sqlx_migrations\" already exists, skipping") are not news at info, unless the setting asks
/// for sqlx's logs itself.
fn log_filter(filter: &str) -> String {
    if filter.contains("sqlx") {
        filter.to_owned()
    } else {
        format!("{filter},sqlx::postgres::notice=warn")
    }
}

fn init_tracing(filter: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(log_filter(filter))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests run several commands in one process) keeps the first subscriber.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn open_store(settings: &Settings) -> Result<Store> {
    Store::open(&settings.database_url)
        .await
        .with_context(|| format!("opening the database {}", settings.database_url))
}

async fn import_cmd(settings: &Settings, args: ImportArgs) -> Result<String> {
    let store = open_store(settings).await?;
    let opts = ImportOptions {
        series: args.series.clone(),
        time_zone: args.tz,
        calendar: args.calendar,
        resample: args.resample,
        default_time_zone: settings.series_defaults.time_zone,
        default_calendar: settings.series_defaults.calendar,
        default_tolerance: settings.series_defaults.tolerance,
    };
    let bar = progress_bar(&args.file);
    let mut tick = |p: Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let result = import::import_demand(&store, &args.file, &opts, &mut tick).await;
    bar.finish_and_clear();
    let report = result.with_context(|| {
        format!(
            "importing {} into series {}",
            args.file.display(),
            args.series
        )
    })?;
    let series = store
        .series(&args.series)
        .await?
        .context("the imported series is stored")?;
    store.close().await;
    if args.json {
        json(&report)
    } else {
        Ok(import_text(&report, series.time_zone, series.calendar))
    }
}

fn model_specs(names: &[String]) -> Result<Vec<crate::forecast::ModelSpec>> {
    use crate::forecast::ModelSpec;
    let all = ModelSpec::candidates();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|s| s.name() == *name)
                .cloned()
                .with_context(|| {
                    let names: Vec<String> = all.iter().map(ModelSpec::name).collect();
                    format!("unknown model {name:?}: use one of {}", names.join(", "))
                })
        })
        .collect()
}

async fn report_cmd(settings: &Settings, args: &ReportArgs) -> Result<String> {
    use crate::analysis::report_cmd::{
        Format, from_backtest, from_store, read_json, render, write_out,
    };
    let format = Format::choose(args.format.as_deref(), args.out.as_deref())?;
    let report = match (&args.backtest, &args.forecasts, &args.series) {
        (Some(m), Some(f), None) => {
            from_backtest(m, f, args.data.as_deref(), args.events.as_deref())?
        }
        (None, None, Some(id)) => {
            let id = SeriesId::parse(id)?;
            let store = open_store(settings).await?;
            let issues = args.issues.unwrap_or_else(|| {
                crate::store::Issues::default_for(
                    args.days,
                    settings.retention.published_days.days(),
                )
            });
            let r = from_store(&store, &id, args.days, issues).await;
            store.close().await;
            r?
        }
        _ => anyhow::bail!("give --backtest M.json --forecasts F.csv, or --series ID"),
    };
    let sim = args.simulation.as_deref().map(read_json).transpose()?;
    let text = render(&report, format, sim.as_ref())?;
    match &args.out {
        Some(out) => {
            write_out(out, &text)?;
            Ok(format!(
                "report written to {} (MAE {:.3}, MASE {:.3}, coverage 80% {:.1}%, 95% {:.1}%)\n",
                out.display(),
                report.metrics.mae,
                report.metrics.mase,
                report.metrics.coverage80 * 100.0,
                report.metrics.coverage95 * 100.0
            ))
        }
        None => Ok(text),
    }
}

/// A backtest's forecasts as `F.csv`: one row per (origin, target), the columns the shared
/// scorer reads.
fn write_forecasts(path: &Path, rows: &[crate::forecast::backtest::ForecastRow]) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(crate::forecast::backtest::FORECAST_COLUMNS)?;
    for r in rows {
        let y = r.y.map_or_else(String::new, |v| v.to_string());
        let mut rec = vec![r.origin.clone(), r.timestamp.clone(), r.lead.to_string(), y];
        rec.extend([r.yhat, r.lo80, r.hi80, r.lo95, r.hi95, r.confidence].map(|v| v.to_string()));
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}

fn simulate_cmd(args: &SimulateArgs) -> Result<String> {
    use crate::analysis::replay::{Options, Sweep, read_target, replay, table};
    let target = read_target(&args.target, args.target_name.as_deref())?;
    let sweep = args.sweep.as_deref().map(Sweep::parse).transpose()?;
    anyhow::ensure!(
        args.price.is_finite() && args.price >= 0.0,
        "--price {} must be >= 0",
        args.price
    );
    let events = match &args.events {
        Some(path) => import::parse_events_csv(path, &[])
            .with_context(|| format!("reading events {}", path.display()))?,
        None => Vec::new(),
    };
    // Its errors name the file (and line, column, value).
    let frame = crate::forecast::Frame::from_csv(&args.file, args.tz, &events)?;
    let opts = Options {
        test_days: args.test_days,
        refit_every_days: args.refit_every_days,
        cold_start_minutes: args.cold_start_minutes,
        price: args.price,
        tolerance: 0.2,
        specs: model_specs(&args.models)?,
        events,
    };
    let name = args
        .file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let r = replay(&frame, &name, &target, &opts, sweep.as_ref())?;
    if let Some(path) = &args.json_out {
        write_atomically(path, &serde_json::to_string_pretty(&r)?)?;
    }
    let mut o = format!(
        "{name}: {} hours replayed on target {} ({} {}/instance/s, min {}, max {}, threshold {}, cold start {} min)\n\n",
        r.hours.len(),
        target.name,
        r.settings.capacity.requests_per_instance_per_second,
        "requests",
        target.min,
        target.max,
        target.confidence_threshold,
        args.cold_start_minutes
    );
    let rows: Vec<(String, &crate::analysis::simulate::PolicyResult)> =
        r.policies.iter().map(|p| (p.policy.clone(), p)).collect();
    o.push_str(&table(&rows));
    if let Some(h) = r.policies[0].holds {
        o.push_str(&format!(
            "\npredictive: the gate held {h} of {} hours\n",
            r.hours.len()
        ));
    }
    if !r.sweep.is_empty() {
        o.push_str("\nsweep of the predictive policy:\n");
        let rows: Vec<(String, &crate::analysis::simulate::PolicyResult)> = r
            .sweep
            .iter()
            .map(|s| (s.value.clone(), &s.result))
            .collect();
        o.push_str(&table(&rows));
    }
    Ok(o)
}

fn backtest_cmd(args: &BacktestArgs) -> Result<String> {
    use crate::forecast::Frame;
    use crate::forecast::backtest::{Protocol, run};
    use std::fmt::Write;
    anyhow::ensure!(
        args.horizon >= 1 && args.horizon <= 24,
        "--horizon {} is outside 1..=24",
        args.horizon
    );
    anyhow::ensure!(
        args.tolerance > 0.0 && args.tolerance <= 1.0,
        "--tolerance {} is outside (0, 1]",
        args.tolerance
    );
    let events = match &args.events {
        Some(path) => import::parse_events_csv(path, &[])
            .with_context(|| format!("reading events {}", path.display()))?,
        None => Vec::new(),
    };
    // Its errors name the file (and line, column, value).
    let frame = Frame::from_csv(&args.file, args.tz, &events)?;
    let specs: Vec<_> = model_specs(&args.models)?
        .into_iter()
        .map(|s| s.with_seed(args.seed))
        .collect();
    let protocol = Protocol {
        test_days: args.test_days,
        origin_every: args.origin_every,
        horizon: args.horizon,
        refit_every_days: args.refit_every_days,
    };
    let started = std::time::Instant::now();
    let result = run(&frame, &protocol, &specs, args.tolerance);
    anyhow::ensure!(
        result.n_origins > 0,
        "{}: too short for a {}-day test window",
        args.file.display(),
        args.test_days
    );
    if let Some(path) = &args.forecasts_out {
        write_forecasts(path, &result.rows)?;
    }
    if let Some(path) = &args.json_out {
        let mut json = serde_json::to_value(&result)?;
        json["seed"] = args.seed.into();
        write_atomically(path, &serde_json::to_string_pretty(&json)?)?;
    }
    let m = &result.metrics;
    let mut o = String::new();
    let seed = if args.seed == 0 {
        String::new()
    } else {
        format!(" (boosting's row-sampling seed {})", args.seed)
    };
    let _ = writeln!(
        o,
        "{}: {} origins from {}, {} scored points{seed}",
        result.dataset, result.n_origins, result.first_origin, m.n_points
    );
    let _ = writeln!(
        o,
        "MAE {:.1}  MASE {:.3}  RMSE {:.1}  sMAPE {:.2}%  bias {:.1}",
        m.mae, m.mase, m.rmse, m.smape_pct, m.bias
    );
    let _ = writeln!(
        o,
        "coverage 80% {:.3} (width {:.1})  95% {:.3} (width {:.1})",
        m.coverage80, m.width80, m.coverage95, m.width95
    );
    let _ = writeln!(
        o,
        "confidence calibration error {:.3} (tolerance ±{:.0}%)",
        m.calibration_error,
        args.tolerance * 100.0
    );
    if let Some(f) = m.calibration_error_floor {
        let _ = writeln!(
            o,
            "  a calibrated confidence would show {:.3} here (90% of draws below {:.3}; p = {:.2}; hits within an origin correlate at {:.2})",
            f.median, f.p90, f.p_value, f.within_origin_correlation
        );
    }
    let _ = writeln!(o, "confidence Brier score {}", m.brier);
    let groups: Vec<String> = m
        .by_doubt
        .iter()
        .map(|d| {
            format!(
                "{} {} {:.2}/{:.2}",
                d.doubt, d.n, d.mean_confidence, d.hit_rate
            )
        })
        .collect();
    let _ = writeln!(
        o,
        "confidence by doubt (points, mean confidence/hit rate): {}",
        groups.join("; ")
    );
    let groups: Vec<String> = m
        .by_correction
        .iter()
        .map(|g| {
            format!(
                "{} {} {:.2}/{:.2}",
                g.range(),
                g.n,
                g.mean_confidence,
                g.hit_rate
            )
        })
        .collect();
    if !groups.is_empty() {
        let _ = writeln!(
            o,
            "confidence by the online correction's scale (points, mean confidence/hit rate): {}",
            groups.join("; ")
        );
    }
    let dates = |d: &[chrono::NaiveDate]| {
        let s: Vec<String> = d.iter().map(ToString::to_string).collect();
        if s.is_empty() {
            "none".to_owned()
        } else {
            s.join(", ")
        }
    };
    let _ = writeln!(
        o,
        "holidays read as ordinary days: {}; read as they were: {}",
        dates(&result.holidays_read_as_ordinary),
        dates(&result.holidays_read_as_they_were)
    );
    for r in &result.refits {
        let _ = writeln!(o, "refit {}: {} ({})", r.origin, r.chosen, r.reason);
    }
    let _ = writeln!(
        o,
        "fit {:.2} s, predict {:.2} s, total {:.2} s",
        result.fit_seconds,
        result.predict_seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(o)
}

/// A fresh folder under the system's temp dir, for throwaway benchmark stores.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "prescale-bench-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// An ISO-8601 timestamp given on the command line, as the hour that contains it.
fn hour_arg(flag: &str, raw: &str) -> Result<Hour> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| Hour::containing(t.to_utc()))
        .map_err(|_| anyhow::anyhow!("{flag} {raw:?} is not an ISO-8601 timestamp with an offset"))
}

async fn tick_cmd(
    settings: &Settings,
    at: Option<&str>,
    horizon: usize,
    as_json: bool,
) -> Result<String> {
    anyhow::ensure!(
        (1..=168).contains(&horizon),
        "--horizon {horizon} is outside 1..=168"
    );
    let at = match at {
        Some(raw) => hour_arg("--at", raw)?,
        None => Hour::containing(Utc::now()),
    };
    let store = open_store(settings).await?;
    let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
    let r = crate::jobs::serving::publish_once(&store, settings, at, horizon, parallel).await?;
    // The cycle's clock: now, or for --at the minute the loop would have run at.
    let now = if at == Hour::containing(Utc::now()) {
        Utc::now()
    } else {
        at.to_utc() + chrono::Duration::minutes(i64::from(settings.serving.minute_offset))
    };
    let ctx = crate::scaling::actuators::Context::from_settings(settings);
    let interval = chrono::Duration::seconds(settings.serving.interval_seconds as i64);
    let scaled =
        crate::scaling::cycle::run(&store, settings, &ctx, &r.published, now, interval).await;
    // Pruned by the cycle's clock, so that replaying past hours keeps their publications, but
    // never ahead of the real one: a tick --at a future hour must not age what is stored.
    let pruned = match scaled {
        Ok(_) => crate::jobs::retention::prune(&store, settings, now.min(Utc::now())).await,
        Err(_) => Ok(Default::default()),
    };
    store.close().await;
    let (scaled, pruned) = (scaled?, pruned?);
    if as_json {
        return json(&serde_json::json!({ "publish": r, "scaling": scaled, "pruned": pruned }));
    }
    let mut o = format!(
        "published {} series for {at} in {:.2} s\n",
        r.published.len(),
        r.seconds
    );
    for (id, why) in &r.skipped {
        o.push_str(&format!("  skipped {id}: {why}\n"));
    }
    o.push_str(&format_outcomes(settings, &scaled));
    o.push_str(&format_pruned(&pruned));
    Ok(o)
}

fn format_pruned(r: &crate::jobs::retention::PruneReport) -> String {
    let tables: Vec<String> = r.tables().iter().map(|(t, n)| format!("{n} {t}")).collect();
    let mut o = format!(
        "{} {} rows, {} model artifacts ({:.1} MB) in {:.2} s\n",
        if r.dry_run { "would prune" } else { "pruned" },
        tables.join(", "),
        r.model_artifacts,
        r.model_bytes as f64 / 1e6,
        r.seconds
    );
    for f in &r.failed {
        o.push_str(&format!("  {f}\n"));
    }
    o
}

fn format_action(a: &crate::store::ActionRecord) -> String {
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map_or_else(|| "?".to_owned(), ToString::to_string)
    };
    let mut line = format!(
        "#{} {} {} ({}) {}: {} -> {} [{}]",
        a.id,
        a.at.format("%Y-%m-%d %H:%M:%S"),
        a.target,
        a.kind,
        a.cause,
        show(&a.before),
        a.after,
        a.status
    );
    if let Some(h) = a.hour {
        line.push_str(&format!(" for {h}"));
    }
    if let Some(c) = a.confidence {
        line.push_str(&format!(" confidence {c:.2}"));
    }
    if let Some(s) = a.http_status {
        line.push_str(&format!(" http {s}"));
    }
    if let Some(r) = a.rollback_of {
        line.push_str(&format!(" (rolls back #{r})"));
    }
    if let Some(e) = &a.error {
        line.push_str(&format!("\n    error: {e}"));
    }
    line + "\n"
}

async fn actions_cmd(
    settings: &Settings,
    target: Option<&str>,
    limit: i64,
    as_json: bool,
) -> Result<String> {
    let store = open_store(settings).await?;
    let actions = store.actions(target, limit.max(1)).await?;
    store.close().await;
    if as_json {
        return json(&actions);
    }
    if actions.is_empty() {
        return Ok("no actions recorded\n".into());
    }
    Ok(actions.iter().map(format_action).collect())
}

async fn rollback_cmd(
    settings: &Settings,
    target: &str,
    to: Option<i64>,
    as_json: bool,
) -> Result<String> {
    let store = open_store(settings).await?;
    let ctx = crate::scaling::actuators::Context::from_settings(settings);
    let r = crate::scaling::cycle::rollback(&store, settings, &ctx, target, to).await;
    store.close().await;
    let done = r?;
    if as_json {
        return json(&done);
    }
    let failed = done.iter().any(|a| a.status == "failed");
    let text: String = done.iter().map(format_action).collect();
    anyhow::ensure!(!failed, "rollback stopped at a failure:\n{text}");
    Ok(text)
}

async fn recommendations_cmd(
    settings: &Settings,
    series: Option<&str>,
    target: Option<&str>,
    as_json: bool,
) -> Result<String> {
    let series = series.map(SeriesId::parse).transpose()?;
    let store = open_store(settings).await?;
    let recs = store.latest_recommendations(series.as_ref(), target).await;
    let zones = store.all_series().await;
    store.close().await;
    let recs = recs?;
    if as_json {
        return json(&recs);
    }
    if recs.is_empty() {
        return Ok("no recommendations published yet (run `prescale tick`)\n".into());
    }
    // Hours in their series' local time, as `prescale forecast` shows them.
    let zones: std::collections::HashMap<String, crate::domain::TimeZone> = zones?
        .into_iter()
        .map(|s| (s.id.to_string(), s.time_zone))
        .collect();
    Ok(recommendations_table(&recs, |r| {
        zones
            .get(&r.series)
            .map_or_else(|| r.hour.to_string(), |tz| local_iso(r.hour, *tz))
    }))
}

/// Recommendations as a table, each hour as `hour` shows it.
fn recommendations_table(
    recs: &[crate::store::RecommendationRecord],
    hour: impl Fn(&crate::store::RecommendationRecord) -> String,
) -> String {
    let rows: Vec<Vec<String>> = recs
        .iter()
        .map(|r| {
            vec![
                r.target.clone(),
                hour(r),
                r.needed.to_string(),
                r.value.to_string(),
                format!("{:.2}", r.confidence),
                r.decision.clone(),
                r.reason.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TARGET",
            "HOUR",
            "NEEDED",
            "VALUE",
            "CONFIDENCE",
            "DECISION",
            "REASON",
        ],
        &rows,
    )
}

/// One line per target: what was decided for which hour, and what happened.
fn format_outcomes(
    settings: &Settings,
    outcomes: &[crate::scaling::cycle::TargetOutcome],
) -> String {
    let mut o = String::new();
    for x in outcomes {
        let unit = settings
            .targets
            .iter()
            .find(|t| t.name == x.target)
            .map_or("", |t| t.kind.unit());
        let what = match (x.hour, x.value) {
            (Some(h), Some(v)) => format!(
                "{v} {unit} for {h} (confidence {:.2})",
                x.confidence.unwrap_or_default()
            ),
            _ => String::new(),
        };
        o.push_str(&format!(
            "  {} ({}): {} {what}: {}{}\n",
            x.target,
            x.kind.as_str(),
            if x.decision.is_empty() {
                "-"
            } else {
                &x.decision
            },
            x.status,
            if x.reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", x.reason)
            },
        ));
        if let Some(e) = &x.error {
            o.push_str(&format!("    error: {e}\n"));
        }
    }
    o
}

async fn serve_cmd(settings: Settings, listen: Option<String>) -> Result<String> {
    let store = open_store(&settings).await?;
    let addr = listen.unwrap_or_else(|| settings.api.listen.clone());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = listener.local_addr()?;
    if settings.api.tokens.is_empty() {
        tracing::warn!(
            "no API tokens configured (api.tokens or PRESCALE_API_TOKENS): every write will be refused"
        );
    }
    tracing::info!(%bound, database = %settings.database_url, "serving");
    eprintln!("prescale listening on http://{bound}");
    let state = crate::api::AppState::new(store.clone(), settings);
    let tasks = state.tasks.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(crate::jobs::serving::run(state.clone(), stop.clone()));
    let on_signal = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = crate::api::shutdown_signal() => {}
                () = stop.cancelled() => {}
            }
            stop.cancel();
        }
    };
    let served = crate::api::serve(listener, state, on_signal).await;
    stop.cancel(); // if the server failed, stop the loop too
    serving.await.context("the serving loop panicked")?; // a publish in flight finishes first
    tasks.close();
    tasks.wait().await; // and so does a training job started by a request
    store.close().await;
    served.context("serving HTTP")?;
    Ok(String::new())
}

async fn train_cmd(
    settings: &Settings,
    series: Option<SeriesId>,
    all: bool,
    parallel: Option<usize>,
    as_json: bool,
) -> Result<String> {
    use std::fmt::Write;
    let store = open_store(settings).await?;
    let ids: Vec<SeriesId> = if all {
        store
            .all_series()
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect()
    } else {
        vec![series.expect("clap requires --series without --all")]
    };
    let parallel =
        parallel.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let bar = if std::io::stderr().is_terminal() && ids.len() > 1 {
        let b = ProgressBar::new(ids.len() as u64);
        b.set_style(
            ProgressStyle::with_template("training [{bar:30}] {pos}/{len} series ({eta}) {msg}")
                .expect("valid")
                .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let results =
        crate::jobs::retrain::retrain_many(&store, settings, &ids, parallel, &mut |id, _| {
            bar.set_message(id.to_string());
            bar.inc(1);
        })
        .await;
    bar.finish_and_clear();
    store.close().await;
    // With --all, a series too young to train is skipped, not failed: a scheduled job does not
    // fail for every new series until it has a week of history.
    let too_young = |r: &Result<_>| {
        all && r
            .as_ref()
            .err()
            .is_some_and(crate::jobs::retrain::too_young)
    };
    let listed = |young: bool| -> Vec<String> {
        results
            .iter()
            .filter(|(_, r)| too_young(r) == young)
            .filter_map(|(id, r)| r.as_ref().err().map(|e| format!("{id}: {e:#}")))
            .collect()
    };
    let (skipped, failures) = (listed(true), listed(false));
    let mut o = String::new();
    if as_json {
        let ok: Vec<_> = results
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .collect();
        o = json(&serde_json::json!({ "trained": ok, "skipped": skipped, "failed": failures }))?;
    } else {
        for (_, r) in &results {
            if let Ok(t) = r {
                let _ = writeln!(
                    o,
                    "{} v{} {:?}: {} (validation MAE {:.2}, {:.1} s)\n  {}",
                    t.series, t.version, t.status, t.chosen, t.validation_mae, t.seconds, t.reason
                );
            }
        }
        for line in &skipped {
            let _ = writeln!(o, "skipped {line}");
        }
        let _ = writeln!(
            o,
            "{} of {} series trained in {:.1} s",
            results.len() - failures.len() - skipped.len(),
            results.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if failures.is_empty() {
        Ok(o)
    } else {
        emit(&o)?;
        anyhow::bail!(
            "{} series failed to train (their champions are unchanged):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )
    }
}

async fn models_cmd(settings: &Settings, id: &SeriesId, as_json: bool) -> Result<String> {
    let store = open_store(settings).await?;
    let models = store.models(id).await?;
    store.close().await;
    if as_json {
        return json(&models);
    }
    let rows: Vec<_> = models
        .iter()
        .map(|m| {
            vec![
                m.version.to_string(),
                m.status.as_str().to_owned(),
                m.chosen.clone(),
                m.validation_mae
                    .map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                m.trained_at.format("%Y-%m-%d %H:%M").to_string(),
                m.reason.clone(),
            ]
        })
        .collect();
    Ok(table(
        &[
            "VERSION",
            "STATUS",
            "MODEL",
            "VAL MAE",
            "TRAINED (UTC)",
            "REASON",
        ],
        &rows,
    ))
}

async fn forecast_cmd(
    settings: &Settings,
    id: &SeriesId,
    horizon: usize,
    at: Option<&str>,
    as_json: bool,
) -> Result<String> {
    anyhow::ensure!(
        (1..=24 * 7).contains(&horizon),
        "--horizon {horizon} is outside 1..=168"
    );
    let origin = at
        .map(|raw| {
            chrono::DateTime::parse_from_rfc3339(raw)
                .map(|t| Hour::containing(t.to_utc()))
                .map_err(|_| {
                    anyhow::anyhow!("--at {raw:?} is not an ISO-8601 timestamp with an offset")
                })
        })
        .transpose()?;
    let store = open_store(settings).await?;
    let series = store
        .series(id)
        .await?
        .with_context(|| format!("series {id} does not exist"))?;
    let f = crate::jobs::predict::forecast(&store, settings, id, horizon, origin).await?;
    store.close().await;
    if as_json {
        return json(&f);
    }
    let rows: Vec<_> = f
        .points
        .iter()
        .map(|p| {
            vec![
                local_iso(p.hour, series.time_zone),
                format!("{:.1}", p.expected),
                format!("{:.1} .. {:.1}", p.lower80, p.upper80),
                format!("{:.1} .. {:.1}", p.lower95, p.upper95),
                format!("{:.2}", p.confidence),
                doubts_cell(p.doubts),
            ]
        })
        .collect();
    Ok(format!(
        "series {} with model v{} ({})\n{}",
        f.series,
        f.model_version,
        f.model,
        table(
            &["HOUR", "EXPECTED", "80%", "95%", "CONFIDENCE", "WIDER FOR"],
            &rows
        )
    ))
}

/// A point's doubts in a table: their names, or "-" when none.
fn doubts_cell(d: crate::forecast::confidence::Doubts) -> String {
    if d.is_empty() {
        "-".to_owned()
    } else {
        d.to_string()
    }
}

/// Writes a file whole or not at all: a temp file beside it, then a rename.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy())
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// The shipped datasets: file, series id, time zone, calendar.
const SHIPPED: &[(&str, &str, &str, CalendarName)] = &[
    (
        "nyc_taxi_passengers_hourly.csv",
        "nyc-taxi",
        "America/New_York",
        CalendarName::Us,
    ),
    (
        "dc_bikeshare_hourly.csv",
        "dc-bikeshare",
        "America/New_York",
        CalendarName::Us,
    ),
    (
        "nasa_http_requests_hourly.csv",
        "nasa-http",
        "America/New_York",
        CalendarName::Us,
    ),
];

async fn demo(settings: &Settings, datasets: &Path) -> Result<String> {
    use std::fmt::Write;
    let store = open_store(settings).await?;
    let mut o = String::new();
    let _ = writeln!(o, "database: {}\n", settings.database_url);
    for &(file, id, tz, calendar) in SHIPPED {
        let path = datasets.join(file);
        let opts = ImportOptions {
            series: SeriesId::parse(id)?,
            time_zone: Some(TimeZone::parse(tz)?),
            calendar: Some(calendar),
            resample: Resample::Sum,
            default_time_zone: settings.series_defaults.time_zone,
            default_calendar: settings.series_defaults.calendar,
            default_tolerance: settings.series_defaults.tolerance,
        };
        let bar = progress_bar(&path);
        let mut tick = |p: Progress| {
            bar.set_length(p.total);
            bar.set_position(p.done);
        };
        let started = std::time::Instant::now();
        let result = import::import_demand(&store, &path, &opts, &mut tick).await;
        bar.finish_and_clear();
        let r = result.with_context(|| {
            format!(
                "importing {} (run the demo from the repository root, or pass --datasets DIR)",
                path.display()
            )
        })?;
        let _ = writeln!(
            o,
            "imported {file} as {id}: {} hours ({} new, {} updated, {} unchanged), {} missing, {} weather values, in {:.2} s",
            r.hours,
            r.inserted,
            r.updated,
            r.unchanged,
            r.gaps.missing_hours,
            r.weather_values,
            started.elapsed().as_secs_f64()
        );
    }
    let _ = writeln!(o, "\n{}", series_list(settings, false).await?);
    let ids: Vec<SeriesId> = SHIPPED
        .iter()
        .map(|(_, id, _, _)| SeriesId::parse(id))
        .collect::<Result<_, _>>()?;
    let started = std::time::Instant::now();
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(ids.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("training [{bar:30}] {pos}/{len} series {msg}")
            .expect("valid")
            .progress_chars("=> "),
    );
    let trained = crate::jobs::retrain::retrain_many(&store, settings, &ids, 2, &mut |id, _| {
        bar.set_message(id.to_string());
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();
    let _ = writeln!(
        o,
        "trained {} series in {:.1} s:",
        trained.len(),
        started.elapsed().as_secs_f64()
    );
    for (id, r) in &trained {
        match r {
            Ok(t) => {
                let _ = writeln!(
                    o,
                    "  {id} v{} {}: {} (validation MAE {:.1})",
                    t.version,
                    t.status.as_str(),
                    t.chosen,
                    t.validation_mae
                );
            }
            Err(e) => {
                let _ = writeln!(o, "  {id}: failed: {e:#}");
            }
        }
    }
    let show = SeriesId::parse("dc-bikeshare")?;
    let out_dir = PathBuf::from("prescale-demo");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let _ = writeln!(
        o,
        "\n{}",
        demo_backtest(&datasets.join("dc_bikeshare_hourly.csv"), &out_dir)?
    );

    let f = crate::jobs::predict::forecast(&store, settings, &show, 24, None).await?;
    let tz = TimeZone::parse("America/New_York")?;
    let rows: Vec<_> = f
        .points
        .iter()
        .map(|p| {
            vec![
                local_iso(p.hour, tz),
                format!("{:.0}", p.expected),
                format!("{:.0} .. {:.0}", p.lower80, p.upper80),
                format!("{:.0} .. {:.0}", p.lower95, p.upper95),
                format!("{:.2}", p.confidence),
                doubts_cell(p.doubts),
            ]
        })
        .collect();
    let _ = writeln!(
        o,
        "\nnext 24 hours of {show} (model v{}: {}):\n{}",
        f.model_version,
        f.model,
        table(
            &["HOUR", "EXPECTED", "80%", "95%", "CONFIDENCE", "WIDER FOR"],
            &rows
        )
    );
    let _ = writeln!(
        o,
        "{}",
        demo_recommendations(&store, settings, &show, f.origin, tz).await?
    );
    store.close().await;
    let _ = writeln!(
        o,
        "report (accuracy, calibration, policies): {}\n",
        out_dir.join("report.html").display()
    );
    let lima = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
    let today = Utc::now().with_timezone(&TimeZone::LIMA.tz()).date_naive();
    let upcoming: Vec<_> = [today.year(), today.year() + 1]
        .into_iter()
        .flat_map(|y| lima.holidays_in(y))
        .filter(|h| h.date >= today)
        .take(5)
        .map(|h| vec![h.date.to_string(), h.date.format("%a").to_string(), h.name])
        .collect();
    let _ = writeln!(
        o,
        "next public holidays in Lima (calendar PE):\n{}",
        table(&["DATE", "DAY", "NAME"], &upcoming)
    );
    Ok(o)
}

/// The demo's sample target: a Cloud Run service in dry run, sized for the bike-share series.
const DEMO_TARGET: &str = r#"
name = "rentals-api"
kind = "cloud_run"
series = "dc-bikeshare"
project = "oasis-taxi-peru"
location = "us-central1"
service = "rentals-api"
apply = false
confidence_threshold = 0.8
requests_per_instance_per_second = 0.005
min = 1
max = 200
lead_minutes = 10
price_per_instance_hour = 0.0864
"#;

/// The backtest protocol on the shipped bike-share file, a policy replay on it, and the HTML
/// report of both, written to `out`.
fn demo_backtest(data: &Path, out: &Path) -> Result<String> {
    use crate::analysis::replay::{Options, replay};
    use crate::forecast::backtest::{Protocol, run};
    use std::fmt::Write;
    let started = std::time::Instant::now();
    let frame =
        crate::forecast::Frame::from_csv(data, Some(TimeZone::parse("America/New_York")?), &[])?;
    let specs = crate::forecast::ModelSpec::candidates();
    let bt = run(&frame, &Protocol::default(), &specs, 0.2);
    let (m, f) = (out.join("M.json"), out.join("F.csv"));
    write_atomically(&m, &serde_json::to_string_pretty(&bt)?)?;
    write_forecasts(&f, &bt.rows)?;
    let target: crate::scaling::Target = toml::from_str(DEMO_TARGET)?;
    let opts = Options {
        test_days: 28,
        refit_every_days: 7,
        cold_start_minutes: 5,
        price: 0.0864,
        tolerance: 0.2,
        specs,
        events: Vec::new(),
    };
    let sim = replay(&frame, "dc_bikeshare_hourly.csv", &target, &opts, None)?;
    let s = out.join("S.json");
    write_atomically(&s, &serde_json::to_string_pretty(&sim)?)?;
    let report = crate::analysis::report_cmd::from_backtest(&m, &f, Some(data), None)?;
    let simv = serde_json::to_value(&sim)?;
    crate::analysis::report_cmd::write_out(
        &out.join("report.html"),
        &crate::analysis::report::html(&report, Some(&simv)),
    )?;
    let mt = &bt.metrics;
    let mut o = format!(
        "backtest of dc_bikeshare_hourly.csv (the last 28 days, an origin each midnight, 24 h ahead, weekly refits) in {:.1} s:\n  MAE {:.1}, MASE {:.3} (below 1 beats the seasonal naive forecast), 80% interval covers {:.1}%, 95% covers {:.1}%\n",
        started.elapsed().as_secs_f64(),
        mt.mae,
        mt.mase,
        mt.coverage80 * 100.0,
        mt.coverage95 * 100.0
    );
    let _ = writeln!(
        o,
        "  policy replay on the same 28 days (target {}, dry-run sample):",
        target.name
    );
    for p in &sim.policies {
        let _ = writeln!(
            o,
            "    {:<10} under-provisioned {:>5.2}% of demand, {:>6.0} instance-hours",
            p.policy,
            p.under_share * 100.0,
            p.instance_hours
        );
    }
    Ok(o)
}

/// Publishes the next day of `id` from `origin` and shows the sample target's recommendations,
/// in dry run: nothing is sent anywhere.
async fn demo_recommendations(
    store: &Store,
    settings: &Settings,
    id: &SeriesId,
    origin: Hour,
    tz: TimeZone,
) -> Result<String> {
    let mut s = settings.clone();
    if !s.targets.iter().any(|t| &t.series == id) {
        s.targets.push(toml::from_str(DEMO_TARGET)?);
    }
    crate::jobs::serving::publish_once(store, &s, origin, 24, 2).await?;
    let ctx = crate::scaling::actuators::Context::from_settings(&s);
    let now = origin.to_utc();
    let outcomes = crate::scaling::cycle::run(
        store,
        &s,
        &ctx,
        std::slice::from_ref(id),
        now,
        chrono::Duration::hours(1),
    )
    .await?;
    let recs = store.latest_recommendations(Some(id), None).await?;
    let first = &recs[..recs.len().min(12)];
    let mut o = format!(
        "scaling recommendations (Cloud Run min instances, dry run: apply = false), the first 12 hours:\n{}",
        recommendations_table(first, |r| local_iso(r.hour, tz))
    );
    for x in outcomes {
        o.push_str(&format!(
            "this cycle: {} -> {} for {} ({}, {}): nothing sent\n",
            x.target,
            x.value.map_or_else(|| "-".into(), |v| v.to_string()),
            x.hour.map_or_else(|| "-".into(), |h| local_iso(h, tz)),
            x.decision,
            x.status
        ));
    }
    Ok(o)
}

fn progress_bar(file: &Path) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("reading {}", file.display()));
    bar
}

fn import_text(r: &ImportReport, tz: TimeZone, calendar: CalendarName) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let local = |h: Hour| local_iso(h, tz);
    let new = if r.created_series {
        "new series"
    } else {
        "existing series"
    };
    let _ = writeln!(
        o,
        "{}: series {} ({new}; {tz}, calendar {calendar})",
        r.file, r.series
    );
    let _ = writeln!(o, "  rows read      {}", r.rows_read);
    let _ = writeln!(
        o,
        "  hours          {} ({} .. {})",
        r.hours,
        local(r.first_hour),
        local(r.last_hour)
    );
    let _ = writeln!(
        o,
        "  observations   {} new, {} updated, {} unchanged",
        r.inserted, r.updated, r.unchanged
    );
    let _ = match r.gaps.longest {
        Some((start, len)) => writeln!(
            o,
            "  missing hours  {} in {} gaps (longest {len} h from {})",
            r.gaps.missing_hours,
            r.gaps.runs,
            local(start)
        ),
        None => writeln!(o, "  missing hours  0"),
    };
    let _ = writeln!(o, "  weather values {} new or changed", r.weather_values);
    let _ = writeln!(
        o,
        "  holidays       {} new from the holiday column",
        r.holidays
    );
    let ignored: Vec<_> = r
        .columns
        .iter()
        .filter(|c| c.role == import::ColumnRole::Ignored)
        .map(|c| c.name.as_str())
        .collect();
    if !ignored.is_empty() {
        let _ = writeln!(o, "  ignored columns {}", ignored.join(", "));
    }
    for w in &r.warnings {
        let _ = writeln!(o, "  warning: {w}");
    }
    if r.is_noop() {
        let _ = writeln!(o, "  nothing written: the store already holds this data");
    }
    o
}

/// An hour as local ISO-8601 with its offset, as the datasets write it.
fn local_iso(hour: Hour, tz: TimeZone) -> String {
    hour.to_utc()
        .with_timezone(&tz.tz())
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[derive(Serialize)]
struct SeriesView<'a> {
    #[serde(flatten)]
    stats: &'a SeriesStats,
    first: Option<String>,
    last: Option<String>,
}

async fn series_list(settings: &Settings, as_json: bool) -> Result<String> {
    let store = open_store(settings).await?;
    let all = store.list_series().await?;
    store.close().await;
    if as_json {
        let views: Vec<_> = all
            .iter()
            .map(|s| SeriesView {
                stats: s,
                first: s.first_hour.map(|h| local_iso(h, s.series.time_zone)),
                last: s.last_hour.map(|h| local_iso(h, s.series.time_zone)),
            })
            .collect();
        return json(&views);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|s| {
            let tz = s.series.time_zone;
            vec![
                s.series.id.to_string(),
                tz.to_string(),
                s.series.calendar.to_string(),
                s.observations.to_string(),
                s.first_hour
                    .map_or_else(|| "-".into(), |h| local_iso(h, tz)),
                s.last_hour.map_or_else(|| "-".into(), |h| local_iso(h, tz)),
                s.missing_hours.to_string(),
            ]
        })
        .collect();
    Ok(table(
        &[
            "SERIES",
            "TIME ZONE",
            "CALENDAR",
            "OBSERVATIONS",
            "FIRST",
            "LAST",
            "MISSING",
        ],
        &rows,
    ))
}

async fn holidays_cmd(settings: &Settings, args: HolidaysArgs) -> Result<String> {
    if let Some(HolidaysCommand::Import { series, file }) = args.command {
        let store = open_store(settings).await?;
        let n = import::import_holidays(&store, &series, &file)
            .await
            .with_context(|| {
                format!(
                    "importing holidays of series {series} from {}",
                    file.display()
                )
            })?;
        store.close().await;
        return Ok(format!(
            "{}: {n} custom holidays stored for series {series}\n",
            file.display()
        ));
    }
    let year = args.year.unwrap_or_else(|| Utc::now().year());
    let calendar = match &args.series {
        Some(id) => {
            let store = open_store(settings).await?;
            let series = store
                .series(id)
                .await?
                .with_context(|| format!("series {id} does not exist"))?;
            let mut custom = store.custom_holidays(id).await?;
            custom.extend(settings.holidays_of(id));
            store.close().await;
            Calendar::new(series.time_zone, series.calendar, custom)
        }
        None => {
            let name = args.calendar.unwrap_or(settings.series_defaults.calendar);
            Calendar::new(settings.series_defaults.time_zone, name, [])
        }
    };
    let days = calendar.holidays_in(year);
    if args.json {
        return json(&days);
    }
    let rows: Vec<_> = days
        .iter()
        .map(|h| {
            vec![
                h.date.to_string(),
                h.date.format("%a").to_string(),
                h.name.clone(),
            ]
        })
        .collect();
    Ok(table(&["DATE", "DAY", "NAME"], &rows))
}

async fn events_cmd(settings: &Settings, cmd: EventsCommand) -> Result<String> {
    let store = open_store(settings).await?;
    let text = match cmd {
        EventsCommand::Import { series, file } => {
            let n = import::import_events(&store, &file, &series)
                .await
                .with_context(|| format!("importing events from {}", file.display()))?;
            format!("{}: {n} events stored\n", file.display())
        }
        EventsCommand::List {
            series,
            json: as_json,
        } => events_list(&store, series.as_ref(), as_json).await?,
    };
    store.close().await;
    Ok(text)
}

/// `prescale events list`: the stored events; of one series, each with whether it will be
/// unlike the series' history when it starts.
async fn events_list(store: &Store, series: Option<&SeriesId>, as_json: bool) -> Result<String> {
    let events: Vec<(SpecialEvent, Option<bool>)> = match series {
        Some(id) => {
            let events = store.events_against_history(id).await?;
            if as_json {
                return json(&events);
            }
            events
                .into_iter()
                .map(|e| (e.event, Some(e.unlike_history)))
                .collect()
        }
        None => {
            let events = store.events(None).await?;
            if as_json {
                return json(&events);
            }
            events.into_iter().map(|e| (e, None)).collect()
        }
    };
    let rows: Vec<_> = events
        .iter()
        .map(|(e, unlike)| {
            let series: Vec<_> = e.series.iter().map(SeriesId::as_str).collect();
            let mut row = vec![
                e.id.to_string(),
                e.name.clone(),
                utc_iso(e.starts_at),
                utc_iso(e.ends_at),
                e.expected_attendance.to_string(),
                series.join(","),
            ];
            row.extend(unlike.map(|u| if u { "yes" } else { "no" }.to_owned()));
            row
        })
        .collect();
    let mut header = vec![
        "EVENT",
        "NAME",
        "STARTS (UTC)",
        "ENDS (UTC)",
        "ATTENDANCE",
        "SERIES",
    ];
    if series.is_some() {
        header.push("UNLIKE HISTORY");
    }
    Ok(table(&header, &rows))
}

fn utc_iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%MZ").to_string()
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn postgres_notices_are_quiet_unless_the_filter_names_sqlx() {
        for setting in ["info", "debug", "warn,prescale=debug"] {
            let f = log_filter(setting);
            assert!(f.starts_with(setting) && f.ends_with(",sqlx::postgres::notice=warn"));
            assert!(tracing_subscriber::EnvFilter::try_new(&f).is_ok(), "{f}");
        }
        assert_eq!(log_filter("info,sqlx=debug"), "info,sqlx=debug");
    }

    #[test]
    fn settings_print_one_line_per_key_as_errors_name_them() {
        let v = serde_json::json!({
            "log": "info",
            "retention": { "published_days": 35, "history_days": 0 },
            "retrain": { "series": ["a", "b"] },
            "targets": [{ "name": "hot", "max": 50 }],
            "google": { "access_token": null },
        });
        assert_eq!(
            super::settings_lines(&v),
            "# google.access_token is not set\nlog = \"info\"\nretention.history_days = 0\n\
             retention.published_days = 35\nretrain.series = [\"a\",\"b\"]\n\
             targets[0].max = 50\ntargets[0].name = \"hot\"\n"
        );
    }
}
