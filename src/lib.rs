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

/// Declares a module private to the crate, except for this package's own
/// tests and benchmarks (feature `internals`), to which it is public and
/// hidden from the docs: the index's storage layer, the matcher and the
/// format readers are not public API.
macro_rules! internal_mod {
    ($name:ident) => {
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        pub(crate) mod $name;
    };
}

/// Chainable setters for the public fields of an options struct, which is
/// `#[non_exhaustive]` (so callers outside the crate start from `default()`
/// and set what they need: `ScanOptions::default().with_threads(4)`).
macro_rules! option_setters {
    ($type:ident { $($setter:ident: $field:ident: $ty:ty),* $(,)? }) => {
        impl $type {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $setter(mut self, $field: $ty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}

pub mod error;
pub mod fingerprint;
pub mod index;
pub mod progress;
pub mod reason;
pub mod report;
pub mod scan;
pub mod sniff;
pub mod source;

pub use error::{Error, Result};
pub use fingerprint::{FingerprintParams, Fingerprints, Limits, Pipeline, CANCELLED};
pub use index::{Index, IndexOptions, IndexSummary, IndexWriter, OpenOptions};
pub use progress::{NoProgress, Progress, StopFlag};
pub use report::{exit_code, Evidence, Reason, Report, Verdict};
pub use scan::{ScanOptions, Scanner, Thresholds};

/// The worker threads of a scanner or an index writer: the caller's rayon
/// pool when called from one and `threads` is 0, else a pool of `threads`
/// threads (one per core for 0) built at first use and kept for every
/// later call. The library never builds, configures or uses rayon's global
/// pool.
pub(crate) struct Workers {
    /// Thread names are `pugmark-{role}-{i}`.
    role: &'static str,
    threads: usize,
    /// Built at first use; a failed build is tried again next time.
    pool: std::sync::Mutex<Option<std::sync::Arc<rayon::ThreadPool>>>,
}

impl Workers {
    /// Workers for `threads` threads (0: the caller's pool, else one per
    /// core), named for their `role`.
    pub(crate) fn new(role: &'static str, threads: usize) -> Workers {
        Workers {
            role,
            threads,
            pool: std::sync::Mutex::new(None),
        }
    }

    /// Runs `f` on the workers.
    pub(crate) fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        if self.threads == 0 && rayon::current_thread_index().is_some() {
            return Ok(f());
        }
        let pool = {
            let mut held = self.pool.lock().unwrap_or_else(|e| e.into_inner());
            match &*held {
                Some(pool) => pool.clone(),
                None => {
                    let threads = match self.threads {
                        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                        n => n,
                    };
                    let role = self.role;
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(move |i| format!("pugmark-{role}-{i}"))
                        .build()
                        .map_err(|e| {
                            Error::InvalidOption(format!("cannot start {threads} threads: {e}"))
                        })?;
                    held.insert(std::sync::Arc::new(pool)).clone()
                }
            }
        };
        Ok(pool.install(f))
    }
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}
