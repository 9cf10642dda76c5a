//! pugmark fingerprints protected datasets — GeoTIFF rasters, camera-trap
//! photos, telemetry — and recognises them, or recognisable parts of them,
//! in outgoing files, streams and archives.
//!
//! The crate is laid out as the pipeline it runs:
//!
//! * [`source`] — where bytes come from: parallel walks, memory maps, streams;
//! * [`sniff`] — what kind of content an item is;
//! * [`fingerprint`] — how bytes become fingerprints (one [`Pipeline`] for
//!   both directions);
//! * [`index`] — where protected fingerprints are stored (segments, manifest);
//! * [`scan`] — how outgoing fingerprints are matched into a verdict;
//! * [`report`] — what a verdict and its evidence look like.
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use std::sync::Arc;
//! use pugmark::{IndexOptions, IndexWriter, Scanner, ScanOptions, Verdict};
//!
//! # fn main() -> pugmark::Result<()> {
//! let mut writer = IndexWriter::open(Path::new("/var/lib/pugmark"), IndexOptions::default())?;
//! writer.add_paths(&[PathBuf::from("/archive/protected")])?;
//! drop(writer);
//!
//! let scanner = Scanner::open(Path::new("/var/lib/pugmark"), ScanOptions::default())?;
//! let report = scanner.scan_bytes("upload.bin", b"outgoing bytes");
//! assert_eq!(report.verdict, Verdict::Incomplete.max(report.verdict));
//! # Ok(()) }
//! ```

pub mod error;
pub mod fingerprint;
pub mod index;
pub mod progress;
pub mod report;
pub mod scan;
pub mod sniff;
pub mod source;

pub use error::{Error, Result};
pub use fingerprint::{FingerprintParams, Fingerprints, Limits, Pipeline};
pub use index::{Index, IndexOptions, IndexSummary, IndexWriter, OpenOptions};
pub use progress::{NoProgress, Progress, StopFlag};
pub use report::{exit_code, Evidence, Reason, Report, Verdict};
pub use scan::{ScanOptions, Scanner, Thresholds};

/// Runs `f` on a rayon pool of `threads` threads, or on the caller's pool
/// when `threads` is 0. The library never configures the global pool.
pub(crate) fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    if threads == 0 {
        return Ok(f());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidOption(format!("cannot start {threads} threads: {e}")))?;
    Ok(pool.install(f))
}
