//! Sorted fixed-width tables with a fan-out prefix table (the git
//! pack-index pattern): one per signal in each segment.
//!
//! An entry is a key followed by a value; values are big-endian so that
//! byte order is numeric order and sorting whole entries is deterministic.
//! The fan-out table holds, for each value of the key's top `bits` bits, the
//! index of the first entry with that prefix or more (plus a final count),
//! so a lookup is one fan-out read and a binary search in a small bucket.

use std::ops::Range;

/// Tables a segment can hold. The numeric ids are part of the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableId {
    /// BLAKE3-256 whole-content digest -> item.
    Exact = 1,
    /// 64-bit chunk hash prefix -> item, chunk length, chunk offset (see
    /// [`chunk_entry`](super::segment::chunk_entry)).
    Chunks = 2,
    /// PDQ multi-index: (3-bit slot number, 32-bit slot value) -> the image
    /// hash row. Keys are 35 bits left-aligned in 5 bytes, so the fan-out
    /// spreads them evenly (see [`image_key`](super::segment::image_key)).
    Image = 3,
    /// Raster band digest -> item, band, band count, width, height.
    RasterBands = 4,
    /// Raster window anchor hash (64 bits) -> item, band, row, column (see
    /// [`anchors`](crate::fingerprint::raster::anchors)).
    RasterAnchors = 5,
    /// Canonical telemetry record hash (top 48 bits) -> item.
    Records = 6,
    /// Hash of a record with numbers rounded (precision folded in) -> item.
    RecordsRounded = 7,
    /// Sampled hash of a record with one field left out (the field's
    /// position in the low 4 bits) -> item.
    RecordsProjected = 8,
}

impl TableId {
    /// The id for a stored number, if known.
    pub fn from_u32(v: u32) -> Option<TableId> {
        match v {
            1 => Some(TableId::Exact),
            2 => Some(TableId::Chunks),
            3 => Some(TableId::Image),
            4 => Some(TableId::RasterBands),
            5 => Some(TableId::RasterAnchors),
            6 => Some(TableId::Records),
            7 => Some(TableId::RecordsRounded),
            8 => Some(TableId::RecordsProjected),
            _ => None,
        }
    }

    /// Name used in stats and errors.
    pub fn name(self) -> &'static str {
        match self {
            TableId::Exact => "exact",
            TableId::Chunks => "chunks",
            TableId::Image => "image",
            TableId::RasterBands => "raster_bands",
            TableId::RasterAnchors => "raster_anchors",
            TableId::Records => "records",
            TableId::RecordsRounded => "records_rounded",
            TableId::RecordsProjected => "records_projected",
        }
    }

    /// Every table, in id order.
    pub const ALL: [TableId; 8] = [
        TableId::Exact,
        TableId::Chunks,
        TableId::Image,
        TableId::RasterBands,
        TableId::RasterAnchors,
        TableId::Records,
        TableId::RecordsRounded,
        TableId::RecordsProjected,
    ];

    /// Largest fan-out (bits of key prefix) the table uses.
    pub fn max_fanout_bits(self) -> u32 {
        match self {
            TableId::Exact
            | TableId::Chunks
            | TableId::RasterBands
            | TableId::RasterAnchors
            | TableId::Records
            | TableId::RecordsRounded
            | TableId::RecordsProjected => 16,
            TableId::Image => 24,
        }
    }

    /// (key width, value width) in bytes.
    pub fn widths(self) -> (usize, usize) {
        match self {
            TableId::Exact => (32, 4),
            TableId::Chunks => (8, 12),
            TableId::Image => (5, 4),
            TableId::RasterBands => (32, 16),
            TableId::RasterAnchors => (8, 14),
            TableId::Records | TableId::RecordsRounded | TableId::RecordsProjected => (6, 4),
        }
    }
}

/// Most fan-out bits any table may use (a key prefix is read from the first
/// three bytes).
pub const MAX_FANOUT_BITS: u32 = 24;

/// Fan-out bits for `n` entries: about 8 entries a bucket, at most
/// `max_bits`.
pub fn fanout_bits(n: usize, max_bits: u32) -> u32 {
    if n < 16 {
        0
    } else {
        (usize::BITS - (n / 8).leading_zeros()).min(max_bits)
    }
}

fn prefix(key: &[u8], bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    let top = u32::from_be_bytes([0, key[0], key[1], key.get(2).copied().unwrap_or(0)]) as usize;
    top >> (24 - bits)
}

/// Sorts and de-duplicates `entries` and encodes the table section: the
/// fan-out array (`(1 << bits) + 1` little-endian u64) then the entries.
/// Returns (bytes, entry count, bits).
pub fn encode<const W: usize>(entries: &mut Vec<[u8; W]>, max_bits: u32) -> (Vec<u8>, usize, u32) {
    entries.sort_unstable();
    entries.dedup();
    let n = entries.len();
    let bits = fanout_bits(n, max_bits);
    let buckets = 1usize << bits;
    let mut out = Vec::with_capacity((buckets + 1) * 8 + n * W);
    let mut i = 0;
    for b in 0..=buckets {
        while i < n && prefix(&entries[i], bits) < b {
            i += 1;
        }
        out.extend_from_slice(&(i as u64).to_le_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(e);
    }
    (out, n, bits)
}

/// Bytes the encoded table takes for `n` entries of `width` with `bits`.
/// `usize::MAX` when the shape cannot exist (a damaged header's count).
pub fn encoded_len(n: usize, width: usize, bits: u32) -> usize {
    1usize
        .checked_shl(bits)
        .and_then(|b| (b + 1).checked_mul(8))
        .zip(n.checked_mul(width))
        .and_then(|(fanout, entries)| fanout.checked_add(entries))
        .unwrap_or(usize::MAX)
}

/// A read-only view of one encoded table.
#[derive(Clone, Copy, Debug)]
pub struct TableView<'a> {
    fanout: &'a [u8],
    entries: &'a [u8],
    key_width: usize,
    width: usize,
    bits: u32,
    count: usize,
}

impl<'a> TableView<'a> {
    /// Wraps encoded bytes; `None` if the length does not fit the shape.
    pub fn new(
        bytes: &'a [u8],
        count: usize,
        key_width: usize,
        value_width: usize,
        bits: u32,
    ) -> Option<Self> {
        let width = key_width + value_width;
        if bits > MAX_FANOUT_BITS || key_width < 3 || bytes.len() != encoded_len(count, width, bits)
        {
            return None;
        }
        let (fanout, entries) = bytes.split_at(((1usize << bits) + 1) * 8);
        Some(TableView {
            fanout,
            entries,
            key_width,
            width,
            bits,
            count,
        })
    }

    /// Bytes of each entry's key.
    pub fn key_width(&self) -> usize {
        self.key_width
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entry `i` (key then value).
    pub fn entry(&self, i: usize) -> &'a [u8] {
        &self.entries[i * self.width..(i + 1) * self.width]
    }

    /// The value part of entry `i`.
    pub fn value(&self, i: usize) -> &'a [u8] {
        &self.entry(i)[self.key_width..]
    }

    fn fan(&self, b: usize) -> usize {
        let raw = &self.fanout[b * 8..b * 8 + 8];
        // Clamped so that a damaged fan-out can misdirect but never panic.
        (u64::from_le_bytes(raw.try_into().unwrap_or_default()) as usize).min(self.count)
    }

    /// Bits of key prefix the fan-out indexes.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Indices of the entries whose first [`bits`](Self::bits) key bits
    /// equal `key`'s: read from the fan-out alone, without touching the
    /// entries. Equals [`find`](Self::find) when keys have no bits beyond
    /// the fan-out's.
    pub fn bucket(&self, key: &[u8]) -> Range<usize> {
        let b = prefix(key, self.bits);
        let (lo, hi) = (self.fan(b), self.fan(b + 1));
        lo..hi.max(lo)
    }

    /// Reads one byte of every cache line of the entries in `range` and
    /// returns them folded together. Called on many ranges before any is
    /// scanned, it lets their memory reads overlap (a scan loop is too long
    /// for the processor to run ahead into the next range by itself).
    pub fn touch(&self, range: Range<usize>) -> u8 {
        let start = (range.start * self.width).min(self.entries.len());
        let end = (range.end * self.width).min(self.entries.len());
        let bytes = &self.entries[start..end];
        // Every 64th byte from the start, and the last byte: the range need
        // not start on a line boundary, so its last line could be missed.
        let last = bytes.last().copied().unwrap_or(0);
        bytes.iter().step_by(64).fold(last, |acc, &b| acc ^ b)
    }

    /// Indices of the entries whose key equals `key`.
    pub fn find(&self, key: &[u8]) -> Range<usize> {
        debug_assert_eq!(key.len(), self.key_width);
        let b = prefix(key, self.bits);
        let (lo, hi) = (self.fan(b), self.fan(b + 1));
        let (mut lo, mut hi) = (lo, hi.max(lo));
        // Lower bound.
        let mut end = hi;
        while lo < hi {
            let mid = (lo + hi) / 2;
            if &self.entry(mid)[..self.key_width] < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        let mut e = start;
        while e < end && &self.entry(e)[..self.key_width] == key {
            e += 1;
        }
        end = e;
        start..end
    }

    /// Checks fan-out consistency and strict sortedness; returns what is
    /// wrong.
    pub fn check(&self) -> Result<(), String> {
        let buckets = 1usize << self.bits;
        let raw = |b: usize| {
            u64::from_le_bytes(self.fanout[b * 8..b * 8 + 8].try_into().unwrap_or_default())
        };
        if raw(0) != 0 || raw(buckets) != self.count as u64 {
            return Err("fan-out table does not span the entries".into());
        }
        for b in 0..buckets {
            let (lo, hi) = (raw(b), raw(b + 1));
            if lo > hi {
                return Err(format!("fan-out table decreases at bucket {b}"));
            }
            if hi > self.count as u64 {
                return Err(format!("fan-out bucket {b} ends past the entries"));
            }
            for i in lo as usize..hi as usize {
                if prefix(self.entry(i), self.bits) != b {
                    return Err(format!("entry {i} is in the wrong fan-out bucket"));
                }
            }
        }
        for i in 1..self.count {
            if self.entry(i - 1) >= self.entry(i) {
                return Err(format!(
                    "entries {} and {i} are out of order or repeated",
                    i - 1
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_find() {
        let key = |k: u32| [(k >> 16) as u8, (k >> 8) as u8, k as u8];
        for n in [0usize, 1, 5, 100, 5000] {
            for max_bits in [8, 16, 20] {
                let mut entries: Vec<[u8; 7]> = (0..n as u32)
                    .map(|i| {
                        let k = i.wrapping_mul(2_654_435_761) % 1000 * 4099;
                        let mut e = [0u8; 7];
                        e[..3].copy_from_slice(&key(k));
                        e[3..].copy_from_slice(&i.to_be_bytes());
                        e
                    })
                    .collect();
                let expected = entries.clone();
                let (bytes, count, bits) = encode(&mut entries, max_bits);
                assert!(bits <= max_bits);
                let view = TableView::new(&bytes, count, 3, 4, bits).unwrap();
                view.check().unwrap();
                assert_eq!(count, n);
                for probe in (0..1000u32).map(|k| k * 4099) {
                    let want = expected.iter().filter(|e| e[..3] == key(probe)).count();
                    let got = view.find(&key(probe));
                    assert_eq!(got.len(), want, "n={n} probe={probe}");
                    for i in got {
                        assert_eq!(&view.entry(i)[..3], &key(probe));
                    }
                }
            }
        }
    }
}
