//! The image signal: PDQ hashes of pictures (whole, trimmed, cropped,
//! turned) and of raster bands, looked up within a Hamming distance
//! through a multi-index of hash slots, so re-encoded, resized, cropped
//! and rotated copies match.

use std::collections::{HashMap, HashSet};

use super::{Found, Signal, Stored, Thresholds};
use crate::fingerprint::image::pdq::DIHEDRAL_NAMES;
use crate::fingerprint::image::{ImageQuery, Region, RegionHash};
use crate::fingerprint::Fingerprints;
use crate::index::segment::{image_key, IMAGE_ENTRY, IMAGE_ROW, IMAGE_SLOTS};
use crate::index::table::TableId;
use crate::index::{Index, ItemRef};
use crate::report::{Evidence, Reason};

/// Perceptual hashes of pictures and raster bands.
pub(super) struct Image;

impl Signal for Image {
    fn store(&self, fp: &Fingerprints, item: u32, out: &mut Stored<'_>) {
        let band_hashes: Vec<RegionHash> = fp
            .raster
            .iter()
            .flat_map(|r| r.bands.iter())
            .map(|b| RegionHash {
                region: Region::RasterBand(b.band),
                variant: 0,
                hash: b.pdq.hash,
                quality: b.pdq.quality,
            })
            .collect();
        for region in fp
            .image
            .iter()
            .flat_map(|img| img.all_hashes())
            .chain(band_hashes.iter())
        {
            let row = out.image_rows.len() as u32;
            let mut r = [0u8; IMAGE_ROW];
            let (region_kind, permille) = region.region.encode();
            r[..4].copy_from_slice(&item.to_le_bytes());
            r[4..6].copy_from_slice(&permille.to_le_bytes());
            r[6] = region.quality;
            r[7] = region_kind << 4 | (region.variant & 15);
            r[8..].copy_from_slice(&region.hash.0);
            out.image_rows.push(r);
            for slot in 0..IMAGE_SLOTS {
                let mut e = [0u8; IMAGE_ENTRY];
                e[..5].copy_from_slice(&image_key(slot, region.hash.slot(slot)));
                e[5..].copy_from_slice(&row.to_be_bytes());
                out.push(TableId::Image, &e);
            }
        }
    }

    fn find(&self, index: &Index, fp: &Fingerprints, th: &Thresholds, found: &mut Found) {
        let mut queries: Vec<ImageQuery> = fp.image.iter().flat_map(|i| i.queries()).collect();
        for band in fp.raster.iter().flat_map(|r| r.bands.iter()) {
            queries.push(ImageQuery {
                hash: band.pdq.hash,
                region: Region::RasterBand(band.band),
                variant: 0,
                quality: band.pdq.quality,
            });
        }
        if queries.is_empty() {
            return;
        }
        let skip: HashSet<ItemRef> = found.whole.union(&found.by_samples).copied().collect();
        let evidence = image_evidence(index, &queries, &skip, th, &mut found.notes);
        found.evidence.extend(evidence);
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
