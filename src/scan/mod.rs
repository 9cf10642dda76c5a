//! How a verdict is made: the [`Scanner`] fingerprints outgoing items with
//! the index's own pipeline, matches them (module `matcher`) and settles a
//! fail-closed [`Report`] for each.

internal_mod!(matcher);

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

pub use matcher::Thresholds;

use crate::error::{Error, Result};
use crate::fingerprint::bytes::PARALLEL_MIN_LEN;
use crate::fingerprint::{bytes::hex, Fingerprints, Limits, Pipeline, CANCELLED, MEMBER_SEPARATOR};
use crate::index::{Index, OpenOptions};
use crate::progress::{NoProgress, Progress, StopFlag};
use crate::report::{Reason, Report, Verdict, REPORT_SCHEMA};
use crate::source::{walk, MmapChoice, SkipReason, WalkOptions};

/// A scanner a long-running service shares between threads and swaps for
/// a newer one when the index changes: scans take the current scanner
/// ([`current`](Self::current)) and finish on it, whatever reloads happen
/// meanwhile; the old index is released when its last scan ends.
#[derive(Debug)]
pub struct SharedScanner {
    current: std::sync::RwLock<Arc<Scanner>>,
    /// Held by one reload at a time, from its check to its swap, so two
    /// reloads cannot leave the older of their indexes in place.
    reloading: std::sync::Mutex<()>,
}

impl SharedScanner {
    /// Shares `scanner`.
    pub fn new(scanner: Scanner) -> SharedScanner {
        SharedScanner {
            current: std::sync::RwLock::new(Arc::new(scanner)),
            reloading: std::sync::Mutex::new(()),
        }
    }

    /// The scanner scans use now.
    pub fn current(&self) -> Arc<Scanner> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens the index again when a writer has changed it since (see
    /// [`Index::changed_on_disk`]) and makes the new scanner current.
    /// `Ok(true)` when it did, `Ok(false)` when the index had not changed;
    /// on an error the current scanner stays.
    pub fn reload(&self) -> Result<bool> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.current();
        if !current.index().changed_on_disk() {
            return Ok(false);
        }
        let fresh = Arc::new(current.reopen()?);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            fresh,
        );
        // The old index is released (when no scan holds it) after the lock
        // is released, not while scans wait for it.
        drop((old, current));
        Ok(true)
    }
}

/// Options for a [`Scanner`].
#[derive(Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Match thresholds and boilerplate rules.
    pub thresholds: Thresholds,
    /// Worker threads for [`Scanner::scan_paths`] and for splitting one
    /// large item (8 MiB and more) across threads; 0 uses the caller's
    /// rayon pool when called from one, else one thread per core. The
    /// scanner builds its pool at first use and keeps it. A single item
    /// scanned from inside a caller's pool uses that pool whatever this
    /// says.
    pub threads: usize,
    /// How files are read (default: [`MmapChoice::Read`], whole into memory
    /// up to 128 MiB, never mapped, so a file truncated while it is
    /// scanned cannot crash a long-running scanner).
    pub mmap: MmapChoice,
    /// Follow symbolic links while walking (default: no; a link is reported
    /// `incomplete` with `source.symlink`, since its target was not read).
    pub follow_symlinks: bool,
    /// Follow a path given to [`Scanner::scan_paths`] that is itself a
    /// symbolic link to a file (default: no). A command line naming a link
    /// asked for it; a gateway, whose paths come from clients, must not.
    pub follow_named_links: bool,
    /// Receives progress of [`Scanner::scan_paths`].
    pub progress: Arc<dyn Progress>,
    /// Raised by the caller to stop the scanner: [`Scanner::scan_paths`]
    /// stops between items and fails with [`Error::Cancelled`]; an item
    /// being scanned stops at its next archive member or stream read and
    /// is `incomplete` with `scan.cancelled`; later scans return at once
    /// with that reason. To cancel one call, see [`Scanner::with_stop`].
    pub stop: StopFlag,
    /// Budgets for opening archives (per top-level item).
    pub limits: Limits,
    /// Reason-code prefixes that do not make an item `incomplete` (`*`
    /// accepts every code). Such reasons are moved to `notes`, so reports
    /// still show them. Empty by default: relaxing fail-closed means what
    /// was not examined passes unseen.
    pub accept_incomplete: Vec<String>,
    /// Accept an index with no protected items (default: no — scanning
    /// against it is an error, since it would call everything clean).
    pub allow_empty_index: bool,
}

option_setters!(ScanOptions {
    with_thresholds: thresholds: Thresholds,
    with_threads: threads: usize,
    with_mmap: mmap: MmapChoice,
    with_follow_symlinks: follow_symlinks: bool,
    with_follow_named_links: follow_named_links: bool,
    with_progress: progress: Arc<dyn Progress>,
    with_stop: stop: StopFlag,
    with_limits: limits: Limits,
    with_accept_incomplete: accept_incomplete: Vec<String>,
    with_allow_empty_index: allow_empty_index: bool,
});

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            thresholds: Thresholds::default(),
            threads: 0,
            mmap: MmapChoice::Read,
            follow_symlinks: false,
            follow_named_links: false,
            progress: Arc::new(NoProgress),
            stop: StopFlag::new(),
            limits: Limits::default(),
            accept_incomplete: Vec::new(),
            allow_empty_index: false,
        }
    }
}

impl std::fmt::Debug for ScanOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("thresholds", &self.thresholds)
            .field("threads", &self.threads)
            .field("mmap", &self.mmap)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("follow_named_links", &self.follow_named_links)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Scans outgoing items against an index. `Send + Sync`: build one and share
/// it across threads; every call is independent.
#[derive(Debug)]
pub struct Scanner {
    index: Arc<Index>,
    pipeline: Pipeline,
    /// Shared with the scanners [`with_stop`](Self::with_stop) and
    /// [`reopen`](Self::reopen) make: one pool.
    workers: Arc<crate::Workers>,
    opts: ScanOptions,
    /// Stop flags added by [`with_stop`](Self::with_stop), besides
    /// `opts.stop`.
    added_stops: Vec<StopFlag>,
}

impl Scanner {
    /// A scanner over an open index.
    /// Fails closed with [`Error::IndexEmpty`] when the index holds no
    /// live protected item, unless [`ScanOptions::allow_empty_index`].
    pub fn new(index: Arc<Index>, opts: ScanOptions) -> Result<Scanner> {
        let workers = Arc::new(crate::Workers::new("scan", opts.threads));
        Scanner::with_workers(index, opts, workers, Vec::new())
    }

    /// A scanner over `index` running on `workers`, stopped by `opts.stop`
    /// and by `added_stops`.
    fn with_workers(
        index: Arc<Index>,
        opts: ScanOptions,
        workers: Arc<crate::Workers>,
        added_stops: Vec<StopFlag>,
    ) -> Result<Scanner> {
        if !opts.allow_empty_index && index.live_items() == 0 {
            return Err(crate::error::Error::IndexEmpty(index.dir().to_path_buf()));
        }
        let mut pipeline = Pipeline::new(index.params().clone())?
            .with_limits(opts.limits.clone())
            .with_anchor_filter(index.clone())
            .with_stop(opts.stop.clone());
        for stop in &added_stops {
            pipeline = pipeline.with_stop(stop.clone());
        }
        Ok(Scanner {
            index,
            pipeline,
            workers,
            opts,
            added_stops,
        })
    }

    /// This scanner, also stopped by `stop`: for cancelling one call (a
    /// client that went away, a deadline) without stopping the others. It
    /// shares the index, options and worker pool (cheap to make per call).
    /// A cancelled item is `incomplete` with the reason `scan.cancelled`.
    ///
    /// ```
    /// use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, StopFlag, Verdict};
    ///
    /// # fn main() -> pugmark::Result<()> {
    /// # let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let dir = tmp.path().join("index");
    /// # let mut writer = IndexWriter::open(&dir, IndexOptions::default())?;
    /// # writer.add_paths(&[samples.join("reserve/telemetry")])?;
    /// # drop(writer);
    /// let scanner = Scanner::open(&dir, ScanOptions::default())?;
    /// let stop = StopFlag::new();
    /// let call = scanner.with_stop(stop.clone());
    /// // From another thread, when the client goes away or time is up:
    /// stop.raise();
    /// let report = call.scan_bytes("upload.csv", b"time,temp\n0,1.5\n");
    /// assert_eq!(report.verdict, Verdict::Incomplete);
    /// assert_eq!(report.reasons[0].code, pugmark::CANCELLED);
    /// // The scanner itself is not stopped.
    /// let report = scanner.scan_bytes("upload.csv", b"time,temp\n0,1.5\n");
    /// assert_eq!(report.verdict, Verdict::Clean);
    /// # Ok(()) }
    /// ```
    pub fn with_stop(&self, stop: StopFlag) -> Scanner {
        let mut added_stops = self.added_stops.clone();
        added_stops.push(stop.clone());
        Scanner {
            index: self.index.clone(),
            pipeline: self.pipeline.clone().with_stop(stop),
            workers: self.workers.clone(),
            opts: self.opts.clone(),
            added_stops,
        }
    }

    /// A scanner over the index as it is on disk now (see
    /// [`Index::changed_on_disk`]), with the same options and worker pool.
    /// Scans running on this scanner are not disturbed: swap the new one in
    /// and drop the old when they end.
    ///
    /// ```
    /// use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, Verdict};
    ///
    /// # fn main() -> pugmark::Result<()> {
    /// # let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data-samples");
    /// # let tmp = tempfile::tempdir().unwrap();
    /// # let dir = tmp.path().join("index");
    /// let mut writer = IndexWriter::open(&dir, IndexOptions::default())?;
    /// writer.add_paths(&[samples.join("reserve/rasters")])?;
    /// let mut scanner = Scanner::open(&dir, ScanOptions::default())?;
    ///
    /// let table = samples.join("outgoing/statsmodels_co2_maunaloa.csv");
    /// assert_eq!(scanner.scan_path(&table).verdict, Verdict::Clean);
    /// writer.add_paths(&[table.clone()])?; // the table becomes protected
    /// if scanner.index().changed_on_disk() {
    ///     scanner = scanner.reopen()?;
    /// }
    /// assert_eq!(scanner.scan_path(&table).verdict, Verdict::Match);
    /// # Ok(()) }
    /// ```
    pub fn reopen(&self) -> Result<Scanner> {
        let index = Arc::new(self.index.reopen()?);
        Scanner::with_workers(
            index,
            self.opts.clone(),
            self.workers.clone(),
            self.added_stops.clone(),
        )
    }

    /// Opens the index in `dir` (checksums verified) and builds a scanner.
    pub fn open(dir: &Path, opts: ScanOptions) -> Result<Scanner> {
        let index = Index::open(dir, &OpenOptions::default())?;
        Scanner::new(Arc::new(index), opts)
    }

    /// The index this scanner matches against.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The index this scanner matches against, shared (for an embedder that
    /// keeps it beyond the scanner).
    pub fn shared_index(&self) -> Arc<Index> {
        self.index.clone()
    }

    /// The pipeline (the index's parameters) outgoing items go through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The options this scanner was made with (thresholds, budgets).
    pub fn options(&self) -> &ScanOptions {
        &self.opts
    }

    /// Scans an item held in memory (8 MiB and more on the scanner's
    /// workers).
    pub fn scan_bytes(&self, name: &str, data: &[u8]) -> Report {
        let scan = || {
            self.guarded(name, || {
                let fp = self.pipeline.fingerprint_bytes(Some(Path::new(name)), data);
                self.judge(name.to_string(), fp)
            })
        };
        if data.len() < PARALLEL_MIN_LEN || rayon::current_thread_index().is_some() {
            return scan();
        }
        // No threads to be had: the same answer on this one.
        self.workers.install(scan).unwrap_or_else(|_| scan())
    }

    /// Runs one item's scan unless the scanner is stopped, contains its
    /// panics and checks the index's health.
    fn guarded(&self, name: &str, scan: impl FnOnce() -> Report) -> Report {
        if self.pipeline.stopped() {
            return Report::not_examined(name.to_string(), crate::fingerprint::cancelled());
        }
        self.health_checked(contained(name, scan))
    }

    /// Turns a report into an `error` when the index's body check has found
    /// damage: its answer may rest on damaged tables, so it is no answer.
    fn health_checked(&self, mut report: Report) -> Report {
        if let Some(damage) = self.index.damage() {
            report.verdict = Verdict::Error;
            report.error = Some(format!(
                "the index is damaged ({damage}); run `pugmark verify`, restore or rebuild it"
            ));
        }
        report
    }

    /// Scans a stream in bounded memory. A read error part-way gives an
    /// `error` report.
    pub fn scan_reader<R: Read>(&self, name: &str, reader: R) -> Report {
        self.guarded(name, || {
            match self
                .pipeline
                .fingerprint_reader(Some(Path::new(name)), reader)
            {
                Ok(fp) => self.judge(name.to_string(), fp),
                Err(e) => Report::error(name, format!("reading: {e}")),
            }
        })
    }

    /// Scans one file (mapped, read or streamed; 8 MiB and more on the
    /// scanner's workers). Directories, links (unless the scanner follows
    /// them) and special files are not followed: use
    /// [`scan_paths`](Self::scan_paths).
    pub fn scan_path(&self, path: &Path) -> Report {
        self.scan_file(path, self.opts.follow_symlinks)
    }

    /// [`scan_path`](Self::scan_path), following a symbolic link when
    /// `follow_symlinks` says so.
    fn scan_file(&self, path: &Path, follow_symlinks: bool) -> Report {
        let shown = path.display().to_string();
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => return Report::error(shown, format!("reading metadata: {e}")),
        };
        let file_type = meta.file_type();
        if file_type.is_symlink() && !follow_symlinks {
            return not_examined(shown, &SkipReason::Symlink);
        }
        // A followed link's size is its target's (it decides the split).
        let meta = if file_type.is_symlink() {
            match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) => return Report::error(shown, format!("reading metadata: {e}")),
            }
        } else {
            meta
        };
        if file_type.is_dir() {
            return Report::error(shown, "is a directory (scan_paths walks directories)");
        }
        if !file_type.is_file() && !file_type.is_symlink() {
            return not_examined(shown, &SkipReason::SpecialFile);
        }
        let scan = || {
            self.guarded(&shown.clone(), || {
                match self.pipeline.fingerprint_file(path, self.opts.mmap) {
                    Ok(fp) => self.judge(shown.clone(), fp),
                    Err(e) => Report::error(shown.clone(), format!("reading: {e}")),
                }
            })
        };
        // Large files are split across the scanner's workers (from a plain
        // thread; inside a pool, that pool's).
        if meta.len() < PARALLEL_MIN_LEN as u64 || rayon::current_thread_index().is_some() {
            return scan();
        }
        self.workers.install(scan).unwrap_or_else(|_| scan())
    }

    /// Walks `roots` and scans every file in parallel. Returns one report
    /// per file and per path passed over, sorted by path. A root that does
    /// not exist gets an `error` report; a root that is a symbolic link is
    /// followed with [`ScanOptions::follow_named_links`], links met while
    /// walking only with [`ScanOptions::follow_symlinks`]. Fails only when
    /// stopped.
    pub fn scan_paths(&self, roots: &[PathBuf]) -> Result<Vec<Report>> {
        let mut reports = Vec::new();
        let mut existing = Vec::new();
        for root in roots {
            match std::fs::symlink_metadata(root) {
                Ok(_) => existing.push(root.clone()),
                Err(e) => reports.push(Report::error(
                    root.display().to_string(),
                    format!("reading: {e}"),
                )),
            }
        }
        let named: std::collections::HashSet<&PathBuf> = existing.iter().collect();
        let found = walk(
            &existing,
            &WalkOptions {
                follow_symlinks: self.opts.follow_symlinks,
                follow_root_links: self.opts.follow_named_links,
                threads: self.opts.threads,
            },
        );
        for skipped in &found.skipped {
            let shown = skipped.path.display().to_string();
            reports.push(match &skipped.reason {
                SkipReason::Unreadable(msg) => Report::error(shown, msg.clone()),
                other => not_examined(shown, other),
            });
        }
        let progress = self.opts.progress.clone();
        progress.begin(found.files.len() as u64, found.total_bytes());
        let scanned: Vec<Option<Report>> = self.workers.install(|| {
            found
                .files
                .par_iter()
                .map(|file| {
                    if self.pipeline.stopped() {
                        return None;
                    }
                    let named = self.opts.follow_named_links && named.contains(&file.path);
                    let report = self.scan_file(&file.path, self.opts.follow_symlinks || named);
                    progress.advance(file.size);
                    Some(report)
                })
                .collect()
        })?;
        progress.finish();
        if self.pipeline.stopped() {
            return Err(Error::Cancelled);
        }
        reports.extend(scanned.into_iter().flatten());
        reports.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(reports)
    }

    fn accepts(&self, reason: &Reason) -> bool {
        // A cancelled scan is never accepted, not even by `*`: what was
        // left unread was left for lack of time, not by policy.
        reason.code != CANCELLED
            && self
                .opts
                .accept_incomplete
                .iter()
                .any(|p| p == "*" || reason.code.starts_with(p.as_str()))
    }

    /// Matches an item and, one by one, the archive members inside it.
    fn judge(&self, path: String, mut fp: Fingerprints) -> Report {
        let matcher::Outcome {
            evidence,
            omitted,
            stats,
            notes,
        } = matcher::evaluate(&self.index, &fp, &self.opts.thresholds);
        let mut members = Vec::new();
        let mut members_examined = 0;
        for member in std::mem::take(&mut fp.members) {
            let inner = format!("{path}{MEMBER_SEPARATOR}{}", member.name);
            let report = self.judge(inner, member.fingerprints);
            members_examined += 1 + report.members_examined;
            // A clean member is listed only when it carries a waived
            // reason: what it names was not examined, and that is shown.
            if report.verdict != Verdict::Clean || report.all_notes().iter().any(|(_, n)| n.waived)
            {
                members.push(report);
            }
        }
        let (mut reasons, accepted): (Vec<Reason>, Vec<Reason>) =
            fp.reasons.into_iter().partition(|r| !self.accepts(r));
        let mut notes = notes;
        notes.extend(accepted.into_iter().map(|mut r| {
            r.waived = true;
            r
        }));
        if omitted > 0 {
            reasons.push(Reason::new(
                "evidence.truncated",
                format!("{omitted} more matching protected items not listed"),
            ));
        }
        let mut report = Report {
            schema: REPORT_SCHEMA,
            path,
            verdict: Verdict::Clean,
            size: Some(fp.size),
            kind: Some(fp.kind),
            digest: Some(hex(&fp.digest)),
            evidence,
            reasons,
            notes,
            error: None,
            chunk_stats: Some(stats),
            members,
            members_examined,
        };
        report.settle();
        report
    }
}

fn not_examined(path: String, reason: &SkipReason) -> Report {
    let detail = match reason {
        SkipReason::Symlink => {
            "symbolic link not followed; its target was not examined".to_string()
        }
        SkipReason::SpecialFile => "special file (FIFO, socket or device) not read".to_string(),
        SkipReason::Unreadable(msg) => msg.clone(),
    };
    Report::not_examined(path, Reason::new(reason.code(), detail))
}

/// Runs one item's scan so that a panic anywhere in it (sniffing, byte
/// signals, matching; decoders are already contained closer in) costs that
/// item an `error` verdict, never a long-running scanner its other items.
fn contained(name: &str, scan: impl FnOnce() -> Report) -> Report {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(scan)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Report::error(
            name,
            format!("internal error while scanning (not examined): {detail:.200}"),
        )
    })
}
