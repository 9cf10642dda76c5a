//! The raster signal: sample-level fingerprints of rasters. Band digests
//! find identical bands (any container, tiling or type); window anchors
//! find a window of at least 32 x 32 samples at its offset. (The per-band
//! perceptual hashes are matched by the image signal.)

use std::collections::{HashMap, HashSet};

use super::{live_entries, ratio, Found, Signal, Stored, Thresholds};
use crate::fingerprint::raster::anchors::AnchorShape;
use crate::fingerprint::raster::{GeoInfo, RasterFp};
use crate::fingerprint::Fingerprints;
use crate::index::segment::{raster_anchor_place, RASTER_ANCHOR_ENTRY};
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::Evidence;

/// Sample-level raster fingerprints.
pub(super) struct Raster;

impl Signal for Raster {
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>) {
        let Some(r) = &fp.raster else {
            return;
        };
        if r.geo != GeoInfo::default() {
            out.raster_geo.push((item, r.geo.clone()));
        }
        for b in &r.bands {
            let mut e = [0u8; 48];
            e[..32].copy_from_slice(&b.digest);
            e[32..36].copy_from_slice(&item.to_be_bytes());
            e[36..38].copy_from_slice(&b.band.to_be_bytes());
            e[38..40].copy_from_slice(&(r.bands.len() as u16).to_be_bytes());
            e[40..44].copy_from_slice(&r.width.to_be_bytes());
            e[44..48].copy_from_slice(&r.height.to_be_bytes());
            out.push(TableId::RasterBands, &e);
        }
        for a in &r.anchors {
            let mut e = [0u8; RASTER_ANCHOR_ENTRY];
            e[..8].copy_from_slice(&a.hash.to_be_bytes());
            e[8..12].copy_from_slice(&item.to_be_bytes());
            e[12..14].copy_from_slice(&a.band.to_be_bytes());
            // Below 2^40: a raster holds at most MAX_RASTER_SAMPLES.
            let at = u64::from(a.row) * u64::from(r.width) + u64::from(a.col);
            e[14..19].copy_from_slice(&at.to_be_bytes()[3..]);
            out.push(TableId::RasterAnchors, &e);
        }
    }

    fn find(&self, index: &Index, fp: &Fingerprints, th: &Thresholds, found: &mut Found) {
        if let Some(raster) = &fp.raster {
            let hits = raster_evidence(index, raster, &found.whole, th);
            for (r, evidence) in hits {
                found.by_samples.insert(r);
                found.evidence.push(evidence);
            }
        }
    }
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
        for (r, v) in live_entries(index, TableId::RasterBands, &b.digest) {
            if !exact.contains(&r) {
                let e = bands.entry(r).or_insert((Vec::new(), be16(&v[6..])));
                e.0.push([b.band, be16(&v[4..])]);
            }
        }
    }
    let band_samples = raster.width as u64 * raster.height as u64;
    let mut out = Vec::new();
    // In item order, so the same scan gives the same report.
    let mut by_item: Vec<_> = bands.iter().collect();
    by_item.sort_by_key(|(r, _)| **r);
    for (r, (pairs, protected_bands)) in by_item {
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
