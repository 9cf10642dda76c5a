//! Memory maps: the crate's only `unsafe` code.
//!
//! Files are mapped read-only. A map is only as stable as the file under it:
//! if another process truncates a mapped file, touching the lost pages raises
//! SIGBUS (the same trade-off ripgrep and b3sum make). The scanner does not
//! accept that risk: its default is [`MmapChoice::Read`](super::MmapChoice::Read)
//! (buffered reads); indexing maps protected files for speed (files over
//! [`MMAP_MAX_LEN`] a window at a time). Index segments are written once, renamed into
//! place and never modified, so mapping them is safe in practice.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;

/// Files shorter than this are read into memory instead of mapped: a map
/// costs more than a read for small files (the threshold b3sum uses).
pub const MMAP_MIN_LEN: u64 = 16 * 1024;

/// Files longer than this are not mapped whole: every page of a map that
/// is read counts towards the process's resident memory, so mapping a
/// 10 GiB file would show 10 GiB resident. They are streamed, or (opaque
/// files, when indexing) mapped one window at a time, which keeps memory
/// at the size of the read buffer or the window.
pub const MMAP_MAX_LEN: u64 = 128 * 1024 * 1024;

/// A read-only memory map of a whole file.
#[derive(Debug)]
pub struct Mapping(memmap2::Mmap);

impl Mapping {
    /// Maps all of `file` read-only and hints the kernel that it will be
    /// read sequentially.
    pub fn of_file(file: &File) -> io::Result<Mapping> {
        // SAFETY: the map is read-only and private to this process. The
        // file may still be changed by another process while mapped; a
        // shrink makes later reads of the lost pages fault (SIGBUS), a
        // rewrite makes us fingerprint mixed content. Both are documented
        // above and avoidable with `MmapChoice::Never`. No Rust invariants
        // depend on the bytes' values.
        let map = unsafe { memmap2::Mmap::map(file)? };
        #[cfg(unix)]
        {
            // Only a hint: failure changes nothing but speed.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Mapping(map))
    }
}

impl Mapping {
    /// Maps `len` bytes of `file` from `offset` (any offset: the map starts
    /// at the page holding it) read-only, its pages mapped up front (one
    /// call into the kernel instead of a fault per few pages), and hints
    /// sequential reading. For files read a window at a time.
    pub fn of_range(file: &File, offset: u64, len: usize) -> io::Result<Mapping> {
        // SAFETY: as in `of_file`: read-only, private, and the same
        // documented exposure to another process shrinking the file (the
        // caller checks the length before each window, which narrows but
        // cannot close that race). No Rust invariants depend on the bytes.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .populate()
                .map(file)?
        };
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Mapping(map))
    }
}

impl Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}
