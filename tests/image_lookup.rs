//! The image hash lookup is exact whichever way a segment is searched: the
//! multi-index (eight 32-bit slots probed within 3 bits) and the brute-force
//! comparison of every stored hash return the same hits, for queries near
//! stored hashes (0..=40 bits away, across the 31-bit limit of the
//! multi-index) and far from all of them.

use std::collections::BTreeSet;

use proptest::prelude::*;
use pugmark::fingerprint::image::pdq::PdqHash;
use pugmark::index::segment::SegmentBuilder;
use pugmark::index::{ImageSearch, Index};
use pugmark::FingerprintParams;

mod common;

/// Deterministic pseudo-random 256-bit hash.
fn hash(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&common::random_bytes(seed, 32));
    out
}

/// `h` with `bits` distinct bits flipped, chosen by `seed`.
fn flipped(mut h: [u8; 32], bits: u32, seed: u64) -> [u8; 32] {
    let order = common::random_bytes(seed ^ 0x5eed, 1024);
    let mut done = BTreeSet::new();
    for pair in order.chunks(4) {
        if done.len() as u32 == bits {
            break;
        }
        let bit = u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]) as usize % 256;
        if done.insert(bit) {
            h[bit / 8] ^= 1 << (bit % 8);
        }
    }
    h
}

/// 200 photos of 4 hashes; every fifth photo is a near copy (6..=30 bits
/// away) of the one before, so buckets share slot values and one query has
/// several hits.
fn index(dir: &std::path::Path) -> (Index, Vec<[u8; 32]>) {
    let mut builder = SegmentBuilder::default();
    let mut stored = Vec::new();
    for i in 0..200u64 {
        let hashes: Vec<[u8; 32]> = (0..4u64)
            .map(|k| match stored.get(stored.len().wrapping_sub(4)) {
                Some(&prev) if i % 5 == 4 => flipped(prev, 6 + (i as u32 * 7 + k as u32) % 25, i),
                _ => hash(i * 4 + k),
            })
            .collect();
        stored.extend_from_slice(&hashes);
        builder.add(
            format!("photo-{i}.jpg").into_bytes(),
            None,
            &common::photo_item(i, &hashes),
        );
    }
    let index = common::single_segment_index(dir, FingerprintParams::with_seed(7), builder);
    (index, stored)
}

fn hits(index: &Index, q: &[u8; 32], max: u32, how: ImageSearch) -> BTreeSet<(u32, String, u32)> {
    index
        .lookup_image_with(&PdqHash(*q), max, how)
        .into_iter()
        .map(|h| (h.item.item, h.row.hash.to_hex(), h.distance))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn multi_index_equals_brute_force(pick in 0usize..800, bits in 0u32..=40, seed: u64, max in 0u32..=40) {
        let tmp = tempfile::tempdir().unwrap();
        let (index, stored) = index(tmp.path());
        let near = flipped(stored[pick], bits, seed);
        let far = hash(seed | 1 << 63);
        for q in [near, far] {
            let scan = hits(&index, &q, max, ImageSearch::Scan);
            prop_assert_eq!(&hits(&index, &q, max, ImageSearch::MultiIndex), &scan);
            prop_assert_eq!(&hits(&index, &q, max, ImageSearch::Auto), &scan);
            for (_, h, d) in &scan {
                prop_assert!(*d <= max);
                prop_assert_eq!(PdqHash::from_hex(h).unwrap().distance(&PdqHash(q)), *d);
            }
        }
        if bits <= max {
            let own = hits(&index, &near, max, ImageSearch::MultiIndex);
            prop_assert!(own.iter().any(|(item, _, _)| *item as usize == pick / 4));
        }
    }
}

/// At the limit: 31 bits flipped, 4 in each 32-bit slot but 3 in one, so
/// only that slot is within the probe radius. Every such copy is found.
#[test]
fn copies_31_bits_away_spread_over_all_slots_are_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, stored) = index(tmp.path());
    for (n, &h) in stored.iter().enumerate().step_by(37) {
        for near_slot in 0..8usize {
            let mut q = h;
            for slot in 0..8usize {
                let flips = if slot == near_slot { 3 } else { 4 };
                for f in 0..flips {
                    // Slot k is bytes 28 - 4k .. 32 - 4k; one bit in each byte.
                    let byte = 28 - 4 * slot + f;
                    q[byte] ^= 1 << ((n + f) % 8);
                }
            }
            assert_eq!(PdqHash(q).distance(&PdqHash(h)), 31);
            let found = hits(&index, &q, 31, ImageSearch::MultiIndex);
            assert!(
                found
                    .iter()
                    .any(|(_, s, d)| *s == PdqHash(h).to_hex() && *d == 31),
                "hash {n} with slot {near_slot} nearest not found"
            );
        }
    }
}

/// The same equality at every fan-out width the image table takes: no
/// fan-out (one hash), fewer bits than the slot number (two hashes), and 17
/// bits with two key bytes implied (20,000 photos of 4 hashes).
#[test]
fn multi_index_equals_brute_force_at_every_fanout_width() {
    use pugmark::index::table::TableId;
    let mut widths = Vec::new();
    for (photos, per_photo) in [(1u64, 1u64), (1, 2), (20_000, 4)] {
        let tmp = tempfile::tempdir().unwrap();
        let mut builder = SegmentBuilder::default();
        let mut stored = Vec::new();
        for i in 0..photos {
            let hashes: Vec<[u8; 32]> = (0..per_photo)
                .map(|k| hash(1_000_000 + i * 4 + k))
                .collect();
            stored.extend_from_slice(&hashes);
            builder.add(
                format!("p{i}.jpg").into_bytes(),
                None,
                &common::photo_item(i, &hashes),
            );
        }
        let index =
            common::single_segment_index(tmp.path(), FingerprintParams::with_seed(3), builder);
        widths.push(index.segments()[0].table(TableId::Image).unwrap().bits());
        for q in 0..120u64 {
            let query = if q % 6 == 5 {
                hash(q | 1 << 62)
            } else {
                flipped(
                    stored[(q as usize * 7919) % stored.len()],
                    (q % 32) as u32,
                    q,
                )
            };
            let scan = hits(&index, &query, 31, ImageSearch::Scan);
            assert_eq!(
                hits(&index, &query, 31, ImageSearch::MultiIndex),
                scan,
                "{photos} photos, query {q}"
            );
            if q % 6 != 5 {
                assert!(!scan.is_empty(), "{photos} photos, query {q} found nothing");
            }
        }
    }
    assert_eq!(widths[0], 0);
    assert!(widths[1] > 0 && widths[1] < 3, "{widths:?}");
    assert!(widths[2] >= 16, "{widths:?}");
}
