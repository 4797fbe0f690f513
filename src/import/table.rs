//! A CSV read for import, from a file or a request body: its header, then records one at a time
//! with their line numbers, each checked to have as many fields as the header. Every problem is
//! an [`ImportError`] that names the file, the line and the column.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
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
    reader: csv::Reader<CrlfAsLf<Box<dyn BufRead + Send>>>,
    /// Line breaks before the current record.
    breaks_passed: u64,
}

/// Reads through `inner` with every `\r\n` as `\n` (a lone `\r` is kept: the parser takes it for
/// a line end) and notes where each line break falls in what it hands on, so that a record's line
/// comes from its byte offset. The csv crate's own count is one short for every record of a CRLF
/// file (rust-csv issue 395) and after a blank line it skips.
pub(crate) struct CrlfAsLf<R> {
    inner: R,
    /// Bytes handed on so far.
    out: u64,
    /// Offsets of the line breaks handed on and not yet passed by a record.
    breaks: VecDeque<u64>,
}

impl<R> CrlfAsLf<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            out: 0,
            breaks: VecDeque::new(),
        }
    }
}

impl<R: BufRead> Read for CrlfAsLf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            let data = self.inner.fill_buf()?;
            if data.is_empty() {
                break;
            }
            if data[0] == b'\r' {
                let (lone, lf_next) = (data.len() == 1, data.get(1) == Some(&b'\n'));
                self.inner.consume(1);
                // A `\r` at the end of the buffer: the next byte decides.
                let crlf = lf_next || (lone && self.inner.fill_buf()?.first() == Some(&b'\n'));
                if !crlf {
                    out[n] = b'\r';
                    self.breaks.push_back(self.out);
                    self.out += 1;
                    n += 1;
                }
                continue;
            }
            let run = data
                .iter()
                .position(|&c| c == b'\r')
                .unwrap_or(data.len())
                .min(out.len() - n);
            out[n..n + run].copy_from_slice(&data[..run]);
            let at = self.out;
            self.breaks.extend(
                data[..run]
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c == b'\n')
                    .map(|(i, _)| at + i as u64),
            );
            self.inner.consume(run);
            self.out += run as u64;
            n += run;
        }
        Ok(n)
    }
}

/// A number in a CSV cell, or what is wrong with it.
pub(crate) fn parse_number(raw: &str) -> Result<f64, String> {
    raw.parse::<f64>()
        .map_err(|_| format!("value {raw:?} is not a number"))
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
        source: Box<dyn BufRead + Send>,
        total_bytes: u64,
    ) -> Result<Self, ImportFailure> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(CrlfAsLf::new(source));
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
            breaks_passed: 0,
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
        let more = match self.reader.read_record(&mut self.record) {
            Ok(more) => more,
            Err(e) => {
                let line = e.position().map_or(0, |p| self.line_at(p.byte()));
                return Err(self.place.fail(line, "(row)", csv_problem(&e)));
            }
        };
        if !more {
            return Ok(None);
        }
        let start = self.record.position().map(csv::Position::byte);
        let line = start.map_or(0, |b| self.line_at(b));
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

    /// The line of a record the parser began at byte `offset` (offsets do not go back): 1 + the
    /// line breaks before its first byte. The parser begins a record at the blank lines it
    /// skips, so a break right at the start is one of those, not the record's.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        let breaks = &mut self.reader.get_mut().breaks;
        while let Some(&b) = breaks.front() {
            if b > offset {
                break;
            }
            if b == offset {
                offset += 1;
            }
            breaks.pop_front();
            self.breaks_passed += 1;
        }
        self.breaks_passed + 1
    }

    /// Bytes read so far, for progress.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.record.position().map_or(0, csv::Position::byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lf(input: &[u8], capacity: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = CrlfAsLf::new(BufReader::with_capacity(capacity, input));
        r.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn crlf_reads_as_lf_wherever_the_buffer_splits_it_and_a_lone_cr_stays() {
        let input = b"a,b\r\n1,2\r\n\r\n3,\"x\ry\"\r4\r";
        let want = b"a,b\n1,2\n\n3,\"x\ry\"\r4\r".to_vec();
        for capacity in 1..=input.len() {
            assert_eq!(lf(input, capacity), want, "buffer of {capacity}");
        }
    }

    #[test]
    fn every_record_is_named_by_its_own_line_with_crlf_endings_and_after_a_blank_line() {
        let lines = [
            "timestamp,y",
            "2020-01-01T00:00:00+00:00,5",
            "",
            "2020-01-01T01:00:00+00:00,6",
        ];
        for end in ["\n", "\r\n"] {
            let body = lines.join(end) + end;
            let mut t = CsvTable::from_bytes("body.csv", body.into_bytes()).unwrap();
            assert_eq!(&t.headers[1], "y", "{end:?}");
            let mut seen = Vec::new();
            while let Some(line) = t.advance().unwrap() {
                seen.push((line, t.record[1].to_owned()));
            }
            assert_eq!(seen, [(2, "5".to_owned()), (4, "6".to_owned())], "{end:?}");
        }
    }
}
