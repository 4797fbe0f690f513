//! Import errors: a bad cell names its place; everything else says what it was doing.

use std::path::PathBuf;

use crate::store::StoreError;

/// A bad cell or row: `FILE:LINE: column "y": value "abc" is not a number`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: column {column:?}: {problem}", .path.display())]
pub struct ImportError {
    pub path: PathBuf,
    pub line: u64,
    pub column: String,
    pub problem: String,
}

/// Why an import was rejected. Whatever the reason, nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error(transparent)]
    Row(#[from] ImportError),
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: no data rows", .path.display())]
    Empty { path: PathBuf },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ImportFailure {
    /// The cell error, if this is one (for tests and for the API's 400 body).
    pub fn row(&self) -> Option<&ImportError> {
        match self {
            Self::Row(e) => Some(e),
            _ => None,
        }
    }
}
