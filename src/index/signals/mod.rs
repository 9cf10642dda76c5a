//! The signals, one module each: what a signal stores of a protected item
//! (its table entries), how an outgoing item's fingerprints are looked up
//! there, and the evidence a hit makes. A new signal is one module here,
//! its row in [`SIGNALS`], and its tables' rows in the table registry
//! ([`TableId`](super::table::TableId)); the segment builder, the index
//! and the matcher go through the registry.

mod chunks;
mod exact;
mod image;
mod raster;
mod records;

pub(crate) use records::record_holders;

use std::collections::HashSet;

use super::table::{Entries, TableId};
use super::{Index, ItemRef};
use crate::fingerprint::raster::GeoInfo;
use crate::fingerprint::Fingerprints;
use crate::report::{ChunkStats, Evidence, Range, Reason};

use super::segment::IMAGE_ROW;

/// One signal: its storing and its matching.
pub(crate) trait Signal: Sync {
    /// Adds the table entries (and rows) of protected item `item`.
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>);

    /// Looks an outgoing item's fingerprints up in `index` and adds the
    /// evidence that passes `th` to `found`.
    fn find(&self, index: &Index, fp: &Fingerprints, th: &Thresholds, found: &mut Found);
}

/// Every signal, in the order they match: a whole-content match first (the
/// others skip items it found), raster samples before the perceptual hashes
/// (which skip rasters matched sample for sample).
pub(crate) static SIGNALS: [&dyn Signal; 5] = [
    &exact::Exact,
    &chunks::Chunks,
    &records::Records,
    &raster::Raster,
    &image::Image,
];

/// Where a signal stores a protected item: the segment's tables, image
/// rows and georeferencing being built.
pub(crate) struct Stored<'b> {
    /// One per table, in [`TableId::ALL`] order (a table's entries at its
    /// id - 1, as the registry numbers them).
    pub tables: &'b mut [Entries],
    /// Perceptual hash rows (the image multi-index points into them).
    pub image_rows: &'b mut Vec<[u8; IMAGE_ROW]>,
    /// Georeferencing of protected rasters, per item.
    pub raster_geo: &'b mut Vec<(u32, GeoInfo)>,
}

impl Stored<'_> {
    /// Adds one entry to `table`.
    pub fn push(&mut self, table: TableId, entry: &[u8]) {
        self.tables[table as usize - 1].push(entry);
    }
}

/// What matching has found so far for one outgoing item.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Evidence that passed the thresholds, in signal order.
    pub evidence: Vec<Evidence>,
    /// Chunk counters.
    pub stats: ChunkStats,
    /// Analyst notes that do not change the verdict.
    pub notes: Vec<Reason>,
    /// Items matched whole: no other signal reports them again.
    pub whole: HashSet<ItemRef>,
    /// Rasters matched sample for sample: the perceptual hashes skip them.
    pub by_samples: HashSet<ItemRef>,
}

/// When shared chunks count as a match, and what is boilerplate.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Thresholds {
    /// Report a chunk match once this many outgoing bytes are found in one
    /// protected item (default 64 KiB)...
    pub min_matched_bytes: u64,
    /// ...or once this fraction of the protected item is found (default 0.5).
    pub min_protected_fraction: f64,
    /// A chunk found in more protected items than this is boilerplate (a
    /// shared header, a common library file): it counts for none of them
    /// (default 8). Trivial chunks (short repeating patterns) are never
    /// indexed at all.
    pub max_items_per_chunk: usize,
    /// Keep at most this many evidence entries per item (default 64).
    pub max_evidence: usize,
    /// Largest PDQ Hamming distance reported as an image match (default 31,
    /// the reference's threshold; at most 47).
    pub max_image_distance: u32,
    /// PDQ hashes of lower quality (near-blank pictures) never match alone
    /// (default 50, as the reference advises).
    pub min_image_quality: u8,
    /// A raster window match needs this many window anchors found at one
    /// offset (default 1: an anchor is an informative block of 64 samples
    /// with a 64-bit hash, and a window of the guaranteed size may hold just
    /// one).
    pub min_raster_anchors: u64,
    /// An anchor found at more places than this is repetitive content and
    /// votes for nothing (default 32).
    pub max_raster_anchor_repeats: usize,
    /// A records match needs this many distinct records found in one
    /// protected table (default 10)...
    pub min_matched_records: u64,
    /// ...or this fraction of the outgoing item's records (default 0.5).
    pub min_outgoing_record_fraction: f64,
}

option_setters!(Thresholds {
    with_min_matched_bytes: min_matched_bytes: u64,
    with_min_protected_fraction: min_protected_fraction: f64,
    with_max_items_per_chunk: max_items_per_chunk: usize,
    with_max_evidence: max_evidence: usize,
    with_max_image_distance: max_image_distance: u32,
    with_min_image_quality: min_image_quality: u8,
    with_min_raster_anchors: min_raster_anchors: u64,
    with_max_raster_anchor_repeats: max_raster_anchor_repeats: usize,
    with_min_matched_records: min_matched_records: u64,
    with_min_outgoing_record_fraction: min_outgoing_record_fraction: f64,
});

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_matched_bytes: 64 * 1024,
            min_protected_fraction: 0.5,
            max_items_per_chunk: 8,
            max_evidence: 64,
            max_image_distance: 31,
            min_image_quality: 50,
            min_raster_anchors: 1,
            max_raster_anchor_repeats: 32,
            min_matched_records: 10,
            min_outgoing_record_fraction: 0.5,
        }
    }
}

/// The live entries of `table` under `key` in every segment, oldest
/// segment first: the item each names (the first four bytes of its value,
/// big-endian) and the value. Entries of replaced items are passed over.
fn live_entries<'i>(
    index: &'i Index,
    table: TableId,
    key: &'i [u8],
) -> impl Iterator<Item = (ItemRef, &'i [u8])> + 'i {
    index
        .segments()
        .iter()
        .enumerate()
        .filter_map(move |(s, seg)| seg.table(table).map(|t| (s, t)))
        .flat_map(move |(s, t)| {
            t.find(key).map(move |i| {
                let v = t.value(i);
                let item = ItemRef {
                    segment: s as u32,
                    item: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                };
                (item, v)
            })
        })
        .filter(|(r, _)| index.is_live(*r))
}

/// Ranges kept per evidence entry.
const MAX_RANGES: usize = 16;

/// `part / whole`, at most 1 (0 for an empty whole).
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64).min(1.0)
    }
}

/// Sorts and merges touching or overlapping ranges; keeps the first few.
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_unstable();
    let mut out: Vec<Range> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r[0] <= last[1] => last[1] = last[1].max(r[1]),
            _ => out.push(r),
        }
    }
    out.truncate(MAX_RANGES);
    out
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn ranges_merge() {
        assert_eq!(
            merge(vec![[10, 20], [0, 10], [30, 40], [35, 50]]),
            vec![[0, 20], [30, 50]]
        );
        assert_eq!(merge(Vec::new()), Vec::<[u64; 2]>::new());
    }
}
