//! Parallel directory walks that list regular files and account for
//! everything else they pass over.
//!
//! Nothing is filtered by ignore files or hidden-file rules: protected data
//! is protected wherever it lies. Symbolic links are not followed unless
//! asked, and special files (FIFOs, sockets, devices) are never read; both
//! are listed as skipped with a reason so coverage can be audited.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// A regular file found by a walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path as reached from the walk root.
    pub path: PathBuf,
    /// Length in bytes when listed.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: i64,
}

/// Why a walk passed over a path without listing it as a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A symbolic link, not followed.
    Symlink,
    /// A FIFO, socket or device: never read.
    SpecialFile,
    /// The path could not be listed or its metadata read.
    Unreadable(String),
}

impl SkipReason {
    /// A stable reason code such as `source.symlink`.
    pub fn code(&self) -> &'static str {
        match self {
            SkipReason::Symlink => "source.symlink",
            SkipReason::SpecialFile => "source.special_file",
            SkipReason::Unreadable(_) => "source.unreadable",
        }
    }
}

/// A path a walk did not list as a file, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The path passed over.
    pub path: PathBuf,
    /// Why it was passed over.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Options for [`walk`].
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// Follow symbolic links (default: no).
    pub follow_symlinks: bool,
    /// Follow a root that is itself a symbolic link to a file (default:
    /// no): a command line naming a link asked for it. Off where the roots
    /// come from a client (a gateway), which could swap a checked path for
    /// a link.
    pub follow_root_links: bool,
    /// Walker threads; 0 lets the walker choose.
    pub threads: usize,
}

/// Files and skipped paths found under some roots, each sorted by path.
#[derive(Clone, Debug, Default)]
pub struct WalkResult {
    /// Regular files, sorted by path, without duplicates.
    pub files: Vec<FileEntry>,
    /// Paths passed over, sorted by path.
    pub skipped: Vec<Skipped>,
}

impl WalkResult {
    /// Total bytes of the listed files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Walks `roots` in parallel and lists regular files (a root may itself be a
/// file, or a symbolic link, followed when `opts.follow_root_links`). The
/// result is sorted, so it does not depend on thread scheduling.
pub fn walk(roots: &[PathBuf], opts: &WalkOptions) -> WalkResult {
    let found = Mutex::new(WalkResult::default());
    for root in roots {
        let mut builder = ignore::WalkBuilder::new(root);
        builder
            .standard_filters(false)
            .follow_links(opts.follow_symlinks)
            .threads(opts.threads);
        let follow_root_links = opts.follow_root_links;
        builder.build_parallel().run(|| {
            let found = &found;
            Box::new(move |entry| {
                let outcome = classify(entry, follow_root_links);
                let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                match outcome {
                    Some(Ok(file)) => found.files.push(file),
                    Some(Err(skip)) => found.skipped.push(skip),
                    None => {}
                }
                ignore::WalkState::Continue
            })
        });
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.files.sort_by(|a, b| a.path.cmp(&b.path));
    found.files.dedup_by(|a, b| a.path == b.path);
    found.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    found.skipped.dedup_by(|a, b| a.path == b.path);
    // A link named as a root and met again inside another root is listed
    // once, as the file it was followed to.
    let files = &found.files;
    found
        .skipped
        .retain(|s| files.binary_search_by(|f| f.path.cmp(&s.path)).is_err());
    found
}

/// Turns one walker entry into a file, a skip, or nothing (directories).
fn classify(
    entry: Result<ignore::DirEntry, ignore::Error>,
    follow_root_links: bool,
) -> Option<Result<FileEntry, Skipped>> {
    let entry = match entry {
        Ok(entry) => entry,
        Err(err) => {
            let path = error_path(&err).unwrap_or_default();
            return Some(Err(Skipped {
                path,
                reason: SkipReason::Unreadable(err.to_string()),
            }));
        }
    };
    let path = entry.path().to_path_buf();
    let file_type = entry.file_type()?;
    if file_type.is_dir() {
        return None;
    }
    if file_type.is_symlink() {
        // A link named as a root was asked for by name: it is followed when
        // the caller says so (as rg, b3sum and clamscan follow it); links
        // met while walking are not.
        if entry.depth() == 0 && follow_root_links {
            return Some(match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => Ok(FileEntry {
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    path,
                }),
                Ok(_) => Err(Skipped {
                    path,
                    reason: SkipReason::SpecialFile,
                }),
                Err(err) => Err(Skipped {
                    path,
                    reason: SkipReason::Unreadable(err.to_string()),
                }),
            });
        }
        return Some(Err(Skipped {
            path,
            reason: SkipReason::Symlink,
        }));
    }
    if !file_type.is_file() {
        return Some(Err(Skipped {
            path,
            reason: SkipReason::SpecialFile,
        }));
    }
    match entry.metadata() {
        Ok(meta) => Some(Ok(FileEntry {
            path,
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        })),
        Err(err) => Some(Err(Skipped {
            path,
            reason: SkipReason::Unreadable(err.to_string()),
        })),
    }
}

/// The modification time of `meta` in nanoseconds since the epoch, 0 if the
/// platform does not say.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).ok(),
            Err(before) => i64::try_from(before.duration().as_nanos()).ok().map(|n| -n),
        })
        .unwrap_or(0)
}

/// The path an `ignore` error is about, when it names one.
fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } => error_path(err),
        ignore::Error::WithLineNumber { err, .. } => error_path(err),
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

