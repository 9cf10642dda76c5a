//! Where bytes come from: directory walks, memory-mapped or read files, and
//! streams. Everything here hands bytes to [`crate::fingerprint`] and nothing
//! here interprets them.

internal_mod!(mmap);
internal_mod!(walk);

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::Path;

pub use mmap::{MMAP_MAX_LEN, MMAP_MIN_LEN};
pub use walk::{walk, FileEntry, SkipReason, Skipped, WalkOptions, WalkResult};

/// Whether regular files may be memory-mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MmapChoice {
    /// Map files from [`MMAP_MIN_LEN`] to [`MMAP_MAX_LEN`] bytes, read
    /// smaller ones, stream larger ones (and any file that cannot be
    /// mapped); larger opaque ones (no recognised format) are mapped a
    /// window at a time.
    #[default]
    Auto,
    /// Never map: read small files, stream large ones.
    Never,
    /// Read files up to [`MMAP_MAX_LEN`] whole into memory instead
    /// of mapping them, stream larger ones: a file truncated by another
    /// process while it is examined cannot kill this one (a mapped file
    /// that shrinks raises SIGBUS on the next access). A file whose length
    /// changes while it is read is an error for that item
    /// (`source.changed`). The scanner's default.
    Read,
}

/// Files up to this size are read whole into memory when they are not
/// mapped; larger ones are streamed so memory stays bounded.
pub const READ_WHOLE_MAX: u64 = 4 * 1024 * 1024;

/// The content of one file, in the cheapest form that keeps memory bounded.
#[non_exhaustive]
pub(crate) enum FileContent {
    /// The whole file, mapped.
    Mapped(mmap::Mapping),
    /// The whole file, read into memory (small files).
    Buffered(Vec<u8>),
    /// The open file, to be read as a stream (large files that could not or
    /// may not be mapped).
    Stream(File),
}

impl FileContent {
    /// Opens `path` and chooses how to read it: map, read whole, or stream.
    /// A file read whole whose length differs from its length at open
    /// (truncated or appended to meanwhile) is an error, `source.changed`.
    pub(crate) fn open(path: &Path, choice: MmapChoice) -> io::Result<FileContent> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if choice == MmapChoice::Auto && (mmap::MMAP_MIN_LEN..=mmap::MMAP_MAX_LEN).contains(&len) {
            if let Ok(map) = mmap::Mapping::of_file(&file) {
                return Ok(FileContent::Mapped(map));
            }
        }
        let whole = match choice {
            MmapChoice::Read => mmap::MMAP_MAX_LEN,
            _ => READ_WHOLE_MAX,
        };
        if len <= whole {
            let mut buf = Vec::with_capacity(len as usize);
            // One byte more than announced shows a file that grew.
            (&mut file).take(len + 1).read_to_end(&mut buf)?;
            if buf.len() as u64 != len {
                return Err(io::Error::other(format!(
                    "source.changed: the file was {len} bytes when opened and {} bytes were read; it changed while being read",
                    buf.len()
                )));
            }
            return Ok(FileContent::Buffered(buf));
        }
        Ok(FileContent::Stream(file))
    }

    /// The bytes, when the content is held whole (mapped or buffered).
    pub(crate) fn as_slice(&self) -> Option<&[u8]> {
        match self {
            FileContent::Mapped(m) => Some(m.deref()),
            FileContent::Buffered(b) => Some(b),
            FileContent::Stream(_) => None,
        }
    }
}
