//! The index writer: fingerprints protected items in parallel and commits
//! them as new segments.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::manifest::Manifest;
use super::segment::SegmentBuilder;
use super::{Index, ItemRef, OpenOptions};
use crate::error::{Error, Result};
use crate::fingerprint::{FingerprintParams, Fingerprints, Limits, Pipeline, MEMBER_SEPARATOR};
use crate::progress::{NoProgress, Progress, StopFlag};
use crate::source::{walk, MmapChoice, SkipReason, Skipped, WalkOptions};

const LOCK_FILE: &str = "LOCK";

/// The writer reads the catalogue and liveness only, and checks in full
/// every segment it copies.
const HEADERS_ONLY: OpenOptions = OpenOptions {
    body_check: super::BodyCheck::HeadersOnly,
};

/// Options for [`IndexWriter`].
#[derive(Clone)]
#[non_exhaustive]
pub struct IndexOptions {
    /// Worker threads for fingerprinting; 0 uses the caller's rayon pool
    /// when called from one, else one thread per core (a pool the writer
    /// builds at first use and keeps).
    pub threads: usize,
    /// Whether files may be memory-mapped (default: yes, when >= 16 KiB).
    pub mmap: MmapChoice,
    /// Follow symbolic links while walking (default: no; links are listed as
    /// skipped).
    pub follow_symlinks: bool,
    /// Follow a path given to `add_paths` that is itself a symbolic link
    /// to a file (default: no; the command line turns it on: a link named
    /// there was asked for).
    pub follow_named_links: bool,
    /// Parameters for a new index (default: defaults with a random seed). If
    /// the index exists and this is set, the two must agree.
    pub new_params: Option<FingerprintParams>,
    /// A segment is committed once it holds this many table entries
    /// (default 8 Mi, about 256 MiB of memory). Bounds writer memory and
    /// makes long runs resumable.
    pub segment_max_entries: usize,
    /// Files are fingerprinted in parallel batches of about this many bytes
    /// (default 256 MiB); the stop flag is honoured between items.
    pub batch_bytes: u64,
    /// Receives progress.
    pub progress: Arc<dyn Progress>,
    /// Raised by the caller to stop early; work done so far is committed.
    pub stop: StopFlag,
    /// Budgets for opening protected archives (per top-level file); a
    /// member cut short by one is indexed as far as it was read and counted
    /// in [`IndexSummary::partial`].
    pub limits: Limits,
    /// After indexing, remove the indexed files under the roots that no
    /// longer exist (default: no; see [`IndexWriter::prune`]).
    pub prune: bool,
    /// After committing, merge segments by size tier (default: yes; see
    /// [`IndexWriter::merge_tiers`]).
    pub merge_tiers: bool,
}

option_setters!(IndexOptions {
    with_threads: threads: usize,
    with_mmap: mmap: MmapChoice,
    with_follow_symlinks: follow_symlinks: bool,
    with_follow_named_links: follow_named_links: bool,
    with_new_params: new_params: Option<FingerprintParams>,
    with_segment_max_entries: segment_max_entries: usize,
    with_batch_bytes: batch_bytes: u64,
    with_progress: progress: Arc<dyn Progress>,
    with_stop: stop: StopFlag,
    with_limits: limits: Limits,
    with_prune: prune: bool,
    with_merge_tiers: merge_tiers: bool,
});

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            threads: 0,
            mmap: MmapChoice::Auto,
            follow_symlinks: false,
            follow_named_links: false,
            new_params: None,
            segment_max_entries: 8 << 20,
            batch_bytes: 256 << 20,
            progress: Arc::new(NoProgress),
            stop: StopFlag::new(),
            limits: Limits::default(),
            prune: false,
            merge_tiers: true,
        }
    }
}

impl std::fmt::Debug for IndexOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexOptions")
            .field("threads", &self.threads)
            .field("mmap", &self.mmap)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("follow_named_links", &self.follow_named_links)
            .field("segment_max_entries", &self.segment_max_entries)
            .field("batch_bytes", &self.batch_bytes)
            .field("limits", &self.limits)
            .field("prune", &self.prune)
            .field("merge_tiers", &self.merge_tiers)
            .finish_non_exhaustive()
    }
}

/// What one [`IndexWriter::add_paths`] run did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct IndexSummary {
    /// Regular files found.
    pub files_seen: u64,
    /// Their bytes.
    pub bytes_seen: u64,
    /// Files fingerprinted and added (new or changed).
    pub indexed_files: u64,
    /// Their bytes.
    pub indexed_bytes: u64,
    /// Of the indexed files, those replacing an older version.
    pub replaced_files: u64,
    /// Files skipped because size and mtime match the index.
    pub unchanged_files: u64,
    /// Their bytes.
    pub unchanged_bytes: u64,
    /// Paths not indexed, with reasons (symlinks, special, unreadable).
    pub skipped: Vec<Skipped>,
    /// Archive members indexed as protected items of their own (named
    /// `archive!member`), at every depth.
    pub archive_members: u64,
    /// Indexed files and members some signal could not examine, by reason
    /// code.
    pub partial: BTreeMap<String, u64>,
    /// Segments committed.
    pub segments_written: u64,
    /// Indexed files under the roots found gone and removed (`prune`).
    pub pruned_files: u64,
    /// Segments merged away by size tier after committing.
    pub segments_merged: u64,
    /// Wall time in seconds.
    pub elapsed_secs: f64,
}

/// What adding one named item did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddOutcome {
    /// A new item.
    Added,
    /// A new version of an item already indexed under this name.
    Replaced,
    /// Identical to the indexed item; nothing stored.
    Unchanged,
}

#[derive(Clone, Copy, Debug)]
struct Known {
    segment_id: u64,
    item: u32,
    size: u64,
    mtime_ns: Option<i64>,
    digest: [u8; 32],
}

/// Adds protected items to an index. Holds the index's writer lock until
/// dropped; readers are never blocked. Items are stored when a segment is
/// committed: by [`add_paths`](Self::add_paths) as it goes, or by
/// [`commit`](Self::commit) (items added but not committed are lost on drop).
pub struct IndexWriter {
    dir: PathBuf,
    _lock: File,
    manifest: Manifest,
    pipeline: Pipeline,
    known: HashMap<Vec<u8>, Known>,
    builder: SegmentBuilder,
    skipped_pending: Vec<Skipped>,
    workers: crate::Workers,
    opts: IndexOptions,
    /// A commit failed and the index could not be read back: no further
    /// commits (what the writer believes may not match the disk).
    broken: bool,
}

impl IndexWriter {
    /// Opens the index in `dir` for writing, creating it if needed.
    pub fn open(dir: &Path, opts: IndexOptions) -> Result<IndexWriter> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| Error::io("creating index directory", dir, e))?;
        let lock_path = dir.join(LOCK_FILE);
        let mut lock_options = File::options();
        lock_options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            lock_options.mode(0o600);
        }
        let lock = lock_options
            .open(&lock_path)
            .map_err(|e| Error::io("opening", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("locking", &lock_path, e)),
        }
        // Temporary files of a run that was killed before its rename: the
        // lock says no other writer is using them.
        remove_leftovers(dir)?;
        let manifest = if Manifest::exists(dir) {
            let manifest = Manifest::load(dir)?;
            if let Some(d) = opts
                .new_params
                .as_ref()
                .and_then(|p| p.difference(&manifest.params))
            {
                return Err(Error::ParamsMismatch {
                    path: dir.to_path_buf(),
                    detail: format!(
                        "{} {} was asked for, but the index was made with {} (parameters are fixed when an index is made: drop the option, or use another index directory)",
                        d.name, d.this, d.other
                    ),
                });
            }
            manifest
        } else {
            // Segments without a manifest are an index that lost its
            // manifest (a deletion, a partial restore): creating a new
            // index here would delete them as unpublished, and with them
            // the protected fingerprints. Refuse; the operator decides.
            if has_segment_files(dir)? {
                return Err(Error::corrupt(
                    dir.join(super::manifest::MANIFEST_FILE),
                    "missing, but segment files are present: restore the manifest, or remove the segments to start a new index",
                ));
            }
            let params = match &opts.new_params {
                Some(p) => p.clone(),
                None => FingerprintParams::random()?,
            };
            params.validate()?;
            let manifest = Manifest::new(params);
            manifest.store(dir)?;
            manifest
        };
        remove_orphans(dir, &manifest)?;
        let pipeline = Pipeline::new(manifest.params.clone())?
            .for_protected()
            .with_limits(opts.limits.clone());
        let known = known_items(dir)?;
        Ok(IndexWriter {
            dir: dir.to_path_buf(),
            _lock: lock,
            manifest,
            pipeline,
            known,
            builder: SegmentBuilder::default(),
            broken: false,
            skipped_pending: Vec::new(),
            workers: crate::Workers::new("index", opts.threads),
            opts,
        })
    }

    /// The parameters of this index.
    pub fn params(&self) -> &FingerprintParams {
        &self.manifest.params
    }

    /// Writes this index's parameters as JSON to a new file only its owner
    /// may read (they hold the secret gear seed), for
    /// [`IndexOptions::new_params`] of a sibling index whose fingerprints
    /// must agree with this one's.
    pub fn export_params(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let json = serde_json::to_vec_pretty(self.params())
            .map_err(|e| Error::InvalidOption(format!("encoding the parameters: {e}")))?;
        let mut out =
            super::segment::owner_only(path).map_err(|e| Error::io("creating", path, e))?;
        out.write_all(&json)
            .and_then(|()| out.sync_all())
            .map_err(|e| Error::io("writing", path, e))
    }

    /// Walks `roots` and indexes every new or changed regular file, in
    /// parallel, committing segments as it goes. Files whose size and mtime
    /// match the index are skipped. Paths are stored absolute.
    pub fn add_paths(&mut self, roots: &[PathBuf]) -> Result<IndexSummary> {
        let started = Instant::now();
        let mut abs_roots = Vec::with_capacity(roots.len());
        for root in roots {
            let abs = std::path::absolute(root).map_err(|e| Error::io("resolving", root, e))?;
            fs::symlink_metadata(&abs).map_err(|e| Error::io("reading", root, e))?;
            abs_roots.push(abs);
        }
        let walk_opts = WalkOptions {
            follow_symlinks: self.opts.follow_symlinks,
            follow_root_links: self.opts.follow_named_links,
            threads: self.opts.threads,
        };
        let found = walk(&abs_roots, &walk_opts);
        let mut summary = IndexSummary {
            files_seen: found.files.len() as u64,
            bytes_seen: found.total_bytes(),
            skipped: found.skipped.clone(),
            ..IndexSummary::default()
        };
        let progress = self.opts.progress.clone();
        progress.begin(summary.files_seen, summary.bytes_seen);

        let mut todo = Vec::new();
        for file in found.files {
            let key = path_bytes(&file.path);
            match self.known.get(&key) {
                Some(k) if k.size == file.size && k.mtime_ns == Some(file.mtime_ns) => {
                    summary.unchanged_files += 1;
                    summary.unchanged_bytes += file.size;
                    progress.advance(file.size);
                }
                _ => todo.push(file),
            }
        }
        self.skipped_pending.extend(found.skipped);

        let result = self.index_files(&todo, &mut summary);
        if result.is_ok() && self.opts.prune {
            summary.pruned_files = self.prune(&abs_roots)?.len() as u64;
        }
        let committed = self.commit();
        progress.finish();
        summary.segments_written += committed? as u64;
        if result.is_ok() && self.opts.merge_tiers {
            let merged = self.merge_tiers()?;
            summary.segments_merged = merged.segments_before - merged.segments_after;
        }
        summary.elapsed_secs = started.elapsed().as_secs_f64();
        result.map(|()| summary)
    }

    fn index_files(
        &mut self,
        todo: &[crate::source::FileEntry],
        summary: &mut IndexSummary,
    ) -> Result<()> {
        let pipeline = self.pipeline.clone();
        let pipeline = &pipeline;
        let (mmap, stop, progress) = (
            self.opts.mmap,
            self.opts.stop.clone(),
            self.opts.progress.clone(),
        );
        let mut start = 0;
        while start < todo.len() {
            if stop.is_raised() {
                return Err(Error::Cancelled);
            }
            let mut end = start;
            let mut batch_bytes = 0;
            while end < todo.len()
                && (end == start || (batch_bytes < self.opts.batch_bytes && end - start < 4096))
            {
                batch_bytes += todo[end].size;
                end += 1;
            }
            let batch = &todo[start..end];
            let results: Vec<Option<std::io::Result<Fingerprints>>> =
                self.workers.install(|| {
                    batch
                        .par_iter()
                        .map(|file| {
                            if stop.is_raised() {
                                return None;
                            }
                            // A panic costs this file (listed as skipped, so
                            // `index` exits 3), never the run.
                            let fp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                pipeline.fingerprint_file(&file.path, mmap)
                            }))
                            .unwrap_or_else(|_| {
                                Err(std::io::Error::other(
                                    "internal error while fingerprinting (not indexed)",
                                ))
                            });
                            progress.advance(file.size);
                            Some(fp)
                        })
                        .collect()
                })?;
            for (file, result) in batch.iter().zip(results) {
                match result {
                    None => {}
                    Some(Ok(fp)) => {
                        self.count_added(&fp, summary);
                        let outcome =
                            self.add_fingerprints(path_bytes(&file.path), Some(file.mtime_ns), &fp);
                        if outcome == AddOutcome::Replaced {
                            summary.replaced_files += 1;
                        }
                        if self.builder.entry_count() >= self.opts.segment_max_entries {
                            summary.segments_written += self.commit()? as u64;
                        }
                    }
                    Some(Err(e)) => {
                        let skip = Skipped {
                            path: file.path.clone(),
                            reason: SkipReason::Unreadable(e.to_string()),
                        };
                        summary.skipped.push(skip.clone());
                        self.skipped_pending.push(skip);
                    }
                }
            }
            start = end;
        }
        if stop.is_raised() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }

    fn count_added(&self, fp: &Fingerprints, summary: &mut IndexSummary) {
        summary.indexed_files += 1;
        summary.indexed_bytes += fp.size;
        let mut count = |fp: &Fingerprints| {
            for reason in &fp.reasons {
                *summary.partial.entry(reason.code.clone()).or_default() += 1;
            }
        };
        count(fp);
        let mut members = 0;
        fp.visit_members(&mut |_, member| {
            members += 1;
            count(member);
        });
        summary.archive_members += members;
    }

    /// Indexes a named in-memory item (no mtime: an item with the same name
    /// and content is left as it is).
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> AddOutcome {
        let fp = self.pipeline.fingerprint_bytes(Some(Path::new(name)), data);
        self.add_named(name, fp)
    }

    /// Indexes a named stream in bounded memory.
    pub fn add_reader<R: Read>(&mut self, name: &str, reader: R) -> Result<AddOutcome> {
        let fp = self
            .pipeline
            .fingerprint_reader(Some(Path::new(name)), reader)
            .map_err(|e| Error::io("reading", name, e))?;
        Ok(self.add_named(name, fp))
    }

    fn add_named(&mut self, name: &str, fp: Fingerprints) -> AddOutcome {
        let key = name.as_bytes().to_vec();
        if self
            .known
            .get(&key)
            .is_some_and(|k| k.digest == fp.digest && k.mtime_ns.is_none())
        {
            return AddOutcome::Unchanged;
        }
        self.add_fingerprints(key, None, &fp)
    }

    /// Adds an item and, as items of their own, the archive members inside
    /// it (`path!member`). A new version of an archive retires every member
    /// of the old one.
    fn add_fingerprints(
        &mut self,
        path: Vec<u8>,
        mtime_ns: Option<i64>,
        fp: &Fingerprints,
    ) -> AddOutcome {
        let outcome = self.add_item(path.clone(), mtime_ns, fp);
        if outcome == AddOutcome::Replaced {
            self.retire_members(&path);
        }
        fp.visit_members(&mut |name, member| {
            let mut key = path.clone();
            key.extend_from_slice(format!("{MEMBER_SEPARATOR}{name}").as_bytes());
            self.add_item(key, None, member);
        });
        outcome
    }

    /// The stored archive members of `name` (`name!member`, at any depth).
    /// Members are stored without a modification time, which tells them
    /// from files whose own name holds the separator (`/data/a.zip!notes`
    /// is a file, not a member of `/data/a.zip`).
    fn members_of(&self, name: &[u8]) -> Vec<Vec<u8>> {
        let mut prefix = name.to_vec();
        prefix.extend_from_slice(MEMBER_SEPARATOR.to_string().as_bytes());
        self.known
            .iter()
            .filter(|(k, known)| known.mtime_ns.is_none() && k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Marks the stored members of `name` as replaced (a new version of
    /// the archive, or the archive removed).
    fn retire_members(&mut self, name: &[u8]) -> usize {
        let mut retired = 0;
        for key in self.members_of(name) {
            if let Some(old) = self.known.remove(&key) {
                self.builder.supersede(old.segment_id, old.item);
                retired += 1;
            }
        }
        retired
    }

    fn add_item(&mut self, path: Vec<u8>, mtime_ns: Option<i64>, fp: &Fingerprints) -> AddOutcome {
        let segment_id = self.manifest.next_segment_id;
        let outcome = match self.known.get(&path) {
            Some(old) => {
                self.builder.supersede(old.segment_id, old.item);
                AddOutcome::Replaced
            }
            None => AddOutcome::Added,
        };
        let item = self.builder.add(path.clone(), mtime_ns, fp);
        self.known.insert(
            path,
            Known {
                segment_id,
                item,
                size: fp.size,
                mtime_ns,
                digest: fp.digest,
            },
        );
        outcome
    }

    /// Writes pending items as a new segment and publishes it in the
    /// manifest. Returns whether a segment was written. On error (a full
    /// or failing disk) the pending items are dropped, no temporary file is
    /// left, and the index on disk is the previous one (or, when only the
    /// final directory sync failed, the new one): the writer stays usable,
    /// and adding the same items again and committing retries.
    pub fn commit(&mut self) -> Result<bool> {
        if self.broken {
            return Err(Error::corrupt(
                &self.dir,
                "an earlier commit failed and the index could not be read back; open the writer again",
            ));
        }
        if self.builder.is_empty() {
            return Ok(false);
        }
        let builder = std::mem::take(&mut self.builder);
        let skipped = std::mem::take(&mut self.skipped_pending);
        let id = self.manifest.next_segment_id;
        let file = format!("seg-{id:08}.pgs");
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let items = builder.item_count() as u64;
        let meta = serde_json::json!({
            "tool": concat!("pugmark ", env!("CARGO_PKG_VERSION")),
            "created_unix": created,
            "items": items,
            "skipped": skipped,
        });
        let mut next = self.manifest.clone();
        let written = builder
            .write(&self.dir.join(&file), id, &self.manifest.params, &meta)
            .and_then(|bytes| {
                next.segments.push(super::manifest::SegmentRef {
                    id,
                    file,
                    items,
                    bytes,
                });
                next.next_segment_id = id + 1;
                next.store(&self.dir)
            });
        if let Err(e) = written {
            // What the writer believes goes back to what the index on disk
            // holds: nothing was published (adding the same files again
            // indexes them), or the manifest was renamed into place but not
            // made durable (it then holds the segment, and the next commit
            // must build on it, not overwrite it).
            // If the disk cannot even be read back, the writer refuses
            // further commits rather than guess (it keeps the first error).
            match Manifest::load(&self.dir).and_then(|m| Ok((m, known_items(&self.dir)?))) {
                Ok((manifest, known)) => {
                    self.manifest = manifest;
                    self.known = known;
                }
                Err(_) => self.broken = true,
            }
            self.skipped_pending = skipped;
            return Err(e);
        }
        self.manifest = next;
        Ok(true)
    }
}

/// What a compaction, prune or merge did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct CompactSummary {
    /// Segments before.
    pub segments_before: u64,
    /// Segments after.
    pub segments_after: u64,
    /// Live items copied into new segments.
    pub items_kept: u64,
    /// Superseded or removed items dropped from the merged segments.
    pub items_dropped: u64,
    /// Bytes of segment files before and after.
    pub bytes_before: u64,
    /// Bytes of segment files after.
    pub bytes_after: u64,
}

/// Segments a size tier holds before they are merged into one (the tier
/// above): with merges of this many, `n` commits leave at most about
/// `(TIER_FANIN - 1) * log_TIER_FANIN(n)` segments.
pub const TIER_FANIN: usize = 4;

/// Segments are merged automatically only while the result stays at most
/// this large: a merge holds its segments' entries in memory, and a table
/// must stay under 2^32 entries. Larger merges are `pugmark compact`'s.
pub const TIER_MAX_MERGE_BYTES: u64 = 1 << 30;

/// Size tier of a segment file: 0 up to 4 MiB, then one more per factor of
/// [`TIER_FANIN`].
fn tier(bytes: u64) -> u32 {
    let mut t = 0;
    let mut limit = 4u64 << 20;
    while bytes > limit && t < 40 {
        limit = limit.saturating_mul(TIER_FANIN as u64);
        t += 1;
    }
    t
}

impl IndexWriter {
    /// Merges every segment into one, dropping superseded and removed
    /// items; every table body is verified on the way (a damaged segment
    /// stops the compaction, leaving the index as it was).
    pub fn compact(&mut self) -> Result<CompactSummary> {
        self.commit()?;
        let all = 0..self.manifest.segments.len();
        self.merge_range(all)
    }

    /// Merges the newest segments while [`TIER_FANIN`] of them share a size
    /// tier (what [`add_paths`](Self::add_paths) runs after committing), so
    /// the segment count grows with the logarithm of the runs, up to
    /// segments of [`TIER_MAX_MERGE_BYTES`].
    pub fn merge_tiers(&mut self) -> Result<CompactSummary> {
        self.commit()?;
        let mut total = CompactSummary {
            segments_before: self.manifest.segments.len() as u64,
            segments_after: self.manifest.segments.len() as u64,
            ..CompactSummary::default()
        };
        loop {
            let segs = &self.manifest.segments;
            let n = segs.len();
            if n < TIER_FANIN {
                break;
            }
            let tail = &segs[n - TIER_FANIN..];
            let t = tier(tail[0].bytes);
            let merged: u64 = tail.iter().map(|s| s.bytes).sum();
            if tail.iter().any(|s| tier(s.bytes) != t) || merged > TIER_MAX_MERGE_BYTES {
                break;
            }
            let done = self.merge_range(n - TIER_FANIN..n)?;
            total.items_kept += done.items_kept;
            total.items_dropped += done.items_dropped;
            total.bytes_before += done.bytes_before;
            total.bytes_after += done.bytes_after;
            total.segments_after = done.segments_after;
        }
        Ok(total)
    }

    /// Marks named items as removed (and, for an archive, its members), so
    /// scans stop reporting them; the next compaction drops their
    /// fingerprints. Returns how many items were removed.
    pub fn remove(&mut self, names: &[Vec<u8>]) -> usize {
        let mut removed = 0;
        for name in names {
            if let Some(old) = self.known.remove(name) {
                self.builder.supersede(old.segment_id, old.item);
                removed += 1 + self.retire_members(name);
            }
        }
        removed
    }

    /// Removes the indexed files under `roots` that no longer exist (paths
    /// are compared as indexed: absolute). Items that were added by name
    /// rather than from a file are left alone unless their name is such a
    /// path. Returns the paths removed; [`commit`](Self::commit) stores it.
    pub fn prune(&mut self, roots: &[PathBuf]) -> Result<Vec<PathBuf>> {
        let mut abs_roots = Vec::with_capacity(roots.len());
        for root in roots {
            abs_roots.push(std::path::absolute(root).map_err(|e| Error::io("resolving", root, e))?);
        }
        let mut gone = Vec::new();
        for (key, known) in &self.known {
            if known.mtime_ns.is_none() {
                continue; // a member (removed with its archive) or a named item
            }
            let path = path_from_bytes(key);
            if !path.is_absolute() || !abs_roots.iter().any(|r| path.starts_with(r)) {
                continue;
            }
            match fs::symlink_metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(path),
                _ => {}
            }
        }
        gone.sort();
        let names: Vec<Vec<u8>> = gone.iter().map(|p| path_bytes(p)).collect();
        self.remove(&names);
        Ok(gone)
    }

    /// Adds every live item of another index built with the same
    /// parameters (a shard of the same archive) as one new segment, as
    /// stored: nothing is fingerprinted again. An item whose path this
    /// index already holds replaces it. Every table body of the shard is
    /// verified first. Returns the items added.
    pub fn merge_from(&mut self, shard: &Path) -> Result<u64> {
        let other = Index::open(shard, &HEADERS_ONLY)?;
        if let Some(d) = other.params().difference(&self.manifest.params) {
            return Err(Error::ParamsMismatch {
                path: shard.to_path_buf(),
                detail: format!(
                    "the shard has {} {}, this index {} (shards must share `pugmark init --export-params`)",
                    d.name, d.this, d.other
                ),
            });
        }
        self.commit()?;
        // Every body first: a damaged shard adds nothing.
        for seg in other.segments() {
            seg.verify()?;
        }
        let mut added = 0;
        for (s, seg) in other.segments().iter().enumerate() {
            let live = |i: u32| {
                other.is_live(ItemRef {
                    segment: s as u32,
                    item: i,
                })
            };
            let first = self.builder.item_count() as u32;
            let ids = self.builder.absorb(seg, &live);
            let segment_id = self.manifest.next_segment_id;
            for (old, new) in ids.iter().enumerate() {
                let Some(new) = *new else { continue };
                debug_assert!(new >= first);
                let rec = seg.item(old);
                if let Some(prev) = self.known.get(&rec.path).copied() {
                    self.builder.supersede(prev.segment_id, prev.item);
                    // The shard's version brings its own members.
                    if rec.flags & super::segment::FLAG_HAS_MTIME != 0 {
                        self.retire_members(&rec.path);
                    }
                }
                let has_mtime = rec.flags & super::segment::FLAG_HAS_MTIME != 0;
                self.known.insert(
                    rec.path,
                    Known {
                        segment_id,
                        item: new,
                        size: rec.size,
                        mtime_ns: has_mtime.then_some(rec.mtime_ns),
                        digest: rec.digest,
                    },
                );
                added += 1;
            }
            // Bounded memory: a large shard becomes several segments.
            if self.builder.entry_count() >= self.opts.segment_max_entries {
                self.commit()?;
            }
        }
        self.commit()?;
        Ok(added)
    }

    /// Replaces the segments at positions `range` of the manifest with one
    /// segment holding their live items. Crash-safe: the new segment is
    /// written and made durable, then the manifest is swapped, then the old
    /// files are removed (a crash between the steps leaves files the next
    /// writer removes as unpublished or unreferenced). Readers that opened
    /// the old segments keep reading them: on Unix an open or mapped file
    /// stays readable after it is unlinked, and [`Index::open`] reloads the
    /// manifest when a segment it names has just been removed.
    fn merge_range(&mut self, range: std::ops::Range<usize>) -> Result<CompactSummary> {
        if self.broken {
            return Err(Error::corrupt(
                &self.dir,
                "an earlier commit failed and the index could not be read back; open the writer again",
            ));
        }
        let index = Index::open(&self.dir, &HEADERS_ONLY)?;
        let mut summary = CompactSummary {
            segments_before: index.segments().len() as u64,
            segments_after: index.segments().len() as u64,
            bytes_before: index.segments().iter().map(|s| s.file_len()).sum(),
            ..CompactSummary::default()
        };
        summary.bytes_after = summary.bytes_before;
        let drops_any = range
            .clone()
            .any(|s| index.live_items_of(s).count() < index.segments()[s].item_count());
        if range.len() < 2 && !drops_any {
            return Ok(summary); // nothing to merge or drop
        }
        let merged_ids: Vec<u64> = range.clone().map(|s| index.segments()[s].id()).collect();
        let live_ids: std::collections::HashSet<u64> =
            index.segments().iter().map(|s| s.id()).collect();
        let mut builder = SegmentBuilder::default();
        let mut skipped = Vec::new();
        for s in range.clone() {
            let seg = &index.segments()[s];
            seg.verify()?;
            let live = |i: u32| {
                index.is_live(ItemRef {
                    segment: s as u32,
                    item: i,
                })
            };
            let ids = builder.absorb(seg, &live);
            let kept = ids.iter().filter(|i| i.is_some()).count() as u64;
            summary.items_kept += kept;
            summary.items_dropped += ids.len() as u64 - kept;
            // Replacements of items in segments outside the merge still
            // apply; those inside were applied by leaving the items out.
            for (old_seg, item) in seg.supersedes() {
                if live_ids.contains(&old_seg) && !merged_ids.contains(&old_seg) {
                    builder.supersede(old_seg, item);
                }
            }
            if let Some(list) = seg.meta().get("skipped").and_then(|v| v.as_array()) {
                skipped.extend(list.iter().cloned());
            }
        }
        drop(index);
        let id = self.manifest.next_segment_id;
        let file = format!("seg-{id:08}.pgs");
        let items = builder.item_count() as u64;
        let meta = serde_json::json!({
            "tool": concat!("pugmark ", env!("CARGO_PKG_VERSION")),
            "created_unix": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            "items": items,
            "merged_from": merged_ids,
            "skipped": skipped,
        });
        let mut next = self.manifest.clone();
        let old: Vec<super::manifest::SegmentRef> =
            next.segments.splice(range.clone(), []).collect();
        let path = self.dir.join(&file);
        let result = builder
            .write(&path, id, &self.manifest.params, &meta)
            .and_then(|bytes| {
                // Verify what was written before it replaces anything.
                super::segment::Segment::open(&path, true)?.verify()?;
                next.segments.insert(
                    range.start,
                    super::manifest::SegmentRef {
                        id,
                        file,
                        items,
                        bytes,
                    },
                );
                next.next_segment_id = id + 1;
                next.store(&self.dir)
            });
        if let Err(e) = result {
            // Remove the new segment only if no manifest on disk names it:
            // a failure after the rename (the directory sync) has published
            // it, and the old segments are then the unreferenced ones.
            let published = Manifest::load(&self.dir)
                .map(|m| m.segments.iter().any(|s| s.id == id))
                .unwrap_or(true);
            if !published {
                let _ = fs::remove_file(&path);
            }
            match Manifest::load(&self.dir).and_then(|m| Ok((m, known_items(&self.dir)?))) {
                Ok((manifest, known)) => {
                    self.manifest = manifest;
                    self.known = known;
                }
                Err(_) => self.broken = true,
            }
            return Err(e);
        }
        self.manifest = next;
        for seg in old {
            // Already unpublished: a failure here only leaves a file the
            // next writer removes.
            let _ = fs::remove_file(self.dir.join(&seg.file));
        }
        self.known = known_items(&self.dir)?;
        summary.segments_after = self.manifest.segments.len() as u64;
        summary.bytes_after = self.manifest.segments.iter().map(|s| s.bytes).sum();
        Ok(summary)
    }
}

/// Removes `*.tmp` files (unfinished writes of a killed run) from `dir`.
fn remove_leftovers(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "tmp") && path.is_file() {
            fs::remove_file(&path).map_err(|e| Error::io("removing leftover", &path, e))?;
        }
    }
    Ok(())
}

/// Whether `dir` holds any segment file.
fn has_segment_files(dir: &Path) -> Result<bool> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    Ok(entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("seg-") && name.ends_with(".pgs")
    }))
}

/// Removes segment files no manifest published (a commit killed or failed
/// between writing its segment and renaming the manifest). Readers only
/// open segments the manifest names, so none can be using them.
fn remove_orphans(dir: &Path, manifest: &Manifest) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let segment_file = name.starts_with("seg-") && name.ends_with(".pgs");
        if segment_file && !manifest.segments.iter().any(|s| s.file == name) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io("removing unpublished", &path, e))?;
        }
    }
    Ok(())
}

/// The live items of the index in `dir` as the writer tracks them (path ->
/// where it is stored, its size, mtime and digest).
fn known_items(dir: &Path) -> Result<HashMap<Vec<u8>, Known>> {
    let index = Index::open(dir, &HEADERS_ONLY)?;
    let mut known = HashMap::new();
    for (s, seg) in index.segments().iter().enumerate() {
        for i in index.live_items_of(s) {
            let rec = seg.item(i as usize);
            let has_mtime = rec.flags & super::segment::FLAG_HAS_MTIME != 0;
            known.insert(
                rec.path,
                Known {
                    segment_id: seg.id(),
                    item: i,
                    size: rec.size,
                    mtime_ns: has_mtime.then_some(rec.mtime_ns),
                    digest: rec.digest,
                },
            );
        }
    }
    Ok(known)
}

/// The path a catalogue name stands for (the inverse of [`path_bytes`]).
fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The bytes under which a path is stored in the catalogue.
pub(crate) fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}
