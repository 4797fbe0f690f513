//! Model artifacts on disk: `models/<series>/<version>.json`, each a whole record of what was
//! fitted (spec, features, training span, validation, calibration, the model). Written to a temp
//! file beside the target (its own name per write), synced, then linked to its name only if no
//! file has it: a reader never sees half of one, and a version's file, once there, is never
//! replaced (two retrains racing for one version cannot overwrite each other's artifact).

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::confidence::Calibration;
use super::models::{Model, ModelSpec};
use super::trainer::CandidateScore;
use crate::domain::{Hour, SeriesId};

/// The artifact format; bumped when a field changes meaning.
pub const FORMAT: u32 = 1;

/// A number that may be NaN or infinite (a validation MAE over no points), which JSON cannot
/// hold: written as null, read back as NaN. Without it such an artifact was written but could
/// not be read, and its series could neither forecast nor retrain.
pub mod finite_or_null {
    use serde::{Deserialize, Deserializer, Serializer};

    /// # Errors
    /// Those of the serializer.
    #[allow(clippy::trivially_copy_pass_by_ref)]
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    /// # Errors
    /// Those of the deserializer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// Everything a model version is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub format: u32,
    pub series: SeriesId,
    pub version: i64,
    pub trained_at: DateTime<Utc>,
    /// First and last hour of the training data (inclusive).
    pub train_start: Hour,
    pub train_end: Hour,
    pub candidates: Vec<ModelSpec>,
    pub chosen: String,
    pub reason: String,
    pub validation: Vec<CandidateScore>,
    #[serde(with = "finite_or_null")]
    pub validation_mae: f64,
    pub features: Vec<String>,
    /// The stored codes of each categorical weather column, as training ranked them (see
    /// [`Frame::rank_categories_as`](super::frame::Frame::rank_categories_as)). Artifacts
    /// written before have none: their columns are ranked in the served frame's own codes, as
    /// they were.
    #[serde(default)]
    pub categories: std::collections::BTreeMap<String, Vec<f64>>,
    pub calibration: Calibration,
    pub model: Model,
}

/// Reading or writing an artifact failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a prescale model artifact: {error}", .path.display())]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{}: artifact format {found}, this prescale reads format {FORMAT}", .path.display())]
    Format { path: PathBuf, found: u32 },
    #[error("{}: this version's artifact exists already", .path.display())]
    Exists { path: PathBuf },
}

/// Makes each write's temp file name unique within the process (the process id tells processes
/// apart).
static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The folder of artifacts.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `models/<series>/<version>.json` (a series id's `/` parts become folders).
    pub fn path(&self, series: &SeriesId, version: i64) -> PathBuf {
        let mut p = self.dir.clone();
        for part in series.as_str().split('/') {
            p.push(part);
        }
        p.join(format!("{version}.json"))
    }

    /// Writes a new artifact atomically and returns its path.
    ///
    /// # Errors
    /// [`RegistryError::Exists`] when the version's file exists already (it is left as it is);
    /// otherwise when the folder cannot be created or the file cannot be written. No temp file
    /// is left behind, and an existing artifact is never touched.
    pub fn write(&self, a: &Artifact) -> Result<PathBuf, RegistryError> {
        let path = self.path(&a.series, a.version);
        let io = |error| RegistryError::Io {
            path: path.clone(),
            error,
        };
        let dir = path.parent().expect("an artifact path has a folder");
        std::fs::create_dir_all(dir).map_err(io)?;
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.json.tmp-{}-{n}",
            a.version,
            std::process::id()
        ));
        let text = serde_json::to_string(a).expect("artifacts serialize");
        // What cannot be read back is not written (JSON has no NaN: a NaN anywhere else in a
        // model would make its artifact unreadable).
        if let Err(error) = serde_json::from_str::<Artifact>(&text) {
            return Err(RegistryError::Parse { path, error });
        }
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            // A hard link fails if the name is taken: the version's file appears whole or not
            // at all, and never replaces another.
            std::fs::hard_link(&tmp, &path)
        })();
        let _ = std::fs::remove_file(&tmp);
        match result {
            Ok(()) => Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RegistryError::Exists { path })
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Reads an artifact.
    ///
    /// # Errors
    /// When the file is missing, unreadable, not an artifact, or of another format.
    pub fn read(path: &Path) -> Result<Artifact, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|error| RegistryError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let a: Artifact = serde_json::from_str(&text).map_err(|error| RegistryError::Parse {
            path: path.to_path_buf(),
            error,
        })?;
        if a.format != FORMAT {
            return Err(RegistryError::Format {
                path: path.to_path_buf(),
                found: a.format,
            });
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(version: i64) -> Artifact {
        Artifact {
            format: FORMAT,
            series: SeriesId::parse("trips/lima-norte").unwrap(),
            version,
            trained_at: Utc::now(),
            train_start: Hour::from_unix(0).unwrap(),
            train_end: Hour::from_unix(3600).unwrap(),
            candidates: vec![ModelSpec::SeasonalNaive { period: 24 }],
            chosen: "snaive24".into(),
            reason: "test".into(),
            validation: Vec::new(),
            validation_mae: 1.0,
            features: Vec::new(),
            categories: Default::default(),
            calibration: Calibration::default(),
            model: Model::SeasonalNaive { period: 24 },
        }
    }

    #[test]
    fn an_artifact_round_trips_under_the_series_folder_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let path = reg.write(&artifact(3)).unwrap();
        assert_eq!(path, dir.path().join("trips/lima-norte/3.json"));
        let back = Registry::read(&path).unwrap();
        assert_eq!((back.version, back.chosen.as_str()), (3, "snaive24"));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("3.json")]);
    }

    #[test]
    fn a_failed_write_leaves_the_existing_artifact_whole() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let path = reg.write(&artifact(1)).unwrap();
        let before = std::fs::read(&path).unwrap();
        // The series folder becomes a file: the next write cannot create its temp file there.
        let blocked = Registry::new(path.clone());
        assert!(blocked.write(&artifact(1)).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_version_that_exists_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new(dir.path());
        let path = reg.write(&artifact(2)).unwrap();
        let before = std::fs::read(&path).unwrap();
        let mut other = artifact(2);
        other.chosen = "snaive168".into();
        assert!(matches!(
            reg.write(&other),
            Err(RegistryError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("2.json")]);
    }

    #[test]
    fn a_validation_over_no_points_reads_back_as_nan() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = artifact(1);
        a.validation_mae = f64::INFINITY;
        a.validation = vec![CandidateScore {
            model: "snaive24".into(),
            mae: f64::NAN,
        }];
        let path = Registry::new(dir.path()).write(&a).unwrap();
        let back = Registry::read(&path).unwrap();
        assert!(back.validation_mae.is_nan() && back.validation[0].mae.is_nan());
    }

    #[test]
    fn garbage_is_not_an_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"format\": 1}").unwrap();
        assert!(matches!(
            Registry::read(&p),
            Err(RegistryError::Parse { .. })
        ));
    }
}
