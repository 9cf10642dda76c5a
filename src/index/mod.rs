//! Where fingerprints are stored: an embedded index in one directory.
//!
//! ```text
//! DIR/MANIFEST        live segments and the fingerprint parameters (JSON +
//!                     BLAKE3 line), replaced atomically
//! DIR/LOCK            advisory lock held by the one writer
//! DIR/seg-NNNNNN.pgs  immutable segments (see [`segment`])
//! ```
//! Readers map segments and never take the lock: segments never change and
//! the manifest is swapped by rename. A newer segment may *supersede* items of
//! older ones (a file that changed since it was indexed).
//!
//! Each signal's table entries, lookups and evidence are one module of
//! `signals`; the segment builder and the scanner's matcher run them from
//! its registry.

internal_mod!(manifest);
internal_mod!(segment);
pub(crate) mod signals;
internal_mod!(table);
mod writer;

#[cfg(test)]
mod fault_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use manifest::Manifest;
use segment::Segment;
pub use segment::{ImageRow, ItemRecord, FORMAT_VERSION};

/// Segments with at most this many image hashes are searched by comparing
/// every hash (about 3 ns each, in order) rather than by the multi-index
/// (up to 12,496 fan-out buckets read, each a random read): below this the
/// comparison is the faster of the two (the `image_scale` bench at 20,000
/// photos, 260,000 hashes: about equal, 0.7 ms a query either way).
pub const IMAGE_SCAN_ROWS: usize = 1 << 18;

/// How [`Index::lookup_image_with`] searches a segment's image hashes. Every
/// way gives the same, exact answer; they differ in speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageSearch {
    /// Compare every hash in segments of at most [`IMAGE_SCAN_ROWS`] hashes,
    /// use the multi-index in larger ones (what scans use).
    Auto,
    /// Use the multi-index wherever the distance allows it (at most 31).
    MultiIndex,
    /// Compare every stored hash (the brute-force reference).
    Scan,
}

use table::TableId;
pub use writer::{
    AddOutcome, CompactSummary, IndexOptions, IndexSummary, IndexWriter, TIER_FANIN,
    TIER_MAX_MERGE_BYTES,
};

use crate::error::{Error, Result};
use crate::fingerprint::image::pdq::PdqHash;
use crate::fingerprint::raster::GeoInfo;
use crate::fingerprint::FingerprintParams;

/// The environment variable naming the default index directory.
pub const INDEX_ENV: &str = "PUGMARK_INDEX";
/// The index directory used when neither `--index` nor [`INDEX_ENV`] is set.
pub const DEFAULT_INDEX_DIR: &str = ".pugmark";

/// The fingerprint parameters of the index in `dir` (its manifest read and
/// checked, no segment opened), or `None` when `dir` holds no index.
pub fn stored_params(dir: &Path) -> Result<Option<FingerprintParams>> {
    if !Manifest::exists(dir) {
        return Ok(None);
    }
    Ok(Some(Manifest::load(dir)?.params))
}

/// Resolves the index directory: the explicit one, else `$PUGMARK_INDEX`,
/// else `./.pugmark`.
pub fn resolve_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    match std::env::var_os(INDEX_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_INDEX_DIR),
    }
}

/// When the bodies of an index's segments (tables, catalogue, image rows)
/// are checked against their checksums. Headers, directories and the
/// sections that decide which items are live are checked at every open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyCheck {
    /// Before [`Index::open`] returns (damage is an error): one BLAKE3 pass
    /// over the index, so opening costs time in proportion to its size.
    AtOpen,
    /// In a background thread after open: damage found makes every later
    /// scan through this index an `error` (see [`Index::damage`]). For
    /// long-running readers (a server, a gateway).
    Background,
    /// At open when the index is at most [`AUTO_CHECK_AT_OPEN_BYTES`], else
    /// in the background (the default).
    Auto,
    /// Never (a damaged body may give wrong answers); for `verify`, which
    /// checks everything itself, and for measurements.
    HeadersOnly,
}

/// Largest index whose bodies [`BodyCheck::Auto`] checks at open (256 MiB:
/// about 50 ms of BLAKE3 on one core).
pub const AUTO_CHECK_AT_OPEN_BYTES: u64 = 256 << 20;

/// Options for opening an index for reading.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenOptions {
    /// When segment bodies are checked (default [`BodyCheck::Auto`]).
    pub body_check: BodyCheck,
}

option_setters!(OpenOptions {
    with_body_check: body_check: BodyCheck,
});

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            body_check: BodyCheck::Auto,
        }
    }
}

/// What the background body check found so far.
#[derive(Debug, Default)]
struct Health {
    /// 0 running (or not started), 1 every body checked and sound, 2 damage.
    state: std::sync::atomic::AtomicU8,
    detail: std::sync::Mutex<Option<String>>,
}

/// A reference to one protected item: segment position and item id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    /// Position of the segment in the index (oldest first).
    pub segment: u32,
    /// Item id inside that segment.
    pub item: u32,
}

/// A read-only snapshot of an index: the segments live when it was opened.
/// It is `Send + Sync`; share it across threads.
#[derive(Debug)]
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    segments: std::sync::Arc<[Segment]>,
    health: std::sync::Arc<Health>,
    live_items: u64,
    superseded: Vec<Vec<bool>>,
    raster_geo: HashMap<ItemRef, GeoInfo>,
    /// Bits set by every raster window anchor's hash, built at the first
    /// raster looked up (not at open: its cost grows with the index).
    anchor_bits: std::sync::OnceLock<AnchorBits>,
    /// How it was opened, for [`reopen`](Self::reopen).
    opened_with: OpenOptions,
}

/// A blocked Bloom filter of raster anchor hashes: two bits in one 64-bit
/// word per hash, about 16 bits per anchor (at most [`ANCHOR_BITS_MAX`]
/// bytes), so that most of the blocks an outgoing raster looks up are
/// answered from cache instead of a table read (about 1.5% pass falsely
/// and are then looked up).
#[derive(Debug)]
struct AnchorBits {
    words: Vec<u64>,
}

/// Largest anchor filter (64 MiB): past about 32 M anchors it keeps this
/// size and lets more lookups through to the tables.
const ANCHOR_BITS_MAX: usize = 64 << 20;

impl AnchorBits {
    fn build(segments: &[Segment]) -> AnchorBits {
        let tables = || {
            segments
                .iter()
                .filter_map(|s| s.table(TableId::RasterAnchors))
        };
        let mut bits = AnchorBits::for_anchors(tables().map(|t| t.len()).sum());
        for table in tables() {
            for (key, _) in table.iter() {
                bits.insert(u64::from_be_bytes(key[..8].try_into().unwrap_or_default()));
            }
        }
        bits
    }

    /// An empty filter sized for `anchors` hashes.
    fn for_anchors(anchors: usize) -> AnchorBits {
        let words = (anchors.saturating_mul(16) / 64)
            .clamp(1, ANCHOR_BITS_MAX / 8)
            .next_power_of_two();
        AnchorBits {
            words: vec![0; words],
        }
    }

    fn insert(&mut self, hash: u64) {
        let (word, mask) = self.place(hash);
        self.words[word] |= mask;
    }

    /// The word and the two bits of a hash (the table key is the hash's
    /// top bytes; the word comes from its low bits).
    fn place(&self, hash: u64) -> (usize, u64) {
        let word = (hash as usize) & (self.words.len() - 1);
        let mask = 1u64 << ((hash >> 40) & 63) | 1u64 << ((hash >> 46) & 63);
        (word, mask)
    }

    fn may_hold(&self, hash: u64) -> bool {
        let (word, mask) = self.place(hash);
        self.words[word] & mask == mask
    }
}

/// The outgoing side of a scan looks up every block of a raster: it keeps
/// the blocks some segment's window-anchor table holds (dead items
/// included; the matcher skips them).
impl crate::fingerprint::raster::AnchorFilter for Index {
    fn may_hold(&self, hash: u64) -> bool {
        let bits = self
            .anchor_bits
            .get_or_init(|| AnchorBits::build(&self.segments));
        if !bits.may_hold(hash) {
            return false;
        }
        let key = hash.to_be_bytes();
        self.segments.iter().any(|s| {
            s.table(TableId::RasterAnchors)
                .is_some_and(|t| !t.find(&key).is_empty())
        })
    }
}

impl Index {
    /// Opens the index in `dir`, checking versions, parameters and (by
    /// default) checksums of every segment.
    pub fn open(dir: &Path, opts: &OpenOptions) -> Result<Index> {
        // A compaction may remove a segment between our reading the
        // manifest and opening the segment: then the manifest has changed,
        // and reading it again gives a consistent set.
        let mut attempts = 0;
        loop {
            match Self::open_once(dir, opts) {
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && attempts < 8 =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    fn open_once(dir: &Path, opts: &OpenOptions) -> Result<Index> {
        let manifest = Manifest::load(dir)?;
        let total: u64 = manifest.segments.iter().map(|s| s.bytes).sum();
        let at_open = match opts.body_check {
            BodyCheck::AtOpen => true,
            BodyCheck::Auto => total <= AUTO_CHECK_AT_OPEN_BYTES,
            BodyCheck::Background | BodyCheck::HeadersOnly => false,
        };
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for seg_ref in &manifest.segments {
            let path = dir.join(&seg_ref.file);
            let segment = Segment::open(&path, at_open)?;
            if segment.id() != seg_ref.id {
                return Err(Error::corrupt(
                    &path,
                    format!(
                        "segment id {} but manifest says {}",
                        segment.id(),
                        seg_ref.id
                    ),
                ));
            }
            if let Some(d) = segment.params().difference(&manifest.params) {
                return Err(Error::ParamsMismatch {
                    path,
                    detail: format!(
                        "the segment has {} {}, its manifest {}",
                        d.name, d.this, d.other
                    ),
                });
            }
            segments.push(segment);
        }
        let position: HashMap<u64, usize> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id(), i))
            .collect();
        let mut superseded: Vec<Vec<bool>> = segments
            .iter()
            .map(|s| vec![false; s.item_count()])
            .collect();
        for seg in &segments {
            for (old_seg, item) in seg.supersedes() {
                if let Some(&pos) = position.get(&old_seg) {
                    if let Some(flag) = superseded[pos].get_mut(item as usize) {
                        *flag = true;
                    }
                }
            }
        }
        let mut raster_geo = HashMap::new();
        for (s, seg) in segments.iter().enumerate() {
            let geo: Vec<(u32, GeoInfo)> = seg
                .meta()
                .get("raster_geo")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            for (item, g) in geo {
                raster_geo.insert(
                    ItemRef {
                        segment: s as u32,
                        item,
                    },
                    g,
                );
            }
        }
        let live_items = superseded
            .iter()
            .map(|s| s.iter().filter(|x| !**x).count() as u64)
            .sum();
        let segments: std::sync::Arc<[Segment]> = segments.into();
        let health = std::sync::Arc::new(Health::default());
        let background = match opts.body_check {
            BodyCheck::Background => true,
            BodyCheck::Auto => !at_open,
            BodyCheck::AtOpen | BodyCheck::HeadersOnly => false,
        };
        if at_open {
            health.state.store(1, std::sync::atomic::Ordering::Release);
        } else if background {
            let (segs, health) = (segments.clone(), health.clone());
            let spawned = std::thread::Builder::new()
                .name("pugmark-index-check".into())
                .spawn(move || check_bodies(&segs, &health));
            if let Err(e) = spawned {
                return Err(Error::io("starting the index check", dir, e));
            }
        }
        Ok(Index {
            opened_with: opts.clone(),
            anchor_bits: std::sync::OnceLock::new(),
            raster_geo,
            dir: dir.to_path_buf(),
            manifest,
            segments,
            health,
            live_items,
            superseded,
        })
    }

    /// Damage the body check found (segment file and what is wrong), if
    /// any: every scan through this index is then an `error`.
    pub fn damage(&self) -> Option<String> {
        if self.health.state.load(std::sync::atomic::Ordering::Acquire) != 2 {
            return None;
        }
        self.health.detail.lock().ok().and_then(|d| d.clone())
    }

    /// Whether every segment body has been checked and found sound.
    pub fn bodies_checked(&self) -> bool {
        self.health.state.load(std::sync::atomic::Ordering::Acquire) == 1
    }

    /// Ids of the live items of the segment at position `segment` (the
    /// storage layer: public to this package's tests and benchmarks only).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn live_in(&self, segment: usize) -> impl Iterator<Item = u32> + '_ {
        self.live_items_of(segment)
    }

    /// Ids of the live items of the segment at position `segment`.
    pub(crate) fn live_items_of(&self, segment: usize) -> impl Iterator<Item = u32> + '_ {
        let flags = self.superseded.get(segment).map_or(&[][..], |f| &f[..]);
        (0..flags.len() as u32).filter(move |&i| !flags[i as usize])
    }

    /// Live protected items (cheap: counted at open).
    pub fn live_items(&self) -> u64 {
        self.live_items
    }

    /// Whether the index on disk is no longer the one this handle opened: a
    /// writer has committed, merged or compacted since (or the manifest is
    /// gone or unreadable). A long-running scanner polls this and reopens
    /// (see [`Scanner::reopen`](crate::Scanner::reopen)); this handle
    /// itself keeps answering from the segments it mapped.
    pub fn changed_on_disk(&self) -> bool {
        Manifest::load(&self.dir).map_or(true, |m| m != self.manifest)
    }

    /// A short identity of the snapshot this handle opened (16 hex digits
    /// of the manifest's BLAKE3 digest): it changes whenever a writer
    /// commits, merges or compacts, so a server can name the index version
    /// it answers with (ICAP's `ISTag`).
    pub fn snapshot_id(&self) -> String {
        let manifest = serde_json::to_vec(&self.manifest).unwrap_or_default();
        blake3::hash(&manifest).to_hex()[..16].to_string()
    }

    /// Opens the index in the same directory again, with the same options:
    /// the index as it is on disk now. This handle is unchanged.
    pub fn reopen(&self) -> Result<Index> {
        Index::open(&self.dir, &self.opened_with)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The fingerprint parameters every segment was built with.
    pub fn params(&self) -> &FingerprintParams {
        &self.manifest.params
    }

    /// The live segments, oldest first (the storage layer: public to this
    /// package's tests and benchmarks only).
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The live segments, oldest first.
    #[cfg(not(feature = "internals"))]
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether an item is current (not replaced by a newer version).
    pub fn is_live(&self, r: ItemRef) -> bool {
        self.superseded
            .get(r.segment as usize)
            .and_then(|s| s.get(r.item as usize))
            .is_some_and(|superseded| !superseded)
    }

    /// The catalogue record of an item.
    pub fn item(&self, r: ItemRef) -> ItemRecord {
        self.segments[r.segment as usize].item(r.item as usize)
    }

    /// Georeferencing of a protected raster, when it had any.
    pub fn raster_geo(&self, r: ItemRef) -> Option<&GeoInfo> {
        self.raster_geo.get(&r)
    }

    /// Size in bytes of an item.
    pub fn item_size(&self, r: ItemRef) -> u64 {
        self.segments[r.segment as usize].item_size(r.item as usize)
    }

    /// Names (as evidence gives them) of the live protected items holding
    /// the table record whose hash is `hash` (see
    /// [`records::record_rows`](crate::fingerprint::records::record_rows)).
    pub fn record_holders(&self, hash: u64) -> Vec<String> {
        signals::record_holders(self, hash)
    }

    /// Live items whose whole-content digest is `digest`.
    pub fn lookup_exact(&self, digest: &[u8; 32]) -> Vec<ItemRef> {
        let mut found = Vec::new();
        for (s, seg) in self.segments.iter().enumerate() {
            let Some(table) = seg.table(TableId::Exact) else {
                continue;
            };
            for i in table.find(digest) {
                let item = u32::from_be_bytes(table.value(i)[..4].try_into().unwrap_or_default());
                let r = ItemRef {
                    segment: s as u32,
                    item,
                };
                if self.is_live(r) {
                    found.push(r);
                }
            }
        }
        found
    }

    /// Live stored image hashes within `max_distance` bits of `query`.
    ///
    /// A segment with few hashes (at most [`IMAGE_SCAN_ROWS`]) is compared
    /// hash by hash. A larger one is searched by multi-index hashing: the
    /// 256 bits are eight 32-bit slots, and two hashes within 8 * (r + 1) - 1
    /// bits agree to within r bits on some slot (pigeonhole), so probing
    /// every slot value within r bits of the query's finds all of them. r is
    /// at most 3, enough for distances up to 31;
    /// larger distances are answered by comparing every hash. Either way
    /// the answer is exact: every live hash within the distance, no other.
    pub fn lookup_image(&self, query: &PdqHash, max_distance: u32) -> Vec<ImageHit> {
        self.lookup_image_with(query, max_distance, ImageSearch::Auto)
    }

    /// [`lookup_image`](Self::lookup_image) with the search chosen by the
    /// caller (benchmarks and tests compare the ways).
    pub fn lookup_image_with(
        &self,
        query: &PdqHash,
        max_distance: u32,
        search: ImageSearch,
    ) -> Vec<ImageHit> {
        let scan_rows = match search {
            ImageSearch::Auto => IMAGE_SCAN_ROWS,
            ImageSearch::MultiIndex => 0,
            ImageSearch::Scan => usize::MAX,
        };
        let radius = max_distance / segment::IMAGE_SLOTS as u32;
        let words: [u64; 4] = std::array::from_fn(|i| {
            u64::from_be_bytes(query.0[8 * i..8 * i + 8].try_into().unwrap_or_default())
        });
        let mut hits = Vec::new();
        let mut rows: Vec<u32> = Vec::new();
        for (s, seg) in self.segments.iter().enumerate() {
            let count = seg.image_row_count();
            let mut consider = |r: usize| {
                let distance = seg.image_row_distance(r, &words);
                if distance > max_distance {
                    return;
                }
                let row = seg.image_row(r);
                let item = ItemRef {
                    segment: s as u32,
                    item: row.item,
                };
                if self.is_live(item) {
                    hits.push(ImageHit {
                        item,
                        row,
                        distance,
                    });
                }
            };
            match seg.table(TableId::Image) {
                Some(table) if radius <= 3 && count > scan_rows => {
                    rows.clear();
                    image_candidates(&table, query, radius, &mut rows);
                    rows.sort_unstable();
                    rows.dedup();
                    rows.iter()
                        .map(|&r| r as usize)
                        .filter(|&r| r < count)
                        .for_each(&mut consider);
                }
                _ => (0..count).for_each(consider),
            }
        }
        hits
    }

    /// Counts and sizes for `pugmark stats`.
    pub fn stats(&self) -> IndexStats {
        let mut stats = IndexStats {
            dir: self.dir.display().to_string(),
            format_version: FORMAT_VERSION,
            params: self.params().redacted(),
            segments: self.segments.len() as u64,
            ..IndexStats::default()
        };
        let mut disk =
            std::fs::metadata(self.dir.join(manifest::MANIFEST_FILE)).map_or(0, |m| m.len());
        for (s, seg) in self.segments.iter().enumerate() {
            disk += seg.file_len();
            for i in 0..seg.item_count() {
                let r = ItemRef {
                    segment: s as u32,
                    item: i as u32,
                };
                if self.is_live(r) {
                    stats.items += 1;
                    stats.bytes += seg.item_size(i);
                    if seg.item(i).flags & segment::FLAG_PARTIAL != 0 {
                        stats.partial_items += 1;
                    }
                } else {
                    stats.superseded_items += 1;
                }
            }
            for id in TableId::ALL {
                let n = seg.table(id).map_or(0, |t| t.len() as u64);
                *stats
                    .table_entries
                    .entry(id.name().to_string())
                    .or_default() += n;
                *stats.table_bytes.entry(id.name().to_string()).or_default() += seg.table_bytes(id);
            }
            *stats.table_bytes.entry("image_rows".into()).or_default() +=
                seg.image_row_bytes_total();
            // Bands per live raster, from the band digests (one per band).
            let mut bands: HashMap<u32, u64> = HashMap::new();
            if let Some(t) = seg.table(TableId::RasterBands) {
                for i in 0..t.len() {
                    let v = t.value(i);
                    let item = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                    bands.insert(item, u16::from_be_bytes([v[6], v[7]]) as u64);
                }
            }
            for i in self.live_items_of(s) {
                let rec = seg.item(i as usize);
                let (w, h) = rec.raster_size;
                stats.raster_samples += w as u64 * h as u64 * bands.get(&i).copied().unwrap_or(1);
                stats.records += rec.records as u64;
                if rec
                    .kind
                    .is_some_and(|k| k.family() == crate::sniff::Family::Image)
                {
                    stats.photos += 1;
                }
            }
            if let Some(skipped) = seg.meta().get("skipped").and_then(|s| s.as_array()) {
                stats.skipped_when_indexed += skipped.len() as u64;
            }
        }
        stats.disk_bytes = disk;
        let per = |part: u64, whole: u64| {
            if whole == 0 {
                None
            } else {
                Some(part as f64 / whole as f64)
            }
        };
        let table = |names: &[&str]| -> u64 {
            names
                .iter()
                .map(|n| stats.table_bytes.get(*n).copied().unwrap_or(0))
                .sum()
        };
        stats.index_bytes_per_protected_byte = per(disk, stats.bytes);
        stats.raster_bytes_per_sample = per(
            table(&["raster_anchors", "raster_bands"]),
            stats.raster_samples,
        );
        stats.record_bytes_per_record = per(
            table(&["records", "records_rounded", "records_projected"]),
            stats.records,
        );
        stats.image_bytes_per_photo = per(table(&["image", "image_rows"]), stats.photos);
        stats
    }
}

/// The background body check: every segment's checksums and structure.
fn check_bodies(segments: &[Segment], health: &Health) {
    use std::sync::atomic::Ordering;
    for seg in segments {
        if let Err(e) = seg.verify() {
            if let Ok(mut d) = health.detail.lock() {
                *d = Some(e.to_string());
            }
            health.state.store(2, Ordering::Release);
            return;
        }
    }
    health.state.store(1, Ordering::Release);
}

/// A stored image hash found near a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageHit {
    /// The protected item.
    pub item: ItemRef,
    /// The stored hash (region, quality).
    pub row: ImageRow,
    /// Hamming distance to the query.
    pub distance: u32,
}

/// What `pugmark stats` shows.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct IndexStats {
    /// Index directory.
    pub dir: String,
    /// Format version.
    pub format_version: u32,
    /// Fingerprint parameters (seed hidden).
    pub params: serde_json::Value,
    /// Live segments.
    pub segments: u64,
    /// Live protected items.
    pub items: u64,
    /// Bytes of live protected items.
    pub bytes: u64,
    /// Live items whose deep signals could not all run.
    pub partial_items: u64,
    /// Items replaced by newer versions.
    pub superseded_items: u64,
    /// Paths passed over when indexing (recorded in segment metadata).
    pub skipped_when_indexed: u64,
    /// Entries per signal table.
    pub table_entries: std::collections::BTreeMap<String, u64>,
    /// Bytes per signal table (fan-out and entries), and of the image rows.
    pub table_bytes: std::collections::BTreeMap<String, u64>,
    /// Samples of live protected rasters (width x height x bands).
    pub raster_samples: u64,
    /// Informative records of live protected tables.
    pub records: u64,
    /// Live protected pictures (image files; raster bands not counted).
    pub photos: u64,
    /// Index bytes on disk per byte of live protected items.
    pub index_bytes_per_protected_byte: Option<f64>,
    /// Raster table bytes (anchors and band digests) per raster sample.
    pub raster_bytes_per_sample: Option<f64>,
    /// Record table bytes (all forms) per record.
    pub record_bytes_per_record: Option<f64>,
    /// Image table and row bytes per picture (raster bands included in the
    /// bytes, so rasters inflate it slightly).
    pub image_bytes_per_photo: Option<f64>,
    /// Bytes on disk (manifest and segments).
    pub disk_bytes: u64,
}

/// Checks an index in depth: manifest checksum, every segment's header,
/// version, parameters, checksum, table order and references. Returns the
/// number of segments checked, or the first problem found.
pub fn verify(dir: &Path) -> Result<usize> {
    let index = Index::open(
        dir,
        &OpenOptions {
            body_check: BodyCheck::HeadersOnly,
        },
    )?;
    for seg in index.segments() {
        seg.verify()?;
    }
    Ok(index.segments().len())
}

/// Index files (and the directory) that users other than the owner can
/// read or enter: the index holds the secret gear seed and fingerprints of
/// protected data. Empty on platforms without Unix permissions.
pub fn exposed_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let exposed =
            |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
        if exposed(dir) {
            out.push(dir.to_path_buf());
        }
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if exposed(&e.path()) {
                    out.push(e.path());
                }
            }
        }
        out.sort();
    }
    #[cfg(not(unix))]
    let _ = dir;
    out
}

/// Rows of `table` (an image multi-index) holding a slot value within
/// `radius` bits of `query`'s in the same slot, appended to `rows`.
///
/// The fan-out's `bits` are the slot number (3 bits) and the top
/// `bits - 3` bits of the slot value, so an entry within `radius` bits lies
/// in a bucket whose value bits are within `radius` of the query's. Each such
/// bucket is read once and its entries tested directly: about 1,562 buckets a
/// slot at the full 24-bit fan-out (flips among 21 bits), not the 5,489 keys
/// within 3 bits of 32.
fn image_candidates(
    table: &table::TableView<'_>,
    query: &PdqHash,
    radius: u32,
    rows: &mut Vec<u32>,
) {
    let fan_bits = table.bits().saturating_sub(3).min(32);
    // Masks over the value bits the fan-out covers (the top ones).
    let mut masks: Vec<u32> = vec![0];
    let positions: Vec<u32> = (32 - fan_bits..32).collect();
    for (i, &a) in positions.iter().enumerate() {
        if radius < 1 {
            break;
        }
        masks.push(1 << a);
        for (j, &b) in positions.iter().enumerate().skip(i + 1) {
            if radius < 2 {
                break;
            }
            masks.push(1 << a | 1 << b);
            for &c in positions.iter().skip(j + 1) {
                if radius < 3 {
                    break;
                }
                masks.push(1 << a | 1 << b | 1 << c);
            }
        }
    }
    for slot in 0..segment::IMAGE_SLOTS {
        let v = query.slot(slot);
        let mut buckets: Vec<([u8; 5], std::ops::Range<usize>)> = masks
            .iter()
            .map(|m| {
                let probe = segment::image_key(slot, v ^ m);
                (probe, table.bucket(&probe))
            })
            .collect();
        // Walk the table in order (and once per bucket when the fan-out is
        // narrower than the slot number, where slots share buckets).
        buckets.sort_unstable_by_key(|(_, r)| (r.start, r.end));
        buckets.dedup_by_key(|(_, r)| (r.start, r.end));
        // Touch every bucket before scanning any, so their memory reads
        // overlap instead of waiting on each other.
        let warm = buckets
            .iter()
            .fold(0u8, |acc, (_, r)| acc ^ table.touch(r.clone()));
        std::hint::black_box(warm);
        for (probe, range) in buckets {
            for i in range {
                let key = table.key_in_bucket(&probe, i);
                let (entry_slot, value) = segment::image_key_parts(&key);
                if entry_slot == slot && (value ^ v).count_ones() <= radius {
                    rows.push(u32::from_be_bytes(
                        table.value(i)[..4].try_into().unwrap_or_default(),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod anchor_bits_tests {
    use super::AnchorBits;

    fn hashes(seed: u64, n: usize) -> impl Iterator<Item = u64> {
        (0..n as u64).map(move |i| crate::fingerprint::raster::anchors::mix(i ^ seed))
    }

    /// Every hash put in is held; of hashes never put in, about 1.5% pass.
    #[test]
    fn holds_every_hash_and_few_others() {
        let n = 200_000;
        let mut bits = AnchorBits::for_anchors(n);
        hashes(1 << 40, n).for_each(|h| bits.insert(h));
        assert!(hashes(1 << 40, n).all(|h| bits.may_hold(h)));
        let passed = hashes(3 << 50, n).filter(|&h| bits.may_hold(h)).count();
        let rate = passed as f64 / n as f64;
        assert!(rate < 0.03, "{rate}");
    }
}
