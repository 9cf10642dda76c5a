//! Sorted fixed-width tables with a fan-out prefix table (the git
//! pack-index pattern): one per signal in each segment.
//!
//! An entry is a key followed by a value; values are big-endian so that
//! byte order is numeric order and sorting whole entries is deterministic.
//! The fan-out table holds, for each value of the key's top `bits` bits, the
//! index of the first entry with that prefix or more (plus a final count),
//! so a lookup is one fan-out read and a binary search in a small bucket.
//! The whole key bytes the bucket number already gives (`bits / 8` of
//! them) are not stored: a 16-bit fan-out saves two bytes an entry.

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
    /// Raster window anchor hash (64 bits) -> item, band, place (`row *
    /// width + column`, 40 bits; see
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
            TableId::RasterAnchors => (8, 11),
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

/// Whole key bytes implied by a fan-out of `bits` (not stored).
pub fn implied_bytes(bits: u32) -> usize {
    (bits / 8) as usize
}

/// Sorts and de-duplicates `entries` and encodes the table section: the
/// fan-out array (`(1 << bits) + 1` little-endian u32) then the entries,
/// each without its first [`implied_bytes`] key bytes. Returns (bytes,
/// entry count, bits), or `None` when there are 2^32 entries or more (more
/// than a segment's fan-out can count).
pub fn encode<const W: usize>(
    entries: &mut Vec<[u8; W]>,
    max_bits: u32,
) -> Option<(Vec<u8>, usize, u32)> {
    entries.sort_unstable();
    entries.dedup();
    let n = entries.len();
    u32::try_from(n).ok()?;
    let bits = fanout_bits(n, max_bits);
    let implied = implied_bytes(bits);
    let buckets = 1usize << bits;
    let mut out = Vec::with_capacity((buckets + 1) * 4 + n * (W - implied));
    let mut i = 0;
    for b in 0..=buckets {
        while i < n && prefix(&entries[i], bits) < b {
            i += 1;
        }
        out.extend_from_slice(&(i as u32).to_le_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e[implied..]);
    }
    Some((out, n, bits))
}

/// Bytes the encoded table takes for `n` entries of `width` (key and
/// value, the key's implied bytes included) with `bits`. `usize::MAX` when
/// the shape cannot exist (a damaged header's count).
pub fn encoded_len(n: usize, width: usize, bits: u32) -> usize {
    1usize
        .checked_shl(bits)
        .and_then(|b| (b + 1).checked_mul(4))
        .zip(
            width
                .checked_sub(implied_bytes(bits))
                .and_then(|w| n.checked_mul(w)),
        )
        .and_then(|(fanout, entries)| fanout.checked_add(entries))
        .unwrap_or(usize::MAX)
}

/// A whole key read back from a table (its implied bytes restored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    bytes: [u8; 32],
    len: usize,
}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A read-only view of one encoded table.
#[derive(Clone, Copy, Debug)]
pub struct TableView<'a> {
    fanout: &'a [u8],
    entries: &'a [u8],
    key_width: usize,
    /// Key bytes implied by the bucket, not stored.
    implied: usize,
    /// Stored bytes of an entry.
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
        let implied = implied_bytes(bits);
        if bits > MAX_FANOUT_BITS
            || !(3..=32).contains(&key_width)
            || implied >= key_width
            || bytes.len() != encoded_len(count, key_width + value_width, bits)
        {
            return None;
        }
        let (fanout, entries) = bytes.split_at(((1usize << bits) + 1) * 4);
        Some(TableView {
            fanout,
            entries,
            key_width,
            implied,
            width: key_width - implied + value_width,
            bits,
            count,
        })
    }

    /// Bytes of each entry's whole key.
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

    fn stored(&self, i: usize) -> &'a [u8] {
        &self.entries[i * self.width..(i + 1) * self.width]
    }

    /// The stored part of entry `i`'s key (the bytes after those its bucket
    /// implies).
    fn stored_key(&self, i: usize) -> &'a [u8] {
        &self.stored(i)[..self.key_width - self.implied]
    }

    /// The value part of entry `i`.
    pub fn value(&self, i: usize) -> &'a [u8] {
        &self.stored(i)[self.key_width - self.implied..]
    }

    /// Entry `i`'s whole key, when `same_bucket` is any key of the bucket
    /// it lies in (a range from [`bucket`](Self::bucket) or
    /// [`find`](Self::find) of that key): the implied bytes are taken from
    /// it.
    pub fn key_in_bucket(&self, same_bucket: &[u8], i: usize) -> Key {
        let mut key = Key {
            bytes: [0; 32],
            len: self.key_width,
        };
        key.bytes[..self.implied].copy_from_slice(&same_bucket[..self.implied]);
        key.bytes[self.implied..self.key_width].copy_from_slice(self.stored_key(i));
        key
    }

    /// The leading key bytes of bucket `b` (its number as the key's top
    /// `bits` bits): enough for [`key_in_bucket`](Self::key_in_bucket).
    fn bucket_key(&self, b: usize) -> [u8; 3] {
        let top = ((b as u32) << (24 - self.bits)).to_be_bytes();
        [top[1], top[2], top[3]]
    }

    /// Every entry in order: its whole key and its value. One pass over
    /// the fan-out and the entries, whatever the fan-out holds (a damaged
    /// one gives wrong keys, never more entries than the table has).
    pub fn iter(&self) -> impl Iterator<Item = (Key, &'a [u8])> + '_ {
        let last = (1usize << self.bits) - 1;
        let mut b = 0usize;
        (0..self.count).map(move |i| {
            // The bucket holding entry i: the last whose successor starts
            // after i.
            while b < last && self.fan(b + 1) <= i {
                b += 1;
            }
            (self.key_in_bucket(&self.bucket_key(b), i), self.value(i))
        })
    }

    fn fan(&self, b: usize) -> usize {
        let raw = &self.fanout[b * 4..b * 4 + 4];
        // Clamped so that a damaged fan-out can misdirect but never panic.
        (u32::from_le_bytes(raw.try_into().unwrap_or_default()) as usize).min(self.count)
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
        let rest = &key[self.implied..];
        let Range { start: lo, end } = self.bucket(key);
        let (mut lo, mut hi) = (lo, end);
        // Lower bound.
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.stored_key(mid) < rest {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        let mut e = start;
        while e < end && self.stored_key(e) == rest {
            e += 1;
        }
        start..e
    }

    /// Checks fan-out consistency and strict sortedness; returns what is
    /// wrong. The fan-out holds key bytes (the implied ones): a bucket
    /// boundary moved while keeping the order is found by the section's
    /// checksum, not here.
    pub fn check(&self) -> Result<(), String> {
        let buckets = 1usize << self.bits;
        let raw = |b: usize| {
            u32::from_le_bytes(self.fanout[b * 4..b * 4 + 4].try_into().unwrap_or_default())
                as usize
        };
        if raw(0) != 0 || raw(buckets) != self.count {
            return Err("fan-out table does not span the entries".into());
        }
        for b in 0..buckets {
            let (lo, hi) = (raw(b), raw(b + 1));
            if lo > hi {
                return Err(format!("fan-out table decreases at bucket {b}"));
            }
            if hi > self.count {
                return Err(format!("fan-out bucket {b} ends past the entries"));
            }
        }
        let mut previous: Option<(Key, &[u8])> = None;
        for b in 0..buckets {
            let top = self.bucket_key(b);
            for i in raw(b)..raw(b + 1) {
                let (key, value) = (self.key_in_bucket(&top, i), self.value(i));
                if prefix(&key, self.bits) != b {
                    return Err(format!("entry {i} is in the wrong fan-out bucket"));
                }
                if previous.is_some_and(|(k, v)| (k, v) >= (key, value)) {
                    return Err(format!(
                        "entries {} and {i} are out of order or repeated",
                        i - 1
                    ));
                }
                previous = Some((key, value));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables of 0..200,000 entries (fan-outs of 0..=16 bits, so 0, 1 and 2
    /// implied key bytes): every key is found with its values, absent keys
    /// are not, and reading the table back gives the sorted entries.
    #[test]
    fn encode_find_and_read_back() {
        let key = |k: u32| [(k >> 16) as u8, (k >> 8) as u8, k as u8, (k >> 3) as u8];
        for n in [0usize, 1, 5, 100, 5000, 200_000] {
            for max_bits in [8, 12, 16, 20] {
                let mut entries: Vec<[u8; 8]> = (0..n as u32)
                    .map(|i| {
                        let k = i.wrapping_mul(2_654_435_761) % 100_000 * 167;
                        let mut e = [0u8; 8];
                        e[..4].copy_from_slice(&key(k));
                        e[4..].copy_from_slice(&i.to_be_bytes());
                        e
                    })
                    .collect();
                let mut expected = entries.clone();
                expected.sort_unstable();
                let (bytes, count, bits) = encode(&mut entries, max_bits).unwrap();
                assert!(bits <= max_bits);
                assert_eq!(bytes.len(), encoded_len(count, 8, bits));
                let view = TableView::new(&bytes, count, 4, 4, bits).unwrap();
                view.check().unwrap();
                assert_eq!(count, n);
                let back: Vec<[u8; 8]> = view
                    .iter()
                    .map(|(k, v)| {
                        let mut e = [0u8; 8];
                        e[..4].copy_from_slice(&k);
                        e[4..].copy_from_slice(v);
                        e
                    })
                    .collect();
                assert_eq!(back, expected, "n={n} bits={bits}");
                for probe in (0..2000u32).map(|k| k * 8329) {
                    let want: Vec<&[u8]> = expected
                        .iter()
                        .filter(|e| e[..4] == key(probe))
                        .map(|e| &e[4..])
                        .collect();
                    let got = view.find(&key(probe));
                    let values: Vec<&[u8]> = got.clone().map(|i| view.value(i)).collect();
                    assert_eq!(values, want, "n={n} probe={probe}");
                    for i in got {
                        assert_eq!(&*view.key_in_bucket(&key(probe), i), &key(probe));
                    }
                }
            }
        }
    }

    /// A damaged table (entries swapped, or an entry in another bucket) is
    /// reported by the check.
    #[test]
    fn check_finds_disorder() {
        let mut entries: Vec<[u8; 6]> = (0..5000u32)
            .map(|i| {
                let mut e = [0u8; 6];
                e[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
                e
            })
            .collect();
        let (mut bytes, count, bits) = encode(&mut entries, 16).unwrap();
        let fan = ((1usize << bits) + 1) * 4;
        let width = 6 - implied_bytes(bits);
        let (a, b) = (fan + 10 * width, fan + 11 * width);
        for k in 0..width {
            bytes.swap(a + k, b + k);
        }
        let view = TableView::new(&bytes, count, 4, 2, bits).unwrap();
        assert!(view.check().is_err());
        for k in 0..width {
            bytes.swap(a + k, b + k);
        }
        assert!(TableView::new(&bytes, count, 4, 2, bits)
            .unwrap()
            .check()
            .is_ok());

        // A fan-out offset raised past its successor, and one pointing
        // entries into a bucket whose prefix they do not have.
        let mut raised = bytes.clone();
        raised[4 * 7..4 * 8].copy_from_slice(&(count as u32).to_le_bytes());
        let view = TableView::new(&raised, count, 4, 2, bits).unwrap();
        assert!(view.check().is_err());
        assert_eq!(view.iter().count(), count);
        let mut shifted = bytes.clone();
        let at = |b: usize| u32::from_le_bytes(bytes[4 * b..4 * b + 4].try_into().unwrap());
        let b = (1..1usize << bits)
            .find(|&b| at(b + 1) > at(b) + 1)
            .unwrap();
        shifted[4 * b..4 * b + 4].copy_from_slice(&(at(b) + 1).to_le_bytes());
        let view = TableView::new(&shifted, count, 4, 2, bits).unwrap();
        assert!(view.check().is_err(), "bits {bits}");
    }
}
