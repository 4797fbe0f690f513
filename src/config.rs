//! Settings: compiled-in `defaults.toml` < `prescale.toml` (or `--config FILE`) < environment
//! (`PRESCALE_*`, `DATABASE_URL`) < command-line flags. Each layer is parsed on its own, so an
//! error names its place: file, line and key, or the environment variable.

use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::{CalendarName, Holiday, SeriesId, TimeZone, Tolerance};
use crate::scaling::targets::{GoogleSettings, KubernetesSettings, Target};
use crate::store::DatabaseUrl;

const DEFAULTS: &str = include_str!("defaults.toml");
/// The config file read when `--config` is not given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "prescale.toml";

/// One layer as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    database_url: Option<DatabaseUrl>,
    models_dir: Option<PathBuf>,
    log: Option<String>,
    series_defaults: Option<RawSeriesDefaults>,
    holidays: Option<Vec<ConfigHoliday>>,
    api: Option<RawApi>,
    serving: Option<RawServing>,
    retrain: Option<RawRetrain>,
    retention: Option<RawRetention>,
    targets: Option<Vec<Target>>,
    google: Option<GoogleSettings>,
    kubernetes: Option<KubernetesSettings>,
    planning: Option<PlanningSettings>,
}

/// `[planning]`: what the growth phase is judged on (user and trip counts, or a series of trips).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanningSettings {
    #[serde(default)]
    pub users: Option<u64>,
    #[serde(default)]
    pub daily_trips: Option<f64>,
    /// A series counting trips: its mean daily total over the last week gives daily trips.
    #[serde(default)]
    pub trips_series: Option<SeriesId>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetrain {
    schedule: Option<Schedule>,
    series: Option<Vec<SeriesSchedule>>,
}

/// A cron expression (5 fields: minute hour day-of-month month day-of-week, or with seconds),
/// checked when the settings are read. Empty means never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Schedule(String);

impl Schedule {
    /// The parsed expression; `None` for the empty (never) schedule.
    pub fn cron(&self) -> Option<croner::Cron> {
        (!self.0.trim().is_empty()).then(|| self.0.parse().expect("checked when read"))
    }
}

impl TryFrom<String> for Schedule {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        if !raw.trim().is_empty() {
            raw.parse::<croner::Cron>()
                .map_err(|e| format!("invalid cron expression {raw:?}: {e}"))?;
        }
        Ok(Self(raw))
    }
}

impl From<Schedule> for String {
    fn from(s: Schedule) -> Self {
        s.0
    }
}

/// A series whose retraining follows its own schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesSchedule {
    pub id: SeriesId,
    pub schedule: Schedule,
}

/// When models are retrained: a default schedule, and per-series ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrainSettings {
    pub schedule: Schedule,
    pub series: Vec<SeriesSchedule>,
}

impl RetrainSettings {
    /// The schedule of one series.
    pub fn schedule_of(&self, id: &SeriesId) -> &Schedule {
        self.series
            .iter()
            .find(|s| &s.id == id)
            .map_or(&self.schedule, |s| &s.schedule)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServing {
    interval_seconds: Option<u64>,
    minute_offset: Option<u32>,
    horizon: Option<usize>,
    leader_check_seconds: Option<u64>,
}

/// The serving loop's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingSettings {
    /// 3600: publish at the top of every hour (+ `minute_offset`); less: every that many
    /// seconds (for tests and demos).
    pub interval_seconds: u64,
    pub minute_offset: u32,
    pub horizon: usize,
    /// How often a replica checks (or tries to take) the lead.
    pub leader_check_seconds: u64,
}

/// A number of days to keep rows for: 0 keeps them forever, otherwise at least `MIN` (checked
/// when the settings are read, so a bad value names its file, line and key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct KeepDays<const MIN: u32>(u32);

impl<const MIN: u32> KeepDays<MIN> {
    /// The days rows are kept, `None` for ever.
    pub fn days(self) -> Option<u32> {
        (self.0 > 0).then_some(self.0)
    }
}

impl<const MIN: u32> TryFrom<i64> for KeepDays<MIN> {
    type Error = String;
    fn try_from(raw: i64) -> Result<Self, String> {
        match u32::try_from(raw) {
            Ok(0) => Ok(Self(0)),
            Ok(d) if (MIN..=36_600).contains(&d) => Ok(Self(d)),
            _ => Err(format!(
                "{raw} days: expected 0 (keep for ever) or {MIN}..=36600"
            )),
        }
    }
}

impl<const MIN: u32> From<KeepDays<MIN>> for u32 {
    fn from(d: KeepDays<MIN>) -> Self {
        d.0
    }
}

/// Days a published forecast is kept whole: the online corrections replay the outcomes of the
/// last 28 days (`RECALIBRATION_DAYS`) of forecasts issued up to a day before.
pub const MIN_PUBLISHED_DAYS: u32 = 29;

/// Days of observations and weather kept at least, when they are pruned at all: what training
/// reads ([`TRAINING_HOURS`](crate::jobs::retrain::TRAINING_HOURS), two years).
pub const MIN_HISTORY_DAYS_KEPT: u32 = crate::jobs::retrain::TRAINING_HOURS.div_ceil(24) as u32;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    published_days: Option<KeepDays<MIN_PUBLISHED_DAYS>>,
    daily_published_days: Option<KeepDays<1>>,
    recommendations_days: Option<KeepDays<1>>,
    actions_days: Option<KeepDays<1>>,
    partial_readings_days: Option<KeepDays<1>>,
    jobs_days: Option<KeepDays<1>>,
    imports_days: Option<KeepDays<1>>,
    history_days: Option<KeepDays<MIN_HISTORY_DAYS_KEPT>>,
    model_artifacts_kept: Option<u32>,
}

/// How long the serving loop's records are kept (`[retention]`); the leader prunes hourly, and
/// `prescale prune` does it on demand.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RetentionSettings {
    /// Every published forecast, whole.
    pub published_days: KeepDays<MIN_PUBLISHED_DAYS>,
    /// After `published_days`, each series keeps one forecast per local day (the first issued
    /// that day, normally at midnight) until this age.
    pub daily_published_days: KeepDays<1>,
    /// Scaling recommendations (each target's latest cycle is always kept).
    pub recommendations_days: KeepDays<1>,
    /// The actions audit trail (each target's last applied value is always kept).
    pub actions_days: KeepDays<1>,
    /// Partial-hour readings (the forecast-miss check reads the running hour's).
    pub partial_readings_days: KeepDays<1>,
    /// Finished training jobs (`/v1/jobs/{id}`); running ones always stay.
    pub jobs_days: KeepDays<1>,
    /// The record of each import and observations post (source, rows, hours); the data stay.
    pub imports_days: KeepDays<1>,
    /// Observations and weather, by the hour they are of (0, the default: for ever).
    pub history_days: KeepDays<MIN_HISTORY_DAYS_KEPT>,
    /// Artifact files kept per series besides the champion's, newest first (0: all). Their
    /// rows in the models table stay, with status and reason.
    pub model_artifacts_kept: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    listen: Option<String>,
    tokens: Option<Vec<Secret>>,
    protect_reads: Option<bool>,
    max_body_bytes: Option<usize>,
    timeout_seconds: Option<u64>,
}

/// A value that is never printed: `Debug` and `Serialize` show `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// The HTTP API's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiSettings {
    pub listen: String,
    /// Bearer tokens accepted for writes (and reads when `protect_reads`).
    pub tokens: Vec<Secret>,
    pub protect_reads: bool,
    pub max_body_bytes: usize,
    pub timeout_seconds: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeriesDefaults {
    time_zone: Option<TimeZone>,
    calendar: Option<CalendarName>,
    tolerance: Option<Tolerance>,
}

/// A custom holiday of one series, from `[[holidays]]` in the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigHoliday {
    pub series: SeriesId,
    /// A TOML date (`2026-03-14`) or the same as a string.
    #[serde(deserialize_with = "toml_date")]
    pub date: NaiveDate,
    pub name: String,
}

fn toml_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Toml(t) => t.to_string(),
        Raw::Text(s) => s,
    };
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is not a date (expected YYYY-MM-DD)"))
    })
}

/// What a new series gets unless its import says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesDefaults {
    pub time_zone: TimeZone,
    pub calendar: CalendarName,
    pub tolerance: Tolerance,
}

/// The settings in force, every key resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub models_dir: PathBuf,
    pub log: String,
    pub series_defaults: SeriesDefaults,
    pub holidays: Vec<ConfigHoliday>,
    pub api: ApiSettings,
    pub serving: ServingSettings,
    pub retrain: RetrainSettings,
    pub retention: RetentionSettings,
    /// What prescale scales (`[[targets]]`), each validated.
    pub targets: Vec<Target>,
    pub google: GoogleSettings,
    pub kubernetes: KubernetesSettings,
    pub planning: PlanningSettings,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
}

/// Values given on the command line: the top layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database_url: Option<DatabaseUrl>,
}

/// A setting that could not be read; the message names where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}:{line}:{column}: key {key:?}: {message}", .path.display())]
    File {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error("{place}: {message}")]
    Target { place: String, message: String },
    /// Settings that are each valid but do not fit together.
    #[error("{place}: {message}")]
    Setting { place: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("cannot read config file {}: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl Settings {
    /// Resolves every layer. `config` is `--config`; without it `prescale.toml` is read if it
    /// exists. `env` is the process environment (passed in, so tests need not change it).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, line and key, or the variable, of the first bad value.
    pub fn load(
        config: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: Overrides,
    ) -> Result<Self, ConfigError> {
        let defaults = parse_file_layer(Path::new("defaults.toml"), DEFAULTS)
            .expect("compiled-in defaults parse");
        let config_file = match config {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.is_file()),
        };
        let file = match &config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                    path: path.clone(),
                    error,
                })?;
                parse_file_layer(path, &text)?
            }
            None => RawSettings::default(),
        };
        let env: Vec<(String, String)> = env.into_iter().collect();
        let env_secrets: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("PRESCALE_TARGET_"))
            .cloned()
            .collect();
        let env = parse_env_layer(env)?;
        let flags = RawSettings {
            database_url: overrides.database_url,
            ..RawSettings::default()
        };

        let layers = [defaults, file, env, flags];
        let mut merged = RawSettings::default();
        let mut sd = RawSeriesDefaults::default();
        let mut holidays = Vec::new();
        let mut api = RawApi::default();
        let mut serving = RawServing::default();
        let mut retrain = RawRetrain::default();
        let mut retention = RawRetention::default();
        let mut targets = Vec::new();
        let mut google = GoogleSettings::default();
        let mut kubernetes = KubernetesSettings::default();
        let mut planning = PlanningSettings::default();
        for layer in layers {
            if let Some(p) = layer.planning {
                planning = p;
            }
            if let Some(t) = layer.targets {
                targets = t;
            }
            if let Some(g) = layer.google {
                google = g;
            }
            if let Some(k) = layer.kubernetes {
                kubernetes = k;
            }
            if let Some(r) = layer.retrain {
                retrain.schedule = r.schedule.or(retrain.schedule);
                retrain.series = r.series.or(retrain.series);
            }
            if let Some(r) = layer.retention {
                retention.published_days = r.published_days.or(retention.published_days);
                retention.daily_published_days =
                    r.daily_published_days.or(retention.daily_published_days);
                retention.recommendations_days =
                    r.recommendations_days.or(retention.recommendations_days);
                retention.actions_days = r.actions_days.or(retention.actions_days);
                retention.partial_readings_days =
                    r.partial_readings_days.or(retention.partial_readings_days);
                retention.jobs_days = r.jobs_days.or(retention.jobs_days);
                retention.imports_days = r.imports_days.or(retention.imports_days);
                retention.history_days = r.history_days.or(retention.history_days);
                retention.model_artifacts_kept =
                    r.model_artifacts_kept.or(retention.model_artifacts_kept);
            }
            if let Some(v) = layer.serving {
                serving.interval_seconds = v.interval_seconds.or(serving.interval_seconds);
                serving.minute_offset = v.minute_offset.or(serving.minute_offset);
                serving.horizon = v.horizon.or(serving.horizon);
                serving.leader_check_seconds =
                    v.leader_check_seconds.or(serving.leader_check_seconds);
            }
            if let Some(a) = layer.api {
                api.listen = a.listen.or(api.listen);
                api.tokens = a.tokens.or(api.tokens);
                api.protect_reads = a.protect_reads.or(api.protect_reads);
                api.max_body_bytes = a.max_body_bytes.or(api.max_body_bytes);
                api.timeout_seconds = a.timeout_seconds.or(api.timeout_seconds);
            }
            merged.database_url = layer.database_url.or(merged.database_url);
            merged.models_dir = layer.models_dir.or(merged.models_dir);
            merged.log = layer.log.or(merged.log);
            if let Some(s) = layer.series_defaults {
                sd.time_zone = s.time_zone.or(sd.time_zone);
                sd.calendar = s.calendar.or(sd.calendar);
                sd.tolerance = s.tolerance.or(sd.tolerance);
            }
            // Later layers replace the whole list, as they do any other key.
            if let Some(h) = layer.holidays {
                holidays = h;
            }
        }
        let mut names = std::collections::HashSet::new();
        for t in &mut targets {
            let place = || {
                config_file
                    .as_ref()
                    .map_or_else(|| "settings".to_owned(), |p| p.display().to_string())
            };
            t.validate().map_err(|message| ConfigError::Target {
                place: place(),
                message,
            })?;
            if !names.insert(t.name.clone()) {
                return Err(ConfigError::Target {
                    place: place(),
                    message: format!("target {:?} is defined twice", t.name),
                });
            }
            let var = format!(
                "PRESCALE_TARGET_{}_SECRET",
                t.name.to_ascii_uppercase().replace(['-', '.'], "_")
            );
            if let Some((_, v)) = env_secrets.iter().find(|(k, _)| *k == var) {
                t.secret = Some(Secret::new(v.clone()));
            }
        }
        let missing = "is set in defaults.toml";
        let retention = RetentionSettings {
            published_days: retention.published_days.expect(missing),
            daily_published_days: retention.daily_published_days.expect(missing),
            recommendations_days: retention.recommendations_days.expect(missing),
            actions_days: retention.actions_days.expect(missing),
            partial_readings_days: retention.partial_readings_days.expect(missing),
            jobs_days: retention.jobs_days.expect(missing),
            imports_days: retention.imports_days.expect(missing),
            history_days: retention.history_days.expect(missing),
            model_artifacts_kept: retention.model_artifacts_kept.expect(missing),
        };
        if let (Some(whole), Some(daily)) = (
            retention.published_days.days(),
            retention.daily_published_days.days(),
        ) && daily < whole
        {
            return Err(ConfigError::Setting {
                place: config_file
                    .as_ref()
                    .map_or_else(|| "settings".to_owned(), |p| p.display().to_string()),
                message: format!(
                    "[retention] daily_published_days ({daily}) is shorter than published_days \
                     ({whole}): the daily forecasts are the ones kept after that"
                ),
            });
        }
        Ok(Self {
            database_url: merged.database_url.expect(missing),
            models_dir: merged.models_dir.expect(missing),
            log: merged.log.expect(missing),
            series_defaults: SeriesDefaults {
                time_zone: sd.time_zone.expect(missing),
                calendar: sd.calendar.expect(missing),
                tolerance: sd.tolerance.expect(missing),
            },
            holidays,
            api: ApiSettings {
                listen: api.listen.expect(missing),
                tokens: api.tokens.expect(missing),
                protect_reads: api.protect_reads.expect(missing),
                max_body_bytes: api.max_body_bytes.expect(missing),
                timeout_seconds: api.timeout_seconds.expect(missing),
            },
            serving: ServingSettings {
                interval_seconds: serving.interval_seconds.expect(missing).max(1),
                minute_offset: serving.minute_offset.expect(missing).min(59),
                horizon: serving.horizon.expect(missing).clamp(1, 168),
                leader_check_seconds: serving.leader_check_seconds.expect(missing).max(1),
            },
            retrain: RetrainSettings {
                schedule: retrain.schedule.expect(missing),
                series: retrain.series.unwrap_or_default(),
            },
            retention,
            targets,
            google,
            kubernetes,
            planning,
            config_file,
        })
    }

    /// The config file's holidays of one series.
    pub fn holidays_of(&self, id: &SeriesId) -> Vec<Holiday> {
        self.holidays
            .iter()
            .filter(|h| &h.series == id)
            .map(|h| Holiday {
                date: h.date,
                name: h.name.clone(),
            })
            .collect()
    }
}

fn parse_file_layer(path: &Path, text: &str) -> Result<RawSettings, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column, key) = locate(text, e.span());
        ConfigError::File {
            path: path.to_path_buf(),
            line,
            column,
            key,
            message: e.message().to_owned(),
        }
    })
}

/// Line, column (1-based) and dotted key of a span in a TOML text.
fn locate(text: &str, span: Option<Range<usize>>) -> (usize, usize, String) {
    let start = span.map_or(0, |s| s.start).min(text.len());
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let this_line = text[line_start..].lines().next().unwrap_or("");
    let key = this_line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned());
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let key = match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (None, Some(k)) => k,
        (Some(t), None) => t,
        (None, None) => this_line
            .trim()
            .trim_matches(|c| c == '[' || c == ']')
            .to_owned(),
    };
    (line, column, key)
}

/// `PRESCALE_LOG=debug` sets `log`; `PRESCALE_SERIES_DEFAULTS__TIME_ZONE` sets
/// `series_defaults.time_zone`; `DATABASE_URL` sets `database_url` unless
/// `PRESCALE_DATABASE_URL` does. `PRESCALE_CONFIG` names the config file and is not a key.
/// PRESCALE_ variables that are not settings keys: read where they are used.
enum NotSetting {
    Exact(&'static str),
    Prefix(&'static str),
    Suffix(&'static str),
}

impl NotSetting {
    fn matches(&self, k: &str) -> bool {
        match self {
            Self::Exact(n) => k == *n,
            Self::Prefix(p) => k.starts_with(p),
            Self::Suffix(s) => k.ends_with(s),
        }
    }
}

const NOT_SETTINGS: &[NotSetting] = &[
    NotSetting::Exact("PRESCALE_CONFIG"),
    NotSetting::Exact("PRESCALE_API_TOKENS"),
    // Actuators (ACTUATORS.md 1.6 and 6.2).
    NotSetting::Prefix("PRESCALE_GCP_ACCESS_TOKEN"),
    NotSetting::Suffix("_ENDPOINT"),
    NotSetting::Prefix("PRESCALE_TARGET_"),
];

fn parse_env_layer(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<RawSettings, ConfigError> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    // (variable, key, value), one TOML line each, so a parse error's line names its variable.
    let mut vars: Vec<(String, String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("PRESCALE_") && !NOT_SETTINGS.iter().any(|n| n.matches(k)))
        .map(|(k, v)| {
            (
                k.clone(),
                k["PRESCALE_".len()..]
                    .to_ascii_lowercase()
                    .replace("__", "."),
                v.clone(),
            )
        })
        .collect();
    let generic = env.iter().find(|(k, _)| k == "DATABASE_URL");
    if let Some((_, url)) =
        generic.filter(|_| !vars.iter().any(|(k, _, _)| k == "PRESCALE_DATABASE_URL"))
    {
        vars.push((
            "DATABASE_URL".to_owned(),
            "database_url".to_owned(),
            url.clone(),
        ));
    }
    vars.sort();
    let mut doc = String::new();
    for (var, key, value) in &vars {
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        {
            return Err(ConfigError::Env {
                var: var.clone(),
                message: "not a settings key".to_owned(),
            });
        }
        doc.push_str(&format!("{key} = {}\n", toml_value(value)));
    }
    let mut raw: RawSettings = toml::from_str(&doc).map_err(|e| {
        let (line, _, _) = locate(&doc, e.span());
        let var = vars
            .get(line.saturating_sub(1))
            .map_or_else(|| "PRESCALE_*".to_owned(), |(v, _, _)| v.clone());
        ConfigError::Env {
            var,
            message: e.message().to_owned(),
        }
    })?;
    // API tokens: a comma-separated list, never parsed as TOML (a token may hold any character).
    if let Some((_, list)) = env.iter().find(|(k, _)| k == "PRESCALE_API_TOKENS") {
        let tokens = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .collect();
        raw.api.get_or_insert_with(RawApi::default).tokens = Some(tokens);
    }
    Ok(raw)
}

/// A variable's text as a TOML value: numbers and booleans as themselves, the rest a string.
fn toml_value(raw: &str) -> String {
    let probe = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&probe)
        .ok()
        .and_then(|t| t.get("v").cloned())
    {
        Some(toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)) => {
            raw.to_owned()
        }
        _ => {
            let mut quoted = String::with_capacity(raw.len() + 2);
            quoted.push('"');
            for c in raw.chars() {
                match c {
                    '"' => quoted.push_str("\\\""),
                    '\\' => quoted.push_str("\\\\"),
                    c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
                    c => quoted.push(c),
                }
            }
            quoted.push('"');
            quoted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("prescale.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn targets_are_checked_per_kind_and_their_errors_name_the_file_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let run = "[[targets]]\nname = \"matching\"\nkind = \"cloud_run\"\nseries = \"matching\"\nproject = \"p\"\nlocation = \"l\"\nmax = 500\n";
        let path = write(&dir, run);
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("prescale.toml")
                && e.contains("target \"matching\" (cloud_run): missing field `service`"),
            "{e}"
        );
        // Unknown keys name the line.
        let path = write(&dir, &format!("{run}service = \"m\"\nmax_instances = 3\n"));
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("prescale.toml:") && e.contains("max_instances"),
            "{e}"
        );
        let path = write(
            &dir,
            &format!("{run}service = \"m\"\nconfidence_threshold = 1.5\n"),
        );
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("confidence_threshold 1.5 is not in [0, 1]"),
            "{e}"
        );
        // A valid one: dry run and the documented defaults unless said otherwise; actuator
        // variables in the environment are not settings keys; a target's secret may come from
        // the environment.
        let hook = "[[targets]]\nname = \"hook-1\"\nkind = \"webhook\"\nseries = \"s\"\nurl = \"http://x\"\nmax = 9\n";
        let path = write(&dir, &format!("{run}service = \"m\"\n{hook}"));
        let s = Settings::load(
            Some(&path),
            env(&[
                ("PRESCALE_GCP_ACCESS_TOKEN", "ya29.x"),
                ("PRESCALE_RUN_ENDPOINT", "http://127.0.0.1:1"),
                ("PRESCALE_TARGET_HOOK_1_SECRET", "whsec_abc"),
            ]),
            Overrides::default(),
        )
        .unwrap();
        let t = &s.targets[0];
        assert!(!t.apply);
        assert_eq!(
            (t.confidence_threshold, t.lead_minutes, t.min),
            (0.8, 10, 0)
        );
        assert_eq!(t.quantile, crate::scaling::Quantile::Upper80);
        assert_eq!(
            s.targets[1].secret.as_ref().map(Secret::expose),
            Some("whsec_abc")
        );
        let path = write(
            &dir,
            &format!("{run}service = \"m\"\n{run}service = \"n\"\n"),
        );
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("defined twice"), "{e}");
    }

    #[test]
    fn every_commented_target_example_in_prescale_toml_is_valid() {
        let text = std::fs::read_to_string("prescale.toml").unwrap();
        let mut doc = String::new();
        for block in text.split("# [[targets]]\n").skip(1) {
            doc.push_str("[[targets]]\n");
            for line in block.lines() {
                if line.starts_with("# #") {
                    continue;
                }
                let Some(l) = line.strip_prefix("# ") else {
                    break;
                };
                doc.push_str(l);
                doc.push('\n');
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, &doc);
        let s = Settings::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(s.targets.len(), 9);
        let kinds: std::collections::HashSet<_> = s.targets.iter().map(|t| t.kind).collect();
        assert_eq!(kinds.len(), 9, "one example per kind but keda");
    }

    #[test]
    fn the_example_prescale_toml_sets_the_built_in_defaults() {
        let example = Settings::load(
            Some(Path::new("prescale.toml")),
            env(&[]),
            Overrides::default(),
        )
        .unwrap();
        let built_in = Settings::load(
            Some(Path::new("src/defaults.toml")),
            env(&[]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(
            Settings {
                config_file: None,
                ..example
            },
            Settings {
                config_file: None,
                ..built_in
            }
        );
    }

    #[test]
    fn retention_days_are_checked_where_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "[retention]\nactions_days = 90\npublished_days = 7\n");
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":3:") && e.contains("retention.published_days"),
            "{e}"
        );
        assert!(
            e.contains("7 days: expected 0 (keep for ever) or 29..=36600"),
            "{e}"
        );
        let e = Settings::load(
            None,
            env(&[("PRESCALE_RETENTION__ACTIONS_DAYS", "-1")]),
            Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("PRESCALE_RETENTION__ACTIONS_DAYS"), "{e}");
        // Each valid, together not: the daily forecasts outlive the whole ones.
        let path = write(
            &dir,
            "[retention]\npublished_days = 60\ndaily_published_days = 30\n",
        );
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("daily_published_days (30) is shorter than published_days (60)"),
            "{e}"
        );
        // 0 keeps for ever.
        let path = write(&dir, "[retention]\npublished_days = 0\nactions_days = 0\n");
        let s = Settings::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(s.retention.published_days.days(), None);
        assert_eq!(s.retention.actions_days.days(), None);
        assert_eq!(s.retention.daily_published_days.days(), Some(400));
        // Observations and weather: kept for ever unless set, and never under two years.
        assert_eq!(s.retention.history_days.days(), None);
        let path = write(&dir, "[retention]\nhistory_days = 365\n");
        let e = Settings::load(Some(&path), env(&[]), Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("retention.history_days")
                && e.contains("365 days: expected 0 (keep for ever) or 731..=36600"),
            "{e}"
        );
        let path = write(&dir, "[retention]\nhistory_days = 1100\n");
        let s = Settings::load(Some(&path), env(&[]), Overrides::default()).unwrap();
        assert_eq!(s.retention.history_days.days(), Some(1100));
    }

    #[test]
    fn defaults_apply_when_nothing_else_is_given() {
        let s = Settings::load(
            Some(Path::new("src/defaults.toml")),
            env(&[]),
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(s.database_url.as_str(), "sqlite://prescale.db");
        assert_eq!(s.series_defaults.time_zone, TimeZone::LIMA);
        assert_eq!(s.series_defaults.calendar, CalendarName::Pe);
    }

    #[test]
    fn file_then_env_then_flags_override_each_other_in_that_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            "database_url = \"sqlite://file.db\"\nlog = \"warn\"\n[series_defaults]\ntolerance = 0.3\n",
        );
        let s = Settings::load(Some(&file), env(&[]), Overrides::default()).unwrap();
        assert_eq!(
            (s.database_url.as_str(), s.log.as_str()),
            ("sqlite://file.db", "warn")
        );
        assert_eq!(s.series_defaults.tolerance.get(), 0.3);

        let e = env(&[
            ("DATABASE_URL", "sqlite://env.db"),
            ("PRESCALE_SERIES_DEFAULTS__TOLERANCE", "0.25"),
        ]);
        let s = Settings::load(Some(&file), e.clone(), Overrides::default()).unwrap();
        assert_eq!(s.database_url.as_str(), "sqlite://env.db");
        assert_eq!(s.series_defaults.tolerance.get(), 0.25);
        assert_eq!(
            s.log, "warn",
            "keys the environment does not set keep the file's value"
        );

        let both = env(&[
            ("DATABASE_URL", "sqlite://generic.db"),
            ("PRESCALE_DATABASE_URL", "sqlite://specific.db"),
        ]);
        let s = Settings::load(Some(&file), both, Overrides::default()).unwrap();
        assert_eq!(s.database_url.as_str(), "sqlite://specific.db");

        let flags = Overrides {
            database_url: Some(DatabaseUrl::parse("sqlite://flag.db").unwrap()),
        };
        let s = Settings::load(Some(&file), e, flags).unwrap();
        assert_eq!(s.database_url.as_str(), "sqlite://flag.db");
    }

    #[test]
    fn a_bad_value_in_the_file_names_the_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            "log = \"info\"\n\n[series_defaults]\ncalendar = \"PE\"\ntime_zone = \"America/Lmia\"\n",
        );
        let err = Settings::load(Some(&file), env(&[]), Overrides::default()).unwrap_err();
        let ConfigError::File {
            line,
            ref key,
            ref message,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!((line, key.as_str()), (5, "series_defaults.time_zone"));
        assert!(message.contains("America/Lmia"), "{message}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:5:", file.display())),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(&dir, "databse_url = \"sqlite://x.db\"\n");
        let err = Settings::load(Some(&file), env(&[]), Overrides::default()).unwrap_err();
        let ConfigError::File { line, key, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((*line, key.as_str()), (1, "databse_url"));
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let e = env(&[
            ("PRESCALE_LOG", "debug"),
            ("PRESCALE_SERIES_DEFAULTS__TOLERANCE", "lots"),
        ]);
        let err = Settings::load(
            Some(Path::new("src/defaults.toml")),
            e,
            Overrides::default(),
        )
        .unwrap_err();
        let ConfigError::Env { var, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(var, "PRESCALE_SERIES_DEFAULTS__TOLERANCE");
        let err = Settings::load(
            None,
            env(&[("DATABASE_URL", "mysql://x")]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Env { var, .. } if var == "DATABASE_URL"),
            "{err}"
        );
    }

    #[test]
    fn api_tokens_come_from_the_environment_and_are_never_printed() {
        let e = env(&[("PRESCALE_API_TOKENS", "alpha, beta=,")]);
        let s = Settings::load(
            Some(Path::new("src/defaults.toml")),
            e,
            Overrides::default(),
        )
        .unwrap();
        let tokens: Vec<&str> = s.api.tokens.iter().map(Secret::expose).collect();
        assert_eq!(tokens, ["alpha", "beta="]);
        let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
        assert!(
            !shown.contains("alpha") && !shown.contains("beta="),
            "{shown}"
        );
    }

    #[test]
    fn retrain_schedules_are_checked_when_read_and_per_series_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            "[retrain]\nschedule = \"0 4 * * *\"\n[[retrain.series]]\nid = \"trips\"\nschedule = \"30 2 * * Mon\"\n",
        );
        let s = Settings::load(Some(&file), env(&[]), Overrides::default()).unwrap();
        assert_eq!(
            String::from(
                s.retrain
                    .schedule_of(&SeriesId::parse("trips").unwrap())
                    .clone()
            ),
            "30 2 * * Mon"
        );
        assert_eq!(
            String::from(
                s.retrain
                    .schedule_of(&SeriesId::parse("other").unwrap())
                    .clone()
            ),
            "0 4 * * *"
        );
        let bad = write(&dir, "[retrain]\nschedule = \"every sunday\"\n");
        let err = Settings::load(Some(&bad), env(&[]), Overrides::default()).unwrap_err();
        let ConfigError::File { line, key, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((*line, key.as_str()), (2, "retrain.schedule"));
    }

    #[test]
    fn a_missing_explicit_config_file_is_an_error() {
        let err = Settings::load(
            Some(Path::new("no/such/prescale.toml")),
            env(&[]),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no/such/prescale.toml"), "{err}");
    }

    #[test]
    fn configured_holidays_belong_to_their_series() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            &dir,
            "[[holidays]]\nseries = \"trips\"\ndate = 2026-03-14\nname = \"Concierto\"\n",
        );
        let s = Settings::load(Some(&file), env(&[]), Overrides::default()).unwrap();
        assert_eq!(s.holidays_of(&SeriesId::parse("trips").unwrap()).len(), 1);
        assert!(s.holidays_of(&SeriesId::parse("other").unwrap()).is_empty());
    }
}
