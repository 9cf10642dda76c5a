//! Image hash lookups at archive scale. An index of `PUGMARK_IMAGE_PHOTOS`
//! synthetic photos (default 1 million; the archive figure is 10 million),
//! each with the 13 hashes a protected photo stores (whole, four centred and
//! eight one-side crops), in segments of 2.5 million photos, written
//! directly. Stored hashes are uniformly random 256-bit words (PDQ hashes
//! are balanced by construction; real ones are less even, which makes
//! buckets uneven, not fewer).
//!
//! Measures queries per second of the multi-index for near copies (a stored
//! hash with 0..=31 bits flipped) and for unrelated hashes (the common case
//! at a gateway), against the brute-force comparison of every stored hash,
//! and prints the recall of the multi-index against brute force on a sample
//! (it must be 1: the search is exact). With `PUGMARK_SCALE_DIR=DIR` the
//! index is kept in DIR and reused.

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::fingerprint::image::pdq::PdqHash;
use pugmark::index::segment::SegmentBuilder;
use pugmark::index::{ImageSearch, Index};
use pugmark::FingerprintParams;

#[path = "../tests/common/mod.rs"]
mod common;

use common::splitmix64 as mix;

const HASHES_PER_PHOTO: u64 = 13;
const PHOTOS_PER_SEGMENT: u64 = 2_500_000;

fn photos() -> u64 {
    common::env_number("PUGMARK_IMAGE_PHOTOS", 1_000_000)
}

/// Stored hash `k` of photo `p` (splitmix64: BLAKE3 per hash would dominate
/// building 130 M of them).
fn stored(p: u64, k: u64) -> [u8; 32] {
    let n = (p * HASHES_PER_PHOTO + k) << 2;
    let mut out = [0u8; 32];
    for w in 0..4 {
        out[8 * w..8 * w + 8].copy_from_slice(&mix(n + w as u64).to_be_bytes());
    }
    out
}

/// `h` with `bits` distinct bits flipped at positions chosen by `seed`.
fn flipped(mut h: [u8; 32], bits: u32, seed: u64) -> [u8; 32] {
    let mut done = BTreeSet::new();
    let mut x = seed;
    while (done.len() as u32) < bits {
        x = mix(x);
        let bit = (x % 256) as usize;
        if done.insert(bit) {
            h[bit / 8] ^= 1 << (bit % 8);
        }
    }
    h
}

fn build(dir: &std::path::Path, total: u64) {
    let segments = total.div_ceil(PHOTOS_PER_SEGMENT);
    let builders = (0..segments).map(|s| {
        let mut builder = SegmentBuilder::default();
        let first = s * PHOTOS_PER_SEGMENT;
        for p in first..(first + PHOTOS_PER_SEGMENT).min(total) {
            let hashes: Vec<[u8; 32]> = (0..HASHES_PER_PHOTO).map(|k| stored(p, k)).collect();
            builder.add(
                format!("/traps/cam-{:03}/{p:08}.jpg", p % 400).into_bytes(),
                None,
                &common::photo_item(p, &hashes),
            );
        }
        eprintln!("segment {} of {segments} built", s + 1);
        builder
    });
    drop(common::segments_index_unchecked(
        dir,
        FingerprintParams::with_seed(1),
        builders,
    ));
}

fn hits(index: &Index, q: &[u8; 32], how: ImageSearch) -> BTreeSet<(u32, u32, u32)> {
    index
        .lookup_image_with(&PdqHash(*q), 31, how)
        .into_iter()
        .map(|h| (h.item.segment, h.item.item, h.distance))
        .collect()
}

fn image_scale(c: &mut Criterion) {
    let total = photos();
    let (_tmp, index) = common::scale_index(|dir| build(dir, total));
    let rows: usize = index.segments().iter().map(|s| s.image_row_count()).sum();
    assert_eq!(rows as u64, total * HASHES_PER_PHOTO);
    let bytes: u64 = index.segments().iter().map(|s| s.file_len()).sum();
    eprintln!(
        "index of {total} photos ({rows} hashes) in {} segments: {:.2} GB, {:.0} bytes a photo, in {}",
        index.segments().len(),
        bytes as f64 / 1e9,
        bytes as f64 / total as f64,
        index.dir().display()
    );
    let near: Vec<[u8; 32]> = (0..1000u64)
        .map(|q| {
            let p = mix(q) % total;
            flipped(stored(p, q % HASHES_PER_PHOTO), (q % 32) as u32, q)
        })
        .collect();
    let unrelated: Vec<[u8; 32]> = (0..1000u64).map(|q| stored(u64::MAX / 16 - q, 0)).collect();

    // Recall against brute force on a sample: the same hits, every one.
    let (mut agreed, mut expected) = (0usize, 0usize);
    for q in near.iter().take(60).chain(unrelated.iter().take(4)) {
        let brute = hits(&index, q, ImageSearch::Scan);
        let multi = hits(&index, q, ImageSearch::MultiIndex);
        expected += brute.len();
        agreed += brute.intersection(&multi).count();
        assert_eq!(multi, brute, "multi-index differs from brute force");
    }
    eprintln!("recall of the multi-index vs brute force: {agreed}/{expected} hits on 64 queries");

    let mut group = c.benchmark_group("image_scale");
    group.sample_size(10);
    group.throughput(Throughput::Elements(near.len() as u64));
    group.bench_function("multi_index_near_copies", |b| {
        b.iter(|| {
            near.iter()
                .map(|q| {
                    index
                        .lookup_image_with(black_box(&PdqHash(*q)), 31, ImageSearch::MultiIndex)
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("multi_index_unrelated", |b| {
        b.iter(|| {
            unrelated
                .iter()
                .map(|q| {
                    index
                        .lookup_image_with(black_box(&PdqHash(*q)), 31, ImageSearch::MultiIndex)
                        .len()
                })
                .sum::<usize>()
        })
    });
    let few = &unrelated[..10];
    group.throughput(Throughput::Elements(few.len() as u64));
    group.bench_function("brute_force_unrelated", |b| {
        b.iter(|| {
            few.iter()
                .map(|q| {
                    index
                        .lookup_image_with(black_box(&PdqHash(*q)), 31, ImageSearch::Scan)
                        .len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, image_scale);
criterion_main!(benches);
