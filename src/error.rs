//! The library's one error type.
//!
//! Policy: every fallible public function returns [`Error`]. An error names
//! the path it concerns and what was being done, so a caller can print it as
//! one line. Problems with a single outgoing or protected *item* are not
//! errors of the call: they become an `error` or `incomplete` verdict in that
//! item's report (scanning) or a skipped entry in the summary (indexing), so
//! one bad file never stops a run. The library never prints and never exits.

use std::path::PathBuf;

/// Everything that can make a pugmark call fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "reading", "creating".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No index exists at this location.
    #[error("no pugmark index at {} (create one with `pugmark index PATH --index DIR`)", .0.display())]
    IndexMissing(PathBuf),
    /// A file of the index is damaged: bad magic, checksum, bounds or order.
    #[error("index file {} is corrupt: {detail}", path.display())]
    IndexCorrupt {
        /// The damaged file.
        path: PathBuf,
        /// What check failed.
        detail: String,
    },
    /// The index was written in a format version this build does not read.
    #[error("index file {} has format version {found}; this build reads version {supported}: rebuild the index (`pugmark index` the protected paths into a new index directory; fingerprints cannot be converted without the protected data)", path.display())]
    IndexVersion {
        /// The file with the unknown version.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// The index was built with other fingerprint parameters than requested
    /// (or one segment disagrees with the manifest).
    #[error("index at {} uses other fingerprint parameters: {detail}", path.display())]
    ParamsMismatch {
        /// The index directory or segment.
        path: PathBuf,
        /// Which parameter differs.
        detail: String,
    },
    /// The index holds no protected items: scanning against it would pass
    /// everything (an index whose build failed, or built from an empty
    /// folder).
    #[error("the index at {} holds no protected items, so every scan would be clean; build it first (`pugmark index PATH --index DIR`) or allow an empty index explicitly", .0.display())]
    IndexEmpty(PathBuf),
    /// Another writer holds the index lock.
    #[error("index at {} is locked by another writer", .0.display())]
    Locked(PathBuf),
    /// An option or argument is invalid.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The caller's stop flag was raised; work done so far was committed.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Wraps an I/O error with the operation and path it concerns.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::IndexCorrupt`].
    pub fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::IndexCorrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
