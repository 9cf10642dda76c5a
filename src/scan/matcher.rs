//! Turning an outgoing item's fingerprints into evidence: index lookups and
//! thresholds. Pure: fingerprints and an index in, evidence out.

use std::collections::{HashMap, HashSet};

use crate::fingerprint::bytes::hex;
use crate::fingerprint::image::pdq::DIHEDRAL_NAMES;
use crate::fingerprint::image::{ImageQuery, Region};
use crate::fingerprint::raster::anchors::AnchorShape;
use crate::fingerprint::raster::RasterFp;
use crate::fingerprint::records::{
    projected_key, projection_probes, record_key, RecordsFp, PROJECTION_SAMPLING, ROUNDED_DECIMALS,
    ROUNDED_MIN_SAMPLED, ROUNDED_SAMPLING,
};
use crate::fingerprint::{ChunkFp, Fingerprints};
use crate::index::segment::{chunk_value, raster_anchor_place, CHUNK_KEY_LEN};
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::{ChunkStats, Evidence, Range, Reason};

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

/// Ranges kept per evidence entry.
const MAX_RANGES: usize = 16;

#[derive(Default)]
struct Tally {
    matched_bytes: u64,
    matched_chunks: u64,
    protected_bytes: u64,
    outgoing: Vec<Range>,
    protected: Vec<Range>,
}

/// What matching found for one item.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Evidence that passed the thresholds, strongest first.
    pub evidence: Vec<Evidence>,
    /// Evidence entries dropped by `max_evidence`.
    pub omitted: u64,
    /// Chunk counters.
    pub stats: ChunkStats,
    /// Analyst notes that do not change the verdict.
    pub notes: Vec<Reason>,
}

/// Matches one item's fingerprints against the index.
pub fn evaluate(index: &Index, fp: &Fingerprints, th: &Thresholds) -> Outcome {
    let mut evidence = Vec::new();
    let mut stats = ChunkStats {
        chunks: fp.chunks.len() as u64,
        ..ChunkStats::default()
    };

    let exact: HashSet<ItemRef> = index.lookup_exact(&fp.digest).into_iter().collect();
    let mut exact_sorted: Vec<ItemRef> = exact.iter().copied().collect();
    exact_sorted.sort();
    for r in exact_sorted {
        let item = index.item(r);
        evidence.push(Evidence::Exact {
            protected: item.path_display(),
            protected_size: item.size,
            digest: hex(&item.digest),
        });
    }

    // Group outgoing chunks by hash so each distinct hash is looked up once,
    // in sorted order (batched probes walk each table forwards).
    let mut chunks: Vec<&ChunkFp> = Vec::with_capacity(fp.chunks.len());
    for c in &fp.chunks {
        if c.trivial {
            stats.trivial_bytes += c.len as u64;
        } else {
            chunks.push(c);
        }
    }
    chunks.sort_by(|a, b| a.hash.cmp(&b.hash).then(a.offset.cmp(&b.offset)));

    let mut tallies: HashMap<ItemRef, Tally> = HashMap::new();
    let mut hits: Vec<(ItemRef, u32, u64)> = Vec::new();
    let mut group_start = 0;
    while group_start < chunks.len() {
        let hash = chunks[group_start].hash;
        let mut group_end = group_start + 1;
        while group_end < chunks.len() && chunks[group_end].hash == hash {
            group_end += 1;
        }
        let group = &chunks[group_start..group_end];
        group_start = group_end;
        let group_bytes: u64 = group.iter().map(|c| c.len as u64).sum();

        hits.clear();
        // Only live items count towards "common": replaced versions still
        // in the tables until a compaction must not change verdicts.
        let mut live_entries = 0;
        let mut common = false;
        'segments: for (s, seg) in index.segments().iter().enumerate() {
            let Some(table) = seg.table(TableId::Chunks) else {
                continue;
            };
            for i in table.find(&hash[..CHUNK_KEY_LEN]) {
                let (item, len, offset) = chunk_value(table.value(i));
                let r = ItemRef {
                    segment: s as u32,
                    item,
                };
                if !index.is_live(r) {
                    continue;
                }
                live_entries += 1;
                if live_entries > th.max_items_per_chunk {
                    common = true;
                    break 'segments;
                }
                if !exact.contains(&r) {
                    hits.push((r, len, offset));
                }
            }
        }
        if common {
            stats.common_bytes += group_bytes;
            continue;
        }
        for &(r, len, offset) in &hits {
            let t = tallies.entry(r).or_default();
            t.matched_bytes += group_bytes;
            t.matched_chunks += group.len() as u64;
            t.protected_bytes += len as u64;
            t.protected.push([offset, offset + len as u64]);
            t.outgoing
                .extend(group.iter().map(|c| [c.offset, c.offset + c.len as u64]));
        }
    }

    let mut chunk_evidence = Vec::new();
    for (r, t) in tallies {
        let protected_size = index.item_size(r);
        let protected_fraction = ratio(t.protected_bytes, protected_size);
        if t.matched_bytes < th.min_matched_bytes && protected_fraction < th.min_protected_fraction
        {
            continue;
        }
        chunk_evidence.push(Evidence::Chunks {
            protected: index.item(r).path_display(),
            protected_size,
            matched_bytes: t.matched_bytes,
            matched_chunks: t.matched_chunks,
            outgoing_fraction: ratio(t.matched_bytes, fp.size),
            protected_fraction,
            outgoing_ranges: merge(t.outgoing),
            protected_ranges: merge(t.protected),
        });
    }
    chunk_evidence.sort_by(|a, b| match (a, b) {
        (
            Evidence::Chunks {
                matched_bytes: x, ..
            },
            Evidence::Chunks {
                matched_bytes: y, ..
            },
        ) => y.cmp(x).then_with(|| a.protected().cmp(b.protected())),
        _ => std::cmp::Ordering::Equal,
    });
    evidence.extend(chunk_evidence);
    let mut notes = Vec::new();
    if let Some(records) = &fp.records {
        evidence.extend(records_evidence(index, records, &exact, th));
    }
    let mut sample_matched = HashSet::new();
    if let Some(raster) = &fp.raster {
        let found = raster_evidence(index, raster, &exact, th);
        sample_matched = found.iter().map(|(r, _)| *r).collect();
        evidence.extend(found.into_iter().map(|(_, e)| e));
    }
    let mut queries: Vec<ImageQuery> = fp.image.iter().flat_map(|i| i.queries()).collect();
    for band in fp.raster.iter().flat_map(|r| r.bands.iter()) {
        queries.push(ImageQuery {
            hash: band.pdq.hash,
            region: Region::RasterBand(band.band),
            variant: 0,
            quality: band.pdq.quality,
        });
    }
    if !queries.is_empty() {
        let skip: HashSet<ItemRef> = exact.union(&sample_matched).copied().collect();
        evidence.extend(image_evidence(index, &queries, &skip, th, &mut notes));
    }
    let omitted = evidence.len().saturating_sub(th.max_evidence) as u64;
    evidence.truncate(th.max_evidence);
    Outcome {
        evidence,
        omitted,
        stats,
        notes,
    }
}

/// One perceptual hit, ordered strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ImageCandidate {
    distance: u32,
    variant: u8,
    protected_region: Region,
    outgoing_region: Region,
    quality: u8,
    protected_quality: u8,
}

/// The best perceptual hit per protected item, over every query of the
/// outgoing picture against every stored protected hash.
fn image_evidence(
    index: &Index,
    queries: &[ImageQuery],
    exact: &HashSet<ItemRef>,
    th: &Thresholds,
    notes: &mut Vec<Reason>,
) -> Vec<Evidence> {
    let mut best: HashMap<ItemRef, ImageCandidate> = HashMap::new();
    let mut weak: Option<(ImageCandidate, ItemRef)> = None;
    for query in queries.iter().copied() {
        for hit in index.lookup_image(&query.hash, th.max_image_distance) {
            let Some(protected_region) = hit.row.region else {
                continue;
            };
            if exact.contains(&hit.item) {
                continue;
            }
            // Protected hashes are stored unturned (variant 0; anything else
            // is a damaged row): the outgoing picture turned by
            // `query.variant` is what matched, so that is the transform
            // that takes the outgoing picture to the protected one.
            if hit.row.variant != 0 || usize::from(query.variant) >= DIHEDRAL_NAMES.len() {
                continue;
            }
            let variant = query.variant;
            let candidate = ImageCandidate {
                distance: hit.distance,
                variant,
                protected_region,
                outgoing_region: query.region,
                quality: query.quality,
                protected_quality: hit.row.quality,
            };
            if query.quality < th.min_image_quality || hit.row.quality < th.min_image_quality {
                if weak.is_none_or(|(w, _)| candidate < w) {
                    weak = Some((candidate, hit.item));
                }
                continue;
            }
            let entry = best.entry(hit.item).or_insert(candidate);
            *entry = (*entry).min(candidate);
        }
    }
    if let (true, Some((w, item))) = (best.is_empty(), weak) {
        notes.push(Reason::new(
            "image.low_quality",
            format!(
                "PDQ hit on {} at distance {} not counted: quality {} (outgoing) / {} (protected), below {}",
                index.item(item).path_display(),
                w.distance,
                w.quality,
                w.protected_quality,
                th.min_image_quality
            ),
        ));
    }
    let mut hits: Vec<(ImageCandidate, ItemRef)> = best.into_iter().map(|(r, c)| (c, r)).collect();
    hits.sort();
    hits.into_iter()
        .map(|(c, r)| match (c.protected_region, c.outgoing_region) {
            (Region::RasterBand(pb), Region::RasterBand(ob)) => Evidence::Raster {
                protected: index.item(r).path_display(),
                protected_size: index.item_size(r),
                method: "perceptual".into(),
                bands: vec![[ob, pb]],
                matched_samples: 0,
                outgoing_fraction: 0.0,
                protected_fraction: 0.0,
                offset: None,
                distance: Some(c.distance),
                protected_geo: index.raster_geo(r).cloned(),
            },
            _ => Evidence::Image {
                protected: index.item(r).path_display(),
                protected_size: index.item_size(r),
                distance: c.distance,
                variant: DIHEDRAL_NAMES[c.variant as usize].to_string(),
                protected_region: c.protected_region.name(),
                outgoing_region: c.outgoing_region.name(),
                quality: c.quality,
                protected_quality: c.protected_quality,
            },
        })
        .collect()
}

/// Protected items holding each of `hashes` in `table`, counted per item;
/// a hash found in more than `max_items` items is boilerplate.
fn count_hashes(
    index: &Index,
    table_id: TableId,
    hashes: impl Iterator<Item = u64>,
    exact: &HashSet<ItemRef>,
    max_items: usize,
) -> HashMap<ItemRef, u64> {
    let mut found: HashMap<ItemRef, u64> = HashMap::new();
    let mut hits = Vec::new();
    for h in hashes {
        hits.clear();
        for (s, seg) in index.segments().iter().enumerate() {
            let Some(table) = seg.table(table_id) else {
                continue;
            };
            for i in table.find(&record_key(h)) {
                let v = table.value(i);
                let r = ItemRef {
                    segment: s as u32,
                    item: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                };
                if index.is_live(r) {
                    hits.push(r);
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        if hits.len() > max_items {
            continue;
        }
        for r in &hits {
            if index.is_live(*r) && !exact.contains(r) {
                *found.entry(*r).or_default() += 1;
            }
        }
    }
    found
}

/// Telemetry evidence: distinct outgoing records found per protected table,
/// then, for tables without such a match, the same with numbers rounded to
/// 2 and then 1 decimals (`records_approx`, with the precision found). A
/// record found in more than `max_items_per_chunk` tables is boilerplate.
fn records_evidence(
    index: &Index,
    records: &RecordsFp,
    exact: &HashSet<ItemRef>,
    th: &Thresholds,
) -> Vec<Evidence> {
    let passes = |n: u64| {
        n >= th.min_matched_records
            || ratio(n, records.informative) >= th.min_outgoing_record_fraction
    };
    let sorted = |found: HashMap<ItemRef, u64>| {
        let mut v: Vec<(u64, ItemRef)> = found
            .into_iter()
            .filter(|(_, n)| passes(*n))
            .map(|(r, n)| (n, r))
            .collect();
        v.sort_by_key(|(n, r)| (std::cmp::Reverse(*n), *r));
        v
    };
    let exact_found = sorted(count_hashes(
        index,
        TableId::Records,
        records.hashes.iter().copied(),
        exact,
        th.max_items_per_chunk,
    ));
    let mut out = Vec::new();
    let mut done: HashSet<ItemRef> = exact.clone();
    for (n, r) in exact_found {
        let item = index.item(r);
        done.insert(r);
        out.push(Evidence::Records {
            protected: item.path_display(),
            protected_size: item.size,
            matched_records: n,
            outgoing_fraction: ratio(n, records.informative),
            protected_fraction: ratio(n, item.records as u64),
        });
    }
    for decimals in ROUNDED_DECIMALS {
        let hashes = records
            .rounded
            .iter()
            .filter(|(d, _)| *d == decimals)
            .map(|(_, h)| *h);
        // Rounded forms are a sample (about one in ROUNDED_SAMPLING): the
        // records found are estimated from the sampled ones found.
        let found = count_hashes(
            index,
            TableId::RecordsRounded,
            hashes,
            &done,
            th.max_items_per_chunk,
        );
        let mut ranked: Vec<(u64, u64, ItemRef)> = found
            .into_iter()
            .map(|(r, n)| (n, (n * ROUNDED_SAMPLING).min(records.informative.max(n)), r))
            .filter(|&(n, estimate, _)| n >= ROUNDED_MIN_SAMPLED && passes(estimate))
            .collect();
        ranked.sort_by_key(|&(n, _, r)| (std::cmp::Reverse(n), r));
        for (_, estimate, r) in ranked {
            let item = index.item(r);
            done.insert(r);
            out.push(Evidence::RecordsApprox {
                protected: item.path_display(),
                protected_size: item.size,
                decimals,
                matched_records: estimate,
                outgoing_fraction: ratio(estimate, records.informative),
                protected_fraction: ratio(estimate, item.records as u64),
            });
        }
    }
    out.extend(projected_evidence(index, records, &done, th));
    out
}

/// Records that match a protected table with one of its columns left out,
/// for tables not matched otherwise: per protected table, the column whose
/// leaving out explains the most sampled records. Needs as many sampled
/// matches as a records match needs records.
fn projected_evidence(
    index: &Index,
    records: &RecordsFp,
    done: &HashSet<ItemRef>,
    th: &Thresholds,
) -> Vec<Evidence> {
    let mut found: HashMap<(ItemRef, u8), u64> = HashMap::new();
    let mut hits: Vec<(ItemRef, u8)> = Vec::new();
    for &value in &records.projected {
        hits.clear();
        for probe in projection_probes(value) {
            for (s, seg) in index.segments().iter().enumerate() {
                let Some(table) = seg.table(TableId::RecordsProjected) else {
                    continue;
                };
                for i in table.find(&projected_key(probe)) {
                    let v = table.value(i);
                    let r = ItemRef {
                        segment: s as u32,
                        item: u32::from_be_bytes([v[0], v[1], v[2], v[3]]),
                    };
                    if index.is_live(r) {
                        hits.push((r, (probe & 0xF) as u8));
                    }
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        let items = {
            let mut v: Vec<ItemRef> = hits.iter().map(|(r, _)| *r).collect();
            v.dedup();
            v.len()
        };
        if items > th.max_items_per_chunk {
            continue;
        }
        for &(r, column) in &hits {
            if index.is_live(r) && !done.contains(&r) {
                *found.entry((r, column)).or_default() += 1;
            }
        }
    }
    let mut best: HashMap<ItemRef, (u64, u8)> = HashMap::new();
    for ((r, column), n) in found {
        let slot = best.entry(r).or_insert((0, column));
        if (n, std::cmp::Reverse(column)) > (slot.0, std::cmp::Reverse(slot.1)) {
            *slot = (n, column);
        }
    }
    let mut ranked: Vec<(u64, ItemRef, u8)> = best
        .into_iter()
        .filter(|(_, (n, _))| *n >= th.min_matched_records)
        .map(|(r, (n, c))| (n, r, c))
        .collect();
    ranked.sort_by_key(|(n, r, _)| (std::cmp::Reverse(*n), *r));
    ranked
        .into_iter()
        .map(|(n, r, column)| {
            let item = index.item(r);
            let estimate = n * PROJECTION_SAMPLING;
            Evidence::RecordsProjected {
                protected: item.path_display(),
                protected_size: item.size,
                left_out_column: column,
                sampled_matches: n,
                matched_records: estimate,
                outgoing_fraction: ratio(estimate, records.informative).min(1.0),
                protected_fraction: ratio(estimate, item.records as u64).min(1.0),
            }
        })
        .collect()
}

/// Where a window of an outgoing band sits in a protected band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct WindowVote {
    pband: u16,
    oband: u16,
    drow: i64,
    dcol: i64,
}

/// Sample-level raster evidence: band digests (identical rasters, band
/// subsets and reorderings), then window anchors voting for an offset.
fn raster_evidence(
    index: &Index,
    raster: &RasterFp,
    exact: &HashSet<ItemRef>,
    th: &Thresholds,
) -> Vec<(ItemRef, Evidence)> {
    let be16 = |v: &[u8]| u16::from_be_bytes([v[0], v[1]]);
    let be32 = |v: &[u8]| u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    // Band digests: (outgoing band, protected band) pairs and the protected
    // band count, per item.
    let mut bands: HashMap<ItemRef, (Vec<[u16; 2]>, u16)> = HashMap::new();
    for b in &raster.bands {
        for (s, seg) in index.segments().iter().enumerate() {
            let Some(table) = seg.table(TableId::RasterBands) else {
                continue;
            };
            for i in table.find(&b.digest) {
                let v = table.value(i);
                let r = ItemRef {
                    segment: s as u32,
                    item: be32(v),
                };
                if index.is_live(r) && !exact.contains(&r) {
                    let e = bands.entry(r).or_insert((Vec::new(), be16(&v[6..])));
                    e.0.push([b.band, be16(&v[4..])]);
                }
            }
        }
    }
    let band_samples = raster.width as u64 * raster.height as u64;
    let mut out = Vec::new();
    for (r, (pairs, protected_bands)) in &bands {
        let identical = pairs.len() == raster.bands.len()
            && *protected_bands as usize == raster.bands.len()
            && pairs.iter().all(|[o, p]| o == p);
        out.push((
            *r,
            Evidence::Raster {
                protected: index.item(*r).path_display(),
                protected_size: index.item_size(*r),
                method: if identical { "identical" } else { "bands" }.into(),
                bands: pairs.clone(),
                matched_samples: band_samples * pairs.len() as u64,
                outgoing_fraction: ratio(pairs.len() as u64, raster.bands.len() as u64),
                protected_fraction: ratio(pairs.len() as u64, *protected_bands as u64),
                offset: None,
                distance: None,
                protected_geo: index.raster_geo(*r).cloned(),
            },
        ));
    }

    // Windows: every anchor votes for (item, protected band, outgoing
    // band, row offset, column offset).
    let mut votes: HashMap<(ItemRef, u16, u16, i64, i64), u64> = HashMap::new();
    let mut widths: HashMap<ItemRef, u32> = HashMap::new();
    for a in &raster.anchors {
        for (s, seg) in index.segments().iter().enumerate() {
            let Some(table) = seg.table(TableId::RasterAnchors) else {
                continue;
            };
            let range = table.find(&a.hash.to_be_bytes());
            let live = |i: &usize| {
                index.is_live(ItemRef {
                    segment: s as u32,
                    item: be32(table.value(*i)),
                })
            };
            let repeats = th.max_raster_anchor_repeats;
            if range.clone().filter(live).take(repeats + 1).count() > repeats {
                continue; // repetitive content: says nothing about where
            }
            for i in range {
                let v = table.value(i);
                let r = ItemRef {
                    segment: s as u32,
                    item: be32(v),
                };
                if !index.is_live(r) || exact.contains(&r) || bands.contains_key(&r) {
                    continue;
                }
                let width = *widths
                    .entry(r)
                    .or_insert_with(|| index.item(r).raster_size.0);
                let (row, col) = raster_anchor_place(v, width);
                let key = (
                    r,
                    be16(&v[4..]),
                    a.band,
                    row as i64 - a.row as i64,
                    col as i64 - a.col as i64,
                );
                *votes.entry(key).or_default() += 1;
            }
        }
    }
    // The strongest offset per item; ties go to the lowest band numbers.
    let mut best: HashMap<ItemRef, (u64, std::cmp::Reverse<WindowVote>)> = HashMap::new();
    for ((r, pband, oband, drow, dcol), samples) in votes {
        let vote = (
            samples,
            std::cmp::Reverse(WindowVote {
                pband,
                oband,
                drow,
                dcol,
            }),
        );
        let e = best.entry(r).or_insert(vote);
        if vote > *e {
            *e = vote;
        }
    }
    let mut windows: Vec<(u64, ItemRef, WindowVote)> =
        best.into_iter().map(|(r, (n, v))| (n, r, v.0)).collect();
    windows.sort_by_key(|(n, r, _)| (std::cmp::Reverse(*n), *r));
    for (anchors, r, v) in windows {
        if anchors < th.min_raster_anchors {
            continue;
        }
        let item = index.item(r);
        let (pw, ph) = (item.raster_size.0 as usize, item.raster_size.1 as usize);
        let protected_samples = pw as u64 * ph as u64;
        // An estimate: in informative content the cover stores one block
        // per neighbourhood-sized cell of the protected raster (beside flat
        // patches it stores more, and this counts high; capped).
        let params = index.params();
        let cell = AnchorShape::new(
            ph,
            pw,
            params.raster_anchor_block.into(),
            params.raster_anchor_window.into(),
        )
        .map_or(1, |s| (s.window.0 * s.window.1) as u64);
        let samples = anchors.saturating_mul(cell).min(band_samples);
        let outgoing_fraction = ratio(samples, band_samples);
        out.push((
            r,
            Evidence::Raster {
                protected: item.path_display(),
                protected_size: item.size,
                method: "window".into(),
                bands: vec![[v.oband, v.pband]],
                matched_samples: samples,
                outgoing_fraction,
                protected_fraction: ratio(samples, protected_samples),
                offset: Some([v.drow, v.dcol]),
                distance: None,
                protected_geo: index.raster_geo(r).cloned(),
            },
        ));
    }
    out
}

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
