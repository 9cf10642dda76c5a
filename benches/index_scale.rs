//! An index at archive scale: a synthetic segment of 100 million chunk
//! entries (`PUGMARK_SCALE_ENTRIES` to change it), written directly. Times
//! opening it (headers only: what every `scan` process pays; and with every
//! body checked: what `verify` and small indexes pay) and random lookups.
//! With `PUGMARK_SCALE_DIR=DIR` the index is kept in DIR (and reused), so
//! whole `pugmark scan` processes can be timed against it.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::index::segment::SegmentBuilder;
use pugmark::index::table::TableId;
use pugmark::index::{BodyCheck, Index, OpenOptions};
use pugmark::FingerprintParams;

#[path = "../tests/common/mod.rs"]
mod common;

const ITEMS: u64 = 1_000;

fn entries() -> u64 {
    common::env_number("PUGMARK_SCALE_ENTRIES", 100_000_000)
}

/// A pseudo-random 128-bit chunk hash (splitmix64 twice: BLAKE3 per entry
/// would dominate building 100 M of them).
fn chunk_hash(n: u64) -> [u8; 16] {
    let mix = common::splitmix64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mix(n).to_be_bytes());
    out[8..].copy_from_slice(&mix(n ^ 0xDEAD_BEEF).to_be_bytes());
    out
}

fn build(dir: &std::path::Path, total: u64) {
    let per_item = total / ITEMS;
    let mut builder = SegmentBuilder::default();
    for i in 0..ITEMS {
        let fp = common::chunked_item(i, (0..per_item).map(|c| chunk_hash(i * per_item + c)));
        builder.add(format!("/archive/item-{i}.bin").into_bytes(), None, &fp);
    }
    drop(common::single_segment_index_unchecked(
        dir,
        FingerprintParams::with_seed(1),
        builder,
    ));
}

fn scale(c: &mut Criterion) {
    let total = entries();
    let (_tmp, index) = common::scale_index(|dir| build(dir, total));
    let dir = index.dir().to_path_buf();
    let headers = OpenOptions::default().with_body_check(BodyCheck::HeadersOnly);
    let table = index.segments()[0].table(TableId::Chunks).expect("chunks");
    let per_item = total / ITEMS;
    assert_eq!(table.len() as u64, per_item * ITEMS);
    eprintln!(
        "index of {} chunk entries, {:.2} GB on disk, in {}",
        table.len(),
        index.segments()[0].file_len() as f64 / 1e9,
        dir.display()
    );
    let probes: Vec<[u8; 16]> = (0..10_000u64)
        .map(|q| {
            if q % 2 == 0 {
                chunk_hash((q * 7_919_993) % (per_item * ITEMS))
            } else {
                chunk_hash(u64::MAX - q)
            }
        })
        .collect();
    let found = probes
        .iter()
        .filter(|p| !table.find(&p[..8]).is_empty())
        .count();
    assert!(found >= 5_000);

    let mut group = c.benchmark_group("index_scale");
    group.sample_size(10);
    group.bench_function("open_headers_only", |b| {
        b.iter(|| Index::open(black_box(&dir), &headers).expect("open"))
    });
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.bench_function("random_chunk_lookups", |b| {
        b.iter(|| {
            probes
                .iter()
                .map(|p| table.find(black_box(&p[..8])).len())
                .sum::<usize>()
        })
    });
    group.finish();
    let mut slow = c.benchmark_group("index_scale_full_check");
    slow.sample_size(10);
    slow.throughput(Throughput::Bytes(index.segments()[0].file_len()));
    let at_open = OpenOptions::default().with_body_check(BodyCheck::AtOpen);
    slow.bench_function("open_checking_every_body", |b| {
        b.iter(|| Index::open(black_box(&dir), &at_open).expect("open"))
    });
    slow.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
