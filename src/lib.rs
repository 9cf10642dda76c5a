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
//! * [`index`] — where protected fingerprints are stored (segments, manifest)
//!   and, per signal, how they are stored and looked up;
//! * [`scan`] — how outgoing fingerprints are matched into a verdict;
//! * [`report`] — what a verdict and its evidence look like.
//!
//! Index a protected archive once, then scan outgoing items against it (the
//! files are the repository's `data-samples/`):
//!
//! ```
//! use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, Verdict};
//!
//! # fn main() -> pugmark::Result<()> {
//! # let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
//! # let tmp = tempfile::tempdir().unwrap();
//! # let index_dir = tmp.path().join("index");
//! // Later runs fingerprint only new or changed files.
//! let mut writer = IndexWriter::open(&index_dir, IndexOptions::default())?;
//! let summary = writer.add_paths(&[samples.join("reserve")])?;
//! assert!(summary.indexed_files > 0);
//! drop(writer);
//!
//! // One scanner serves any number of threads.
//! let scanner = Scanner::open(&index_dir, ScanOptions::default().with_threads(2))?;
//! let copy = scanner.scan_path(&samples.join("outgoing/dem-copy.tif"));
//! assert_eq!(copy.verdict, Verdict::Match);
//! println!("{}", serde_json::to_string_pretty(&copy).unwrap()); // the evidence
//!
//! let notes = std::fs::read(samples.join("outgoing/patrol-notes.txt")).unwrap();
//! assert_eq!(scanner.scan_bytes("patrol-notes.txt", &notes).verdict, Verdict::Clean);
//! # Ok(()) }
//! ```
//!
//! A gateway decides per verdict and fails closed: `match` blocks, and
//! `incomplete` (not fully examined: an encrypted member, a budget run out,
//! a cancelled scan) and `error` are held for a person, never passed as
//! `clean`.

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
pub mod explain;
pub mod fingerprint;
pub mod html_report;
pub mod index;
pub mod progress;
pub mod reason;
pub mod report;
pub mod scan;
pub(crate) mod simd;
pub mod sniff;
pub mod source;

pub use error::{Error, Result};
pub use fingerprint::{FingerprintParams, Fingerprints, Limits, Pipeline, CANCELLED};
pub use index::{Index, IndexOptions, IndexSummary, IndexWriter, OpenOptions};
pub use progress::{NoProgress, Progress, StopFlag};
pub use report::{exit_code, Evidence, Reason, Report, Verdict};
pub use scan::{ScanOptions, Scanner, SharedScanner, Thresholds};

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
