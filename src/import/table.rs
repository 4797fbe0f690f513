//! A CSV read for import, from a file or a request body: its header, then records one at a time
//! with their line numbers, each checked to have as many fields as the header. Every problem is
//! an [`ImportError`] that names the file, the line and the column.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::{ImportError, ImportFailure};

/// Where in which file: makes the errors.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    pub path: PathBuf,
}

impl Place {
    pub(crate) fn fail(&self, line: u64, column: &str, problem: impl Into<String>) -> ImportError {
        ImportError {
            path: self.path.clone(),
            line,
            column: column.to_owned(),
            problem: problem.into(),
        }
    }
}

/// An open CSV with its header read. After [`CsvTable::advance`], `record` is the current row.
pub(crate) struct CsvTable {
    pub place: Place,
    pub headers: csv::StringRecord,
    pub record: csv::StringRecord,
    pub total_bytes: u64,
    reader: csv::Reader<Box<dyn Read + Send>>,
}

impl std::fmt::Debug for CsvTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvTable")
            .field("place", &self.place)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not valid UTF-8 (field {})", err.field() + 1),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => e.to_string(),
    }
}

impl CsvTable {
    /// Opens `path` and reads its header (fields trimmed).
    pub(crate) fn open(path: &Path) -> Result<Self, ImportFailure> {
        let io = |error| ImportFailure::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = File::open(path).map_err(io)?;
        let total_bytes = file.metadata().map_err(io)?.len();
        Self::from_reader(
            path,
            Box::new(BufReader::with_capacity(1 << 16, file)),
            total_bytes,
        )
    }

    /// A CSV held in memory (a request body); `label` names it in errors.
    pub(crate) fn from_bytes(label: &str, bytes: Vec<u8>) -> Result<Self, ImportFailure> {
        let n = bytes.len() as u64;
        Self::from_reader(Path::new(label), Box::new(std::io::Cursor::new(bytes)), n)
    }

    fn from_reader(
        path: &Path,
        source: Box<dyn Read + Send>,
        total_bytes: u64,
    ) -> Result<Self, ImportFailure> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(source);
        let place = Place {
            path: path.to_path_buf(),
        };
        let headers = reader
            .headers()
            .map_err(|e| place.fail(1, "(header)", csv_problem(&e)))?
            .clone();
        Ok(Self {
            place,
            headers,
            record: csv::StringRecord::new(),
            total_bytes,
            reader,
        })
    }

    /// The first header column named one of `names`.
    pub(crate) fn column(&self, names: &[&str]) -> Option<usize> {
        self.headers.iter().position(|h| names.contains(&h))
    }

    /// As [`CsvTable::column`], an error on the header line when absent.
    pub(crate) fn require(&self, names: &[&str]) -> Result<usize, ImportError> {
        self.column(names).ok_or_else(|| {
            self.place.fail(
                1,
                "(header)",
                format!("the header needs a column {:?}", names[0]),
            )
        })
    }

    /// Reads the next record into `self.record`; its line, or `None` at the end.
    pub(crate) fn advance(&mut self) -> Result<Option<u64>, ImportError> {
        let more = self.reader.read_record(&mut self.record).map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            self.place.fail(line, "(row)", csv_problem(&e))
        })?;
        if !more {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, csv::Position::line);
        if self.record.len() != self.headers.len() {
            let problem = format!(
                "row has {} fields, the header has {}",
                self.record.len(),
                self.headers.len()
            );
            return Err(self.place.fail(line, "(row)", problem));
        }
        Ok(Some(line))
    }

    /// Bytes read so far, for progress.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.record.position().map_or(0, csv::Position::byte)
    }
}
