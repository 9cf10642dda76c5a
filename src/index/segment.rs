//! Segment files: immutable, self-describing, checksummed.
//!
//! Layout (little-endian unless noted):
//! ```text
//! header     magic "PUGMSEG\0" | format version u32 | section count u32
//!            | segment id u64 | params length u32 | reserved u32
//!            | fingerprint parameters (JSON), zero-padded to 8 bytes
//! directory  per section (72 B): kind u32 | aux u32 | offset u64 | length u64
//!            | count u64 | key width u16 | value width u16 | fan-out bits u32
//!            | BLAKE3-256 of the section's bytes
//! checksum   BLAKE3-256 of the header and directory (checked at every open:
//!            opening costs the same whatever the index's size)
//! sections   each 8-byte aligned: meta (JSON), catalogue (80-byte records),
//!            paths (bytes), one table per signal, supersedes (16-byte records),
//!            image hash rows (40 B: item u32 | crop per mille u16 |
//!            quality u8 | region kind << 4 + dihedral variant u8 | PDQ
//!            hash, 32 B big-endian)
//! footer     BLAKE3-256 of every byte before the footer | "PUGMEND\0"
//! ```
//! Opening checks the header checksum and the small sections every lookup
//! depends on for liveness (metadata, supersedes); table bodies, the
//! catalogue and image rows are checked by [`Segment::verify`] (on `pugmark
//! verify`, after every write and compaction, and in the background for
//! long-running readers, see [`crate::index::BodyCheck`]).
//! A catalogue record: digest (32 B) | size u64 | mtime ns i64 | path offset
//! u64 | path length u32 | chunk count u32 | matchable bytes u64 | kind u8 |
//! flags u8 | records u32 | 2 bytes zero | raster width u32 | raster
//! height u32.

use std::fs::{self, File};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::signals::{Stored, SIGNALS};
use super::table::{self, Entries, TableId, TableView};
use crate::error::{Error, Result};
use crate::fingerprint::{FingerprintParams, Fingerprints};
use crate::sniff::Kind;
use crate::source::mmap::Mapping;

/// Segment file magic.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PUGMSEG\0";
/// Footer magic.
pub const FOOTER_MAGIC: &[u8; 8] = b"PUGMEND\0";
/// The index format version this build reads and writes (3: record hashes
/// from typed field keys instead of BLAKE3 over canonical text, raster row
/// chunks hashed with a keyed multiply hash instead of BLAKE3; 4: year-first
/// dates in records are one typed field, whatever their separators; 5:
/// raster window anchors from 2-D winnowing instead of every row chunk,
/// narrower chunk and record entries, per-section checksums; 6: the PDQ
/// multi-index in eight 32-bit slots without stored sketches, turned copies
/// of pictures hashed on the query side instead of stored, table keys
/// without the bytes their fan-out bucket implies, 4-byte fan-out offsets).
/// 7: raster anchors are a greedy cover instead of 2-D winnowing minima,
/// looked up at every block on the outgoing side, their entries 19 bytes
/// with the block's place as one 40-bit offset. 8: chunk hashes are XXH3-128
/// keyed by the secret gear seed instead of a BLAKE3 prefix; a table's
/// delimiter is chosen on its first 64 KiB of bytes (not of text decoded
/// from them).
pub const FORMAT_VERSION: u32 = 8;

/// Bytes of a raster anchor entry: the 64-bit block hash, then item (4),
/// band (2) and the block's place as `row * width + column` (5 bytes; see
/// [`raster_anchor_place`]).
pub const RASTER_ANCHOR_ENTRY: usize = 19;

/// The (row, column) of a raster anchor's block from the place its entry
/// stores and the protected raster's width.
pub fn raster_anchor_place(value: &[u8], width: u32) -> (u64, u64) {
    let mut be = [0u8; 8];
    be[3..].copy_from_slice(&value[6..11]);
    let at = u64::from_be_bytes(be);
    let width = u64::from(width.max(1));
    (at / width, at % width)
}

const HEADER_FIXED: usize = 32;
const DIR_ENTRY: usize = 72;
const HEADER_SUM: usize = 32;
const FOOTER: usize = 40;
const RECORD: usize = 88;
const SUPERSEDE: usize = 16;

const SECTION_META: u32 = 1;
const SECTION_CATALOGUE: u32 = 2;
const SECTION_PATHS: u32 = 3;
const SECTION_TABLE: u32 = 4;
const SECTION_SUPERSEDES: u32 = 5;
const SECTION_IMAGE_ROWS: u32 = 6;
pub(crate) const IMAGE_ROW: usize = 40;

/// Catalogue flag: some deep signal could not run on this item.
pub const FLAG_PARTIAL: u8 = 1;
/// Catalogue flag: the item has a modification time.
pub const FLAG_HAS_MTIME: u8 = 2;

/// One protected item as the catalogue records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    /// Path (or caller-given name) as indexed, raw bytes.
    pub path: Vec<u8>,
    /// Content length.
    pub size: u64,
    /// Modification time, ns since the epoch (0 when none was recorded).
    pub mtime_ns: i64,
    /// BLAKE3-256 of the content.
    pub digest: [u8; 32],
    /// Detected kind (`None` for a code this build does not know).
    pub kind: Option<Kind>,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Chunks in the item.
    pub chunk_count: u32,
    /// Bytes in non-trivial chunks.
    pub matchable_bytes: u64,
    /// Raster width and height in samples (0, 0 for other kinds).
    pub raster_size: (u32, u32),
    /// Distinct informative telemetry records (0 for other kinds).
    pub records: u32,
}

impl ItemRecord {
    /// The path for display (lossy where not UTF-8).
    pub fn path_display(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// Collects items and table entries for one segment, in memory.
pub struct SegmentBuilder {
    items: Vec<ItemRecord>,
    /// One per table, in [`TableId::ALL`] order.
    tables: Vec<Entries>,
    image_rows: Vec<[u8; IMAGE_ROW]>,
    raster_geo: Vec<(u32, crate::fingerprint::raster::GeoInfo)>,
    supersedes: Vec<[u8; SUPERSEDE]>,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        SegmentBuilder {
            items: Vec::new(),
            tables: TableId::ALL.into_iter().map(Entries::new).collect(),
            image_rows: Vec::new(),
            raster_geo: Vec::new(),
            supersedes: Vec::new(),
        }
    }
}

impl SegmentBuilder {

    /// Adds a protected item with its fingerprints; returns its id in this
    /// segment.
    pub fn add(&mut self, path: Vec<u8>, mtime_ns: Option<i64>, fp: &Fingerprints) -> u32 {
        let id = self.items.len() as u32;
        let mut flags = 0;
        if !fp.is_complete() {
            flags |= FLAG_PARTIAL;
        }
        if mtime_ns.is_some() {
            flags |= FLAG_HAS_MTIME;
        }
        self.items.push(ItemRecord {
            path,
            size: fp.size,
            mtime_ns: mtime_ns.unwrap_or(0),
            digest: fp.digest,
            kind: Some(fp.kind),
            flags,
            chunk_count: fp.chunks.len() as u32,
            matchable_bytes: fp.matchable_bytes(),
            raster_size: fp.raster.as_ref().map_or((0, 0), |r| (r.width, r.height)),
            records: fp
                .records
                .as_ref()
                .map_or(0, |r| r.informative.min(u32::MAX as u64) as u32),
        });
        let mut out = Stored {
            tables: &mut self.tables,
            image_rows: &mut self.image_rows,
            raster_geo: &mut self.raster_geo,
        };
        for signal in SIGNALS {
            signal.store(fp, id, &mut out);
        }
        id
    }

    /// Copies the items of `seg` that `keep` accepts, with their table
    /// entries, image rows and georeferencing, as they are stored (no
    /// fingerprinting again): what compaction and shard merges are made
    /// of. Returns the new ids in this builder, per old item (`None` for
    /// items left out).
    pub fn absorb(&mut self, seg: &Segment, keep: &dyn Fn(u32) -> bool) -> Vec<Option<u32>> {
        let mut ids = Vec::with_capacity(seg.item_count());
        for i in 0..seg.item_count() {
            if keep(i as u32) {
                ids.push(Some(self.items.len() as u32));
                self.items.push(seg.item(i));
            } else {
                ids.push(None);
            }
        }
        let geo: Vec<(u32, crate::fingerprint::raster::GeoInfo)> = seg
            .meta()
            .get("raster_geo")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        for (item, g) in geo {
            if let Some(Some(new)) = ids.get(item as usize) {
                self.raster_geo.push((*new, g));
            }
        }
        let mut rows = Vec::with_capacity(seg.image_row_count());
        for r in 0..seg.image_row_count() {
            let bytes = seg.image_row_bytes(r);
            let item = u32::from_le_bytes(bytes[..4].try_into().unwrap_or_default());
            match ids.get(item as usize).copied().flatten() {
                Some(new) => {
                    let mut row: [u8; IMAGE_ROW] = bytes.try_into().unwrap_or([0; IMAGE_ROW]);
                    row[..4].copy_from_slice(&new.to_le_bytes());
                    rows.push(Some(self.image_rows.len() as u32));
                    self.image_rows.push(row);
                }
                None => rows.push(None),
            }
        }
        for (entries, table) in self.tables.iter_mut().zip(TableId::ALL) {
            // A table's values begin with an item id, or (the image
            // multi-index) with an image row number.
            let renumber = if table == TableId::Image { &rows } else { &ids };
            copy_entries(entries, seg.table(table), renumber);
        }
        ids
    }

    /// Records that item `item` of segment `segment_id` is replaced by a
    /// newer version in this segment.
    pub fn supersede(&mut self, segment_id: u64, item: u32) {
        let mut e = [0u8; SUPERSEDE];
        e[..8].copy_from_slice(&segment_id.to_le_bytes());
        e[8..12].copy_from_slice(&item.to_le_bytes());
        self.supersedes.push(e);
    }

    /// Items added so far.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Table entries held so far (the memory that matters).
    pub fn entry_count(&self) -> usize {
        self.tables.iter().map(Entries::len).sum()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.supersedes.is_empty()
    }

    /// Encodes the segment and writes it durably as `path` (temp file, fsync,
    /// rename). Returns the file's length.
    pub fn write(
        mut self,
        path: &Path,
        segment_id: u64,
        params: &FingerprintParams,
        meta: &serde_json::Value,
    ) -> Result<u64> {
        let params_json =
            serde_json::to_vec(params).map_err(|e| Error::InvalidOption(e.to_string()))?;
        // Georeferencing of protected rasters rides in the metadata section,
        // as `raster_geo: [[item, {...}], ...]`.
        let mut meta = meta.clone();
        if let (Some(obj), false) = (meta.as_object_mut(), self.raster_geo.is_empty()) {
            obj.insert(
                "raster_geo".into(),
                serde_json::to_value(&self.raster_geo).unwrap_or_default(),
            );
        }
        let meta = &meta;
        let meta_json =
            serde_json::to_vec(meta).map_err(|e| Error::InvalidOption(e.to_string()))?;

        let mut paths = Vec::new();
        let mut catalogue = Vec::with_capacity(self.items.len() * RECORD);
        for item in &self.items {
            let mut r = [0u8; RECORD];
            r[..32].copy_from_slice(&item.digest);
            r[32..40].copy_from_slice(&item.size.to_le_bytes());
            r[40..48].copy_from_slice(&item.mtime_ns.to_le_bytes());
            r[48..56].copy_from_slice(&(paths.len() as u64).to_le_bytes());
            r[56..60].copy_from_slice(&(item.path.len() as u32).to_le_bytes());
            r[60..64].copy_from_slice(&item.chunk_count.to_le_bytes());
            r[64..72].copy_from_slice(&item.matchable_bytes.to_le_bytes());
            r[72] = item.kind.map_or(u8::MAX, Kind::code);
            r[73] = item.flags;
            r[74..78].copy_from_slice(&item.records.to_le_bytes());
            r[80..84].copy_from_slice(&item.raster_size.0.to_le_bytes());
            r[84..88].copy_from_slice(&item.raster_size.1.to_le_bytes());
            catalogue.extend_from_slice(&r);
            paths.extend_from_slice(&item.path);
        }
        let tables = self
            .tables
            .iter_mut()
            .zip(TableId::ALL)
            .map(|(entries, table)| encode_table(table, entries))
            .collect::<Result<Vec<SectionOut>>>()?;
        self.supersedes.sort_unstable();
        self.supersedes.dedup();
        let plain = |kind, bytes, count, value_width| SectionOut {
            kind,
            aux: 0,
            bytes,
            count,
            key_width: 0,
            value_width,
            bits: 0,
        };
        let mut sections = vec![
            plain(SECTION_META, meta_json, 0, 0),
            plain(SECTION_CATALOGUE, catalogue, self.items.len(), RECORD),
            plain(SECTION_PATHS, paths, 0, 0),
        ];
        sections.extend(tables);
        sections.extend([
            plain(
                SECTION_SUPERSEDES,
                self.supersedes.concat(),
                self.supersedes.len(),
                SUPERSEDE,
            ),
            plain(
                SECTION_IMAGE_ROWS,
                self.image_rows.concat(),
                self.image_rows.len(),
                IMAGE_ROW,
            ),
        ]);

        let mut out = Vec::new();
        out.extend_from_slice(SEGMENT_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        out.extend_from_slice(&segment_id.to_le_bytes());
        out.extend_from_slice(&(params_json.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&params_json);
        pad8(&mut out);
        let mut offset = out.len() + sections.len() * DIR_ENTRY + HEADER_SUM;
        for s in &sections {
            out.extend_from_slice(&s.kind.to_le_bytes());
            out.extend_from_slice(&s.aux.to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            out.extend_from_slice(&(s.bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&(s.count as u64).to_le_bytes());
            out.extend_from_slice(&(s.key_width as u16).to_le_bytes());
            out.extend_from_slice(&(s.value_width as u16).to_le_bytes());
            out.extend_from_slice(&s.bits.to_le_bytes());
            out.extend_from_slice(blake3::hash(&s.bytes).as_bytes());
            offset += s.bytes.len().next_multiple_of(8);
        }
        let header_sum = blake3::hash(&out);
        out.extend_from_slice(header_sum.as_bytes());
        for s in &sections {
            out.extend_from_slice(&s.bytes);
            pad8(&mut out);
        }
        let checksum = blake3::hash(&out);
        out.extend_from_slice(checksum.as_bytes());
        out.extend_from_slice(FOOTER_MAGIC);

        write_durably(path, &out)?;
        Ok(out.len() as u64)
    }
}

/// Copies the entries of `table` whose reference (the big-endian u32 that
/// starts every value: an item, or an image row) `ids` maps to a new id,
/// with the new id written in.
fn copy_entries(out: &mut Entries, table: Option<TableView<'_>>, ids: &[Option<u32>]) {
    let Some(table) = table else {
        return;
    };
    let key_width = table.key_width();
    let mut entry = Vec::new();
    for (key, value) in table.iter() {
        if key_width + value.len() != out.width() {
            continue;
        }
        entry.clear();
        entry.extend_from_slice(&key);
        entry.extend_from_slice(value);
        let field = key_width;
        let old = u32::from_be_bytes(entry[field..field + 4].try_into().unwrap_or_default());
        if let Some(Some(new)) = ids.get(old as usize) {
            entry[field..field + 4].copy_from_slice(&new.to_be_bytes());
            out.push(&entry);
        }
    }
}

/// One section about to be written, with its directory fields.
struct SectionOut {
    kind: u32,
    aux: u32,
    bytes: Vec<u8>,
    count: usize,
    key_width: usize,
    value_width: usize,
    bits: u32,
}

fn encode_table(id: TableId, entries: &mut Entries) -> Result<SectionOut> {
    let (key_width, value_width) = id.widths();
    debug_assert_eq!(entries.width(), key_width + value_width, "{}", id.name());
    let (bytes, count, bits) = table::encode(entries).ok_or_else(|| {
        Error::InvalidOption(format!(
            "{} table of {} entries is too large for one segment (2^32 entries at most; compact fewer segments at a time, or lower segment_max_entries)",
            id.name(),
            entries.len()
        ))
    })?;
    Ok(SectionOut {
        kind: SECTION_TABLE,
        aux: id as u32,
        bytes,
        count,
        key_width,
        value_width,
        bits,
    })
}

/// Bytes of a chunk hash the chunk table keeps as its key (64 bits: with
/// ten billion chunks indexed, an outgoing chunk meets a false hit with
/// probability about 5e-10, and a match needs many chunks or a whole item).
pub const CHUNK_KEY_LEN: usize = 8;
/// Largest chunk offset a chunk entry holds (1 TiB); chunks of larger items
/// are stored at this offset (only the evidence's ranges are affected).
pub const MAX_CHUNK_OFFSET: u64 = (1 << 40) - 1;

/// A chunk table entry (20 bytes): the first [`CHUNK_KEY_LEN`] bytes of the
/// chunk hash | item u32 | length - 1 u24 | offset u40, big-endian.
pub fn chunk_entry(hash: &[u8], item: u32, len: u32, offset: u64) -> [u8; 20] {
    let mut e = [0u8; 20];
    e[..CHUNK_KEY_LEN].copy_from_slice(&hash[..CHUNK_KEY_LEN]);
    e[8..12].copy_from_slice(&item.to_be_bytes());
    e[12..15].copy_from_slice(&len.saturating_sub(1).min(0xFF_FFFF).to_be_bytes()[1..]);
    e[15..20].copy_from_slice(&offset.min(MAX_CHUNK_OFFSET).to_be_bytes()[3..]);
    e
}

/// The (item, length, offset) of a chunk table entry's value.
pub fn chunk_value(value: &[u8]) -> (u32, u32, u64) {
    let item = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
    let len = u32::from_be_bytes([0, value[4], value[5], value[6]]) + 1;
    let mut offset = [0u8; 8];
    offset[3..].copy_from_slice(&value[7..12]);
    (item, len, u64::from_be_bytes(offset))
}

/// Slots of the image multi-index: a PDQ hash is eight 32-bit words, each
/// stored as one table entry pointing at the hash's row.
pub const IMAGE_SLOTS: usize = 8;

/// Bytes of one image table entry: the 5-byte key and the row number.
pub(crate) const IMAGE_ENTRY: usize = 9;

/// The image table key for a slot (0..8) and its 32-bit value: 35 bits,
/// left-aligned in 5 bytes (slot first, so the fan-out's top bits are the
/// slot and then the value's evenly spread bits).
pub fn image_key(slot: usize, value: u32) -> [u8; 5] {
    let k = ((slot as u64) << 37) | ((value as u64) << 5);
    let b = k.to_be_bytes();
    [b[3], b[4], b[5], b[6], b[7]]
}

/// The slot and slot value an image table key holds (the inverse of
/// [`image_key`]).
pub fn image_key_parts(key: &[u8]) -> (usize, u32) {
    let mut b = [0u8; 8];
    b[3..].copy_from_slice(&key[..5]);
    let k = u64::from_be_bytes(b);
    ((k >> 37) as usize, (k >> 5) as u32)
}

/// One stored image hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRow {
    /// The item it belongs to.
    pub item: u32,
    /// Which part of the picture (`None` for an unknown stored code).
    pub region: Option<crate::fingerprint::image::Region>,
    /// Dihedral transform applied to the picture before hashing.
    pub variant: u8,
    /// PDQ quality.
    pub quality: u8,
    /// The hash.
    pub hash: crate::fingerprint::image::pdq::PdqHash,
}

fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

/// Writes `bytes` to `path` via a temporary file in the same directory:
/// write, fsync, rename, fsync the directory. On failure the temporary
/// file is removed (a full disk is not made fuller) and `path` is as it was.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let written = write_then_rename(&tmp, path, bytes);
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn write_then_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    faults::check(faults::Step::Create).map_err(|e| Error::io("creating", tmp, e))?;
    let mut file = owner_only(tmp).map_err(|e| Error::io("creating", tmp, e))?;
    faults::check_write(&mut file, bytes)
        .and_then(|()| file.write_all(bytes))
        .map_err(|e| Error::io("writing", tmp, e))?;
    faults::check(faults::Step::Sync)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("syncing", tmp, e))?;
    drop(file);
    faults::check(faults::Step::Rename)
        .and_then(|()| fs::rename(tmp, path))
        .map_err(|e| Error::io("renaming into place", path, e))
}

/// Storage faults for tests: a step of [`write_durably`] made to fail with
/// a chosen OS error (ENOSPC, EIO), after a number of calls that succeed.
/// Without `cfg(test)` every check is a no-op.
pub(crate) mod faults {
    use std::io;

    /// A step of a durable write.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[cfg_attr(not(test), allow(dead_code))]
    pub enum Step {
        /// Creating the temporary file.
        Create,
        /// Writing it (half the bytes land before the error).
        Write,
        /// fsync of the file.
        Sync,
        /// Renaming it into place.
        Rename,
        /// fsync of the directory after the rename.
        SyncDir,
    }

    #[cfg(test)]
    thread_local! {
        static NEXT: std::cell::Cell<Option<(Step, i32, u32)>> = const { std::cell::Cell::new(None) };
    }

    /// Makes the `skip + 1`-th `step` on this thread fail with OS error
    /// `errno`.
    #[cfg(test)]
    pub fn inject(step: Step, errno: i32, skip: u32) {
        NEXT.with(|n| n.set(Some((step, errno, skip))));
    }

    /// The injected error for `step`, if it is due.
    #[cfg(test)]
    pub fn check(step: Step) -> io::Result<()> {
        NEXT.with(|n| match n.get() {
            Some((s, errno, 0)) if s == step => {
                n.set(None);
                Err(io::Error::from_raw_os_error(errno))
            }
            Some((s, errno, skip)) if s == step => {
                n.set(Some((s, errno, skip - 1)));
                Ok(())
            }
            _ => Ok(()),
        })
    }

    /// As [`check`] for [`Step::Write`], writing half of `bytes` first
    /// when the fault is due (a disk filling part-way).
    #[cfg(test)]
    pub fn check_write(file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        check(Step::Write).or_else(|e| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(e)
        })
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub fn check(_: Step) -> io::Result<()> {
        Ok(())
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub fn check_write(_: &mut std::fs::File, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

/// Creates (truncating) a file only its owner can read and write: index
/// files hold the secret gear seed and fingerprints of protected data. A
/// file already there is made owner-only before anything is written.
pub fn owner_only(path: &Path) -> std::io::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    // The mode above applies only to a file this call creates.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| Error::io("opening", dir, e))?;
        faults::check(faults::Step::SyncDir)
            .and_then(|()| d.sync_all())
            .map_err(|e| Error::io("syncing", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[derive(Clone, Debug)]
struct TableLoc {
    range: Range<usize>,
    count: usize,
    key_width: usize,
    value_width: usize,
    bits: u32,
}

/// Where things are inside a segment file, as parsed from its header.
#[derive(Debug)]
struct Layout {
    id: u64,
    params: FingerprintParams,
    meta: Range<usize>,
    catalogue: Range<usize>,
    items: usize,
    paths: Range<usize>,
    supersedes: Range<usize>,
    supersede_count: usize,
    image_rows: Range<usize>,
    image_row_count: usize,
    tables: Vec<(TableId, TableLoc)>,
    /// Every section's range and BLAKE3, as the directory gives them.
    sums: Vec<(Range<usize>, [u8; 32])>,
}

/// An open, memory-mapped segment.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    map: Mapping,
    layout: Layout,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap_or_default())
}

impl Segment {
    /// Maps and parses a segment file, checking magic, version, structure
    /// and (if `checksum`) the footer checksum. Never panics on bad input.
    pub fn open(path: &Path, checksum: bool) -> Result<Segment> {
        let file = File::open(path).map_err(|e| Error::io("opening", path, e))?;
        let map = Mapping::of_file(&file).map_err(|e| Error::io("mapping", path, e))?;
        let layout = Layout::parse(path, &map, checksum)?;
        Ok(Segment {
            path: path.to_path_buf(),
            map,
            layout,
        })
    }
}

impl Layout {
    fn parse(path: &Path, b: &[u8], checksum: bool) -> Result<Layout> {
        let corrupt = |d: &str| Error::corrupt(path, d);
        if b.len() < HEADER_FIXED + FOOTER || &b[..8] != SEGMENT_MAGIC {
            return Err(corrupt("not a pugmark segment (bad magic or too short)"));
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(Error::IndexVersion {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let body_end = b.len() - FOOTER;
        if &b[body_end + 32..] != FOOTER_MAGIC {
            return Err(corrupt("footer magic missing (truncated file?)"));
        }
        if checksum && blake3::hash(&b[..body_end]).as_bytes() != &b[body_end..body_end + 32] {
            return Err(corrupt("checksum mismatch"));
        }
        let section_count = u32_at(b, 12) as usize;
        let id = u64_at(b, 16);
        let params_len = u32_at(b, 24) as usize;
        let params_end = HEADER_FIXED
            .checked_add(params_len)
            .filter(|&e| e <= body_end)
            .ok_or_else(|| corrupt("parameters overrun the file"))?;
        let params: FingerprintParams = serde_json::from_slice(&b[HEADER_FIXED..params_end])
            .map_err(|e| corrupt(&format!("unreadable parameters: {e}")))?;
        let dir_start = params_end.next_multiple_of(8);
        let dir_end = section_count
            .checked_mul(DIR_ENTRY)
            .and_then(|n| n.checked_add(dir_start))
            .filter(|&e| e + HEADER_SUM <= body_end)
            .ok_or_else(|| corrupt("section directory overruns the file"))?;
        if blake3::hash(&b[..dir_end]).as_bytes() != &b[dir_end..dir_end + HEADER_SUM] {
            return Err(corrupt("header checksum mismatch"));
        }
        let sections_start = dir_end + HEADER_SUM;
        let mut seg = Layout {
            id,
            params,
            meta: 0..0,
            catalogue: 0..0,
            items: 0,
            paths: 0..0,
            supersedes: 0..0,
            supersede_count: 0,
            image_rows: 0..0,
            image_row_count: 0,
            tables: Vec::new(),
            sums: Vec::new(),
        };
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for s in 0..section_count {
            let d = dir_start + s * DIR_ENTRY;
            let kind = u32_at(b, d);
            let aux = u32_at(b, d + 4);
            let off = u64_at(b, d + 8);
            let len = u64_at(b, d + 16);
            let count = u64_at(b, d + 24);
            let kw = u16_at(b, d + 32) as usize;
            let vw = u16_at(b, d + 34) as usize;
            let bits = u32_at(b, d + 36);
            let sum: [u8; 32] = b[d + 40..d + 72].try_into().unwrap_or_default();
            let range = usize::try_from(off)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| Some(o..o.checked_add(l)?))
                .filter(|r| r.start >= sections_start && r.end <= body_end)
                .ok_or_else(|| corrupt(&format!("section {s} lies outside the file")))?;
            seg.sums.push((range.clone(), sum));
            // What decides whether an item is live is checked at every open.
            if matches!(kind, SECTION_META | SECTION_SUPERSEDES)
                && blake3::hash(&b[range.clone()]).as_bytes() != &sum
            {
                return Err(corrupt(&format!("section {s} checksum mismatch")));
            }
            let count = usize::try_from(count).map_err(|_| corrupt("count too large"))?;
            match kind {
                SECTION_META => seg.meta = range,
                SECTION_CATALOGUE => {
                    if vw != RECORD || count.checked_mul(RECORD) != Some(range.len()) {
                        return Err(corrupt("catalogue size does not match its count"));
                    }
                    seg.catalogue = range;
                    seg.items = count;
                }
                SECTION_PATHS => seg.paths = range,
                SECTION_TABLE => {
                    let table = TableId::from_u32(aux)
                        .ok_or_else(|| corrupt(&format!("unknown table {aux}")))?;
                    if (kw, vw) != table.widths() {
                        return Err(corrupt(&format!(
                            "{} table has wrong entry widths",
                            table.name()
                        )));
                    }
                    if TableView::new(&b[range.clone()], count, kw, vw, bits).is_none() {
                        return Err(corrupt(&format!(
                            "{} table size does not match its count",
                            table.name()
                        )));
                    }
                    let loc = TableLoc {
                        range,
                        count,
                        key_width: kw,
                        value_width: vw,
                        bits,
                    };
                    seg.tables.push((table, loc));
                }
                SECTION_SUPERSEDES => {
                    if vw != SUPERSEDE || count.checked_mul(SUPERSEDE) != Some(range.len()) {
                        return Err(corrupt("supersedes size does not match its count"));
                    }
                    seg.supersedes = range;
                    seg.supersede_count = count;
                }
                SECTION_IMAGE_ROWS => {
                    if vw != IMAGE_ROW || count.checked_mul(IMAGE_ROW) != Some(range.len()) {
                        return Err(corrupt("image rows size does not match their count"));
                    }
                    seg.image_rows = range;
                    seg.image_row_count = count;
                }
                other => return Err(corrupt(&format!("unknown section kind {other}"))),
            }
            let aux = if kind == SECTION_TABLE { aux } else { 0 };
            if seen.contains(&(kind, aux)) {
                return Err(corrupt(&format!("section kind {kind} appears twice")));
            }
            seen.push((kind, aux));
        }
        let mut required: Vec<(u32, u32)> = [
            SECTION_META,
            SECTION_CATALOGUE,
            SECTION_PATHS,
            SECTION_SUPERSEDES,
            SECTION_IMAGE_ROWS,
        ]
        .iter()
        .map(|&k| (k, 0))
        .collect();
        required.extend(TableId::ALL.iter().map(|&t| (SECTION_TABLE, t as u32)));
        if required.iter().any(|r| !seen.contains(r)) {
            return Err(corrupt("a required section is missing"));
        }
        Ok(seg)
    }
}

impl Segment {
    /// The file this segment was read from.
    #[cfg(feature = "internals")]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's id, unique within its index.
    pub fn id(&self) -> u64 {
        self.layout.id
    }

    /// The fingerprint parameters in the header.
    pub fn params(&self) -> &FingerprintParams {
        &self.layout.params
    }

    /// Number of items in the catalogue.
    pub fn item_count(&self) -> usize {
        self.layout.items
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    fn record_bytes(&self, i: usize) -> &[u8] {
        let start = self.layout.catalogue.start + i * RECORD;
        &self.map[start..start + RECORD]
    }

    /// Catalogue record `i` (which must be < [`item_count`](Self::item_count)).
    pub fn item(&self, i: usize) -> ItemRecord {
        let r = self.record_bytes(i);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&r[..32]);
        // A damaged record (found by `verify`) gives an empty path, never a
        // read outside the path heap.
        let heap = &self.map[self.layout.paths.clone()];
        let (off, len) = (u64_at(r, 48), u32_at(r, 56) as u64);
        let path = usize::try_from(off)
            .ok()
            .zip(usize::try_from(off.saturating_add(len)).ok())
            .and_then(|(start, end)| heap.get(start..end))
            .unwrap_or_default();
        ItemRecord {
            path: path.to_vec(),
            size: u64_at(r, 32),
            mtime_ns: u64_at(r, 40) as i64,
            digest,
            kind: Kind::from_code(r[72]),
            flags: r[73],
            raster_size: (u32_at(r, 80), u32_at(r, 84)),
            records: u32_at(r, 74),
            chunk_count: u32_at(r, 60),
            matchable_bytes: u64_at(r, 64),
        }
    }

    /// Size of item `i` without decoding the whole record.
    pub fn item_size(&self, i: usize) -> u64 {
        u64_at(self.record_bytes(i), 32)
    }

    /// The table for a signal.
    pub fn table(&self, id: TableId) -> Option<TableView<'_>> {
        let (_, loc) = self.layout.tables.iter().find(|(t, _)| *t == id)?;
        TableView::new(
            &self.map[loc.range.clone()],
            loc.count,
            loc.key_width,
            loc.value_width,
            loc.bits,
        )
    }

    /// Bytes the table for a signal takes in the file (fan-out and entries).
    pub fn table_bytes(&self, id: TableId) -> u64 {
        self.layout
            .tables
            .iter()
            .find(|(t, _)| *t == id)
            .map_or(0, |(_, loc)| loc.range.len() as u64)
    }

    /// Bytes the stored image hash rows take.
    pub fn image_row_bytes_total(&self) -> u64 {
        self.layout.image_rows.len() as u64
    }

    /// Number of stored image hashes.
    pub fn image_row_count(&self) -> usize {
        self.layout.image_row_count
    }

    /// Hamming distance between stored image hash `i` (which must be <
    /// [`image_row_count`](Self::image_row_count)) and a hash given as four
    /// big-endian words, without decoding the rest of the row.
    pub fn image_row_distance(&self, i: usize, words: &[u64; 4]) -> u32 {
        let r = &self.image_row_bytes(i)[8..];
        let mut d = 0;
        for (w, chunk) in words.iter().zip(r.chunks_exact(8)) {
            d += (w ^ u64::from_be_bytes(chunk.try_into().unwrap_or_default())).count_ones();
        }
        d
    }

    fn image_row_bytes(&self, i: usize) -> &[u8] {
        &self.map[self.layout.image_rows.start + i * IMAGE_ROW..][..IMAGE_ROW]
    }

    /// Stored image hash `i` (which must be < [`image_row_count`](Self::image_row_count)).
    pub fn image_row(&self, i: usize) -> ImageRow {
        let r = &self.map[self.layout.image_rows.start + i * IMAGE_ROW..][..IMAGE_ROW];
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&r[8..]);
        ImageRow {
            item: u32_at(r, 0),
            region: crate::fingerprint::image::Region::decode(r[7] >> 4, u16_at(r, 4)),
            variant: r[7] & 15,
            quality: r[6],
            hash: crate::fingerprint::image::pdq::PdqHash(hash),
        }
    }

    /// `(segment id, item)` pairs this segment replaces.
    pub fn supersedes(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..self.layout.supersede_count).map(move |i| {
            let at = self.layout.supersedes.start + i * SUPERSEDE;
            (u64_at(&self.map, at), u32_at(&self.map, at + 8))
        })
    }

    /// The segment's free-form metadata (tool, time, skipped paths).
    pub fn meta(&self) -> serde_json::Value {
        serde_json::from_slice(&self.map[self.layout.meta.clone()])
            .unwrap_or(serde_json::Value::Null)
    }

    /// Deep check: checksum, table order and fan-out, item references.
    pub fn verify(&self) -> Result<()> {
        let corrupt = |d: String| Error::corrupt(&self.path, d);
        let body_end = self.map.len() - FOOTER;
        if blake3::hash(&self.map[..body_end]).as_bytes() != &self.map[body_end..body_end + 32] {
            return Err(corrupt("checksum mismatch".into()));
        }
        for (s, (range, sum)) in self.layout.sums.iter().enumerate() {
            if blake3::hash(&self.map[range.clone()]).as_bytes() != sum {
                return Err(corrupt(format!("section {s} checksum mismatch")));
            }
        }
        // Every catalogue path must lie in the path heap.
        for i in 0..self.layout.items {
            let r = self.record_bytes(i);
            let (off, len) = (u64_at(r, 48), u32_at(r, 56) as u64);
            if off
                .checked_add(len)
                .is_none_or(|end| end > self.layout.paths.len() as u64)
            {
                return Err(corrupt(format!(
                    "item {i} has a path outside the path heap"
                )));
            }
        }
        if serde_json::from_slice::<serde_json::Value>(&self.map[self.layout.meta.clone()]).is_err()
        {
            return Err(corrupt("metadata is not JSON".into()));
        }
        for (id, _) in &self.layout.tables {
            let view = self
                .table(*id)
                .ok_or_else(|| corrupt(format!("{} table unreadable", id.name())))?;
            view.check()
                .map_err(|d| corrupt(format!("{} table: {d}", id.name())))?;
            for (i, (key, value)) in view.iter().enumerate() {
                let target = u32::from_be_bytes(value[..4].try_into().unwrap_or_default()) as usize;
                if *id != TableId::Image {
                    if target >= self.layout.items {
                        return Err(corrupt(format!(
                            "{} entry {i} names item {target} of {}",
                            id.name(),
                            self.layout.items
                        )));
                    }
                    continue;
                }
                if target >= self.layout.image_row_count {
                    return Err(corrupt(format!("image entry {i} names row {target}")));
                }
                let row = self.image_row(target);
                let (slot, _) = image_key_parts(&key);
                if *key != image_key(slot, row.hash.slot(slot)) {
                    return Err(corrupt(format!("image entry {i} does not match its row")));
                }
            }
        }
        for i in 0..self.layout.image_row_count {
            let row = self.image_row(i);
            if row.item as usize >= self.layout.items || row.region.is_none() || row.variant > 7 {
                return Err(corrupt(format!("image row {i} is invalid")));
            }
        }
        for i in 0..self.layout.items {
            if Kind::from_code(self.record_bytes(i)[72]).is_none() {
                return Err(corrupt(format!("item {i} has an unknown kind code")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_entries_round_trip_and_saturate() {
        let hash = [7u8; 16];
        for (len, offset) in [
            (1u32, 0u64),
            (65_536, 123_456_789),
            (1 << 24, MAX_CHUNK_OFFSET),
        ] {
            let e = chunk_entry(&hash, 42, len, offset);
            assert_eq!(&e[..CHUNK_KEY_LEN], &hash[..CHUNK_KEY_LEN]);
            assert_eq!(chunk_value(&e[CHUNK_KEY_LEN..]), (42, len, offset));
        }
        // Past 1 TiB the offset is held at the largest one.
        let e = chunk_entry(&hash, 1, 4096, 1 << 41);
        assert_eq!(chunk_value(&e[CHUNK_KEY_LEN..]).2, MAX_CHUNK_OFFSET);
        assert_eq!(TableId::Chunks.widths().0 + TableId::Chunks.widths().1, 20);
    }
}
