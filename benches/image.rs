//! The image signal: a 1920x1080 JPEG to PDQ (images per second on one
//! core), and Hamming-space queries against one million stored hashes, with
//! a brute-force scan in the same group that proves the index's recall.

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::fingerprint::image::pdq::PdqHash;
use pugmark::fingerprint::image::{self, ImageFp, Region, RegionHash};
use pugmark::index::segment::SegmentBuilder;
use pugmark::sniff::Kind;
use pugmark::{FingerprintParams, Fingerprints, Pipeline};

#[path = "../tests/common/mod.rs"]
mod common;

/// A 1920x1080 quality-90 JPEG made from a real photo, or the JPEG named
/// by `PUGMARK_BENCH_JPEG` (the comparison script passes the file it also
/// gives the peers).
fn photo_1080p() -> Vec<u8> {
    if let Some(path) = std::env::var_os("PUGMARK_BENCH_JPEG") {
        return std::fs::read(path).expect("PUGMARK_BENCH_JPEG is readable");
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pdq/jpeg/dih_bridge-1-original.jpg");
    let img = ::image::open(src).expect("fixture photo");
    let big = img.resize_exact(1920, 1080, ::image::imageops::FilterType::Triangle);
    let mut out = Cursor::new(Vec::new());
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&big.to_rgb8())
        .expect("encode");
    out.into_inner()
}

fn jpeg_to_pdq(c: &mut Criterion) {
    let jpeg = photo_1080p();
    let params = FingerprintParams::with_seed(1);
    let mut full = params.clone();
    full.image_fast_jpeg_min_side = 0;
    let pipeline = Pipeline::new(params.clone()).expect("params");
    let mut group = c.benchmark_group("image_1080p_jpeg");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("fast_decode_pdq_and_regions", |b| {
        b.iter(|| {
            image::fingerprint(black_box(&jpeg), Kind::Jpeg, &params, false).expect("decodes")
        })
    });
    group.bench_function("full_decode_pdq_and_regions", |b| {
        b.iter(|| image::fingerprint(black_box(&jpeg), Kind::Jpeg, &full, false).expect("decodes"))
    });
    group.bench_function("scan_pipeline_all_signals", |b| {
        b.iter(|| pipeline.fingerprint_bytes(None, black_box(&jpeg)))
    });
    group.finish();
}

fn random_hash(seed: u64) -> PdqHash {
    let bytes = common::random_bytes(seed, 32);
    let mut h = [0u8; 32];
    h.copy_from_slice(&bytes);
    PdqHash(h)
}

/// `hash` with `bits` distinct pseudo-random bits flipped.
fn flip(mut hash: PdqHash, bits: u32, seed: u64) -> PdqHash {
    let mut done = [false; 256];
    let mut flipped = 0;
    for (i, b) in common::random_bytes(seed, 1024).iter().enumerate() {
        if flipped == bits {
            break;
        }
        let k = (*b as usize + i * 7) % 256;
        if !done[k] {
            done[k] = true;
            hash.0[31 - k / 8] ^= 1 << (k % 8);
            flipped += 1;
        }
    }
    hash
}

fn hamming_queries(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let params = FingerprintParams::with_seed(1);
    let stored: Vec<PdqHash> = (0..N).map(random_hash).collect();
    let mut builder = SegmentBuilder::default();
    for (i, h) in stored.iter().enumerate() {
        let whole = RegionHash {
            region: Region::Whole,
            variant: 0,
            hash: *h,
            quality: 100,
        };
        let fp = Fingerprints {
            kind: Kind::Jpeg,
            size: 1,
            digest: *blake3::hash(&(i as u64).to_le_bytes()).as_bytes(),
            chunks: Vec::new(),
            image: Some(ImageFp::from_hashes(1, 1, whole, Vec::new())),
            raster: None,
            records: None,
            members: Vec::new(),
            reasons: Vec::new(),
        };
        builder.add(format!("photo-{i}.jpg").into_bytes(), None, &fp);
    }
    let index = common::single_segment_index(dir.path(), params, builder);

    // Half the queries are near a stored hash (0..=31 bits away), half random.
    let queries: Vec<PdqHash> = (0..1000u64)
        .map(|i| {
            if i % 2 == 0 {
                flip(stored[(i * 7919 % N) as usize], (i % 32) as u32, i)
            } else {
                random_hash(N + i)
            }
        })
        .collect();
    // Recall: the index finds exactly what a linear scan finds.
    for q in queries.iter().take(50) {
        let mut want: Vec<usize> = (0..stored.len())
            .filter(|&i| stored[i].distance(q) <= 31)
            .collect();
        let mut got: Vec<usize> = index
            .lookup_image(q, 31)
            .iter()
            .map(|h| h.item.item as usize)
            .collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "multi-index search must equal brute force");
    }

    let mut group = c.benchmark_group("pdq_hamming_1m");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.sample_size(10);
    group.bench_function("multi_index_d31", |b| {
        b.iter(|| {
            queries
                .iter()
                .map(|q| index.lookup_image(q, 31).len())
                .sum::<usize>()
        })
    });
    group.throughput(Throughput::Elements(20));
    group.bench_function("brute_force_d31", |b| {
        b.iter(|| {
            queries[..20]
                .iter()
                .map(|q| stored.iter().filter(|h| h.distance(q) <= 31).count())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, jpeg_to_pdq, hamming_queries);
criterion_main!(benches);
