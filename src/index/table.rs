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

/// What a segment needs to know of a table: its registration. A signal
/// that stores a new table adds a [`TableId`] variant (its number is part of
/// the format) and one row here; building, absorbing, encoding, checking
/// and reading the table follow from the row.
#[derive(Debug)]
struct TableSpec {
    id: TableId,
    /// Name used in stats and errors.
    name: &'static str,
    /// Key bytes of an entry.
    key_width: usize,
    /// Value bytes of an entry.
    value_width: usize,
    /// Largest fan-out (bits of key prefix) the table uses.
    max_fanout_bits: u32,
}

/// Every table, in id order (a table's row is at its id - 1). Entry widths
/// 9, 10, 19, 20, 36 and 48 are sorted in place as arrays (see
/// `Entries::sort_dedup`); a table of another width is sorted correctly
/// through a second buffer: add its width there.
const SPECS: [TableSpec; 8] = [
    TableSpec { id: TableId::Exact, name: "exact", key_width: 32, value_width: 4, max_fanout_bits: 16 },
    TableSpec { id: TableId::Chunks, name: "chunks", key_width: 8, value_width: 12, max_fanout_bits: 16 },
    TableSpec { id: TableId::Image, name: "image", key_width: 5, value_width: 4, max_fanout_bits: 24 },
    TableSpec { id: TableId::RasterBands, name: "raster_bands", key_width: 32, value_width: 16, max_fanout_bits: 16 },
    TableSpec { id: TableId::RasterAnchors, name: "raster_anchors", key_width: 8, value_width: 11, max_fanout_bits: 16 },
    TableSpec { id: TableId::Records, name: "records", key_width: 6, value_width: 4, max_fanout_bits: 16 },
    TableSpec { id: TableId::RecordsRounded, name: "records_rounded", key_width: 6, value_width: 4, max_fanout_bits: 16 },
    TableSpec { id: TableId::RecordsProjected, name: "records_projected", key_width: 6, value_width: 4, max_fanout_bits: 16 },
];

impl TableId {
    /// Every table, in id order.
    pub const ALL: [TableId; SPECS.len()] = {
        let mut all = [TableId::Exact; SPECS.len()];
        let mut i = 0;
        while i < SPECS.len() {
            all[i] = SPECS[i].id;
            i += 1;
        }
        all
    };

    fn spec(self) -> &'static TableSpec {
        &SPECS[self as usize - 1]
    }

    /// The id for a stored number, if known.
    pub fn from_u32(v: u32) -> Option<TableId> {
        SPECS.iter().map(|s| s.id).find(|&id| id as u32 == v)
    }

    /// Name used in stats and errors.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Largest fan-out (bits of key prefix) the table uses.
    pub fn max_fanout_bits(self) -> u32 {
        self.spec().max_fanout_bits
    }

    /// (key width, value width) in bytes.
    pub fn widths(self) -> (usize, usize) {
        (self.spec().key_width, self.spec().value_width)
    }

    /// Bytes of an entry (key and value).
    pub fn entry_width(self) -> usize {
        self.spec().key_width + self.spec().value_width
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

/// The entries of one table being built: fixed-width byte strings (key then
/// value) in one buffer, so every table is held the same way whatever its
/// width.
#[derive(Clone, Debug)]
pub(crate) struct Entries {
    /// Bytes of an entry.
    width: usize,
    /// Largest fan-out the encoded table may use.
    max_bits: u32,
    bytes: Vec<u8>,
}

impl Entries {
    /// No entries yet, for `table`.
    pub(crate) fn new(table: TableId) -> Entries {
        Entries::with_shape(table.entry_width(), table.max_fanout_bits())
    }

    /// No entries yet, of `width` bytes, for a table of at most `max_bits`
    /// fan-out bits.
    pub(crate) fn with_shape(width: usize, max_bits: u32) -> Entries {
        Entries {
            width,
            max_bits,
            bytes: Vec::new(),
        }
    }

    /// Adds one entry, which must be `width` bytes.
    pub(crate) fn push(&mut self, entry: &[u8]) {
        assert_eq!(entry.len(), self.width, "table entry width");
        self.bytes.extend_from_slice(entry);
    }

    /// Bytes of an entry.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / self.width
    }

    /// The entries, in the order held.
    pub(crate) fn iter(&self) -> std::slice::ChunksExact<'_, u8> {
        self.bytes.chunks_exact(self.width)
    }

    /// Sorts the entries (bytewise) and removes repeats.
    fn sort_dedup(&mut self) {
        let width = self.width;
        // The widths tables have are sorted in place as arrays; any other
        // through a sorted order.
        match width {
            9 => sort_as::<9>(&mut self.bytes),
            10 => sort_as::<10>(&mut self.bytes),
            19 => sort_as::<19>(&mut self.bytes),
            20 => sort_as::<20>(&mut self.bytes),
            36 => sort_as::<36>(&mut self.bytes),
            48 => sort_as::<48>(&mut self.bytes),
            _ => {
                let mut order: Vec<usize> = (0..self.len()).collect();
                order.sort_unstable_by_key(|&i| &self.bytes[i * width..(i + 1) * width]);
                let mut sorted = Vec::with_capacity(self.bytes.len());
                for i in order {
                    sorted.extend_from_slice(&self.bytes[i * width..(i + 1) * width]);
                }
                self.bytes = sorted;
            }
        }
        let n = self.len();
        let mut kept = 0;
        for i in 0..n {
            if kept == 0
                || self.bytes[i * width..(i + 1) * width]
                    != self.bytes[(kept - 1) * width..kept * width]
            {
                self.bytes.copy_within(i * width..(i + 1) * width, kept * width);
                kept += 1;
            }
        }
        self.bytes.truncate(kept * width);
    }
}

/// Sorts a buffer of `W`-byte entries in place.
fn sort_as<const W: usize>(bytes: &mut [u8]) {
    let (entries, rest) = bytes.as_chunks_mut::<W>();
    debug_assert!(rest.is_empty());
    entries.sort_unstable();
}

/// Sorts and de-duplicates `entries` and encodes the table section: the
/// fan-out array (`(1 << bits) + 1` little-endian u32) then the entries,
/// each without its first [`implied_bytes`] key bytes. Returns (bytes,
/// entry count, bits), or `None` when there are 2^32 entries or more (more
/// than a segment's fan-out can count).
pub(crate) fn encode(entries: &mut Entries) -> Option<(Vec<u8>, usize, u32)> {
    entries.sort_dedup();
    let n = entries.len();
    u32::try_from(n).ok()?;
    let width = entries.width;
    let bits = fanout_bits(n, entries.max_bits);
    let implied = implied_bytes(bits);
    let buckets = 1usize << bits;
    let mut out = Vec::with_capacity((buckets + 1) * 4 + n * (width - implied));
    let mut i = 0;
    for b in 0..=buckets {
        while i < n && prefix(&entries.bytes[i * width..], bits) < b {
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
    #[cfg(feature = "internals")]
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

    /// Every width is sorted and de-duplicated alike, in place as arrays or
    /// through a sorted order.
    #[test]
    fn entries_sort_the_same_at_every_width() {
        for width in [9usize, 10, 11, 19, 20, 36, 48, 50] {
            let mut entries = Entries::with_shape(width, 16);
            let mut rows: Vec<Vec<u8>> = Vec::new();
            for i in 0..3000u64 {
                // Every third entry repeats an earlier one.
                let seed = if i % 3 == 2 { i / 2 } else { i };
                let row: Vec<u8> = (0..width as u64)
                    .map(|k| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (k % 57)) as u8 ^ k as u8)
                    .collect();
                entries.push(&row);
                rows.push(row);
            }
            rows.sort();
            rows.dedup();
            entries.sort_dedup();
            let got: Vec<Vec<u8>> = entries.iter().map(<[u8]>::to_vec).collect();
            assert_eq!(got, rows, "width {width}");
        }
    }

    #[test]
    fn every_table_is_registered_once_at_its_id() {
        for (i, spec) in SPECS.iter().enumerate() {
            assert_eq!(spec.id as usize, i + 1, "{}", spec.name);
            assert_eq!(TableId::from_u32(spec.id as u32), Some(spec.id));
            assert!(spec.max_fanout_bits <= MAX_FANOUT_BITS);
        }
        assert_eq!(TableId::from_u32(0), None);
        assert_eq!(TableId::from_u32(SPECS.len() as u32 + 1), None);
    }

    /// Tables of 0..200,000 entries (fan-outs of 0..=16 bits, so 0, 1 and 2
    /// implied key bytes): every key is found with its values, absent keys
    /// are not, and reading the table back gives the sorted entries.
    #[test]
    fn encode_find_and_read_back() {
        let key = |k: u32| [(k >> 16) as u8, (k >> 8) as u8, k as u8, (k >> 3) as u8];
        for n in [0usize, 1, 5, 100, 5000, 200_000] {
            for max_bits in [8, 12, 16, 20] {
                let made: Vec<[u8; 8]> = (0..n as u32)
                    .map(|i| {
                        let k = i.wrapping_mul(2_654_435_761) % 100_000 * 167;
                        let mut e = [0u8; 8];
                        e[..4].copy_from_slice(&key(k));
                        e[4..].copy_from_slice(&i.to_be_bytes());
                        e
                    })
                    .collect();
                let mut expected = made.clone();
                expected.sort_unstable();
                let mut entries = Entries::with_shape(8, max_bits);
                made.iter().for_each(|e| entries.push(e));
                let (bytes, count, bits) = encode(&mut entries).unwrap();
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
        let mut entries = Entries::with_shape(6, 16);
        for i in 0..5000u32 {
            let mut e = [0u8; 6];
            e[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
            entries.push(&e);
        }
        let (mut bytes, count, bits) = encode(&mut entries).unwrap();
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
