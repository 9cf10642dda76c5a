//! Chunk lookups against an index of 10 million chunk entries: raw probes
//! of the sorted chunk table, and whole outgoing items matched through the
//! scanner's matcher (lookups plus evidence), in lookups per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::index::segment::SegmentBuilder;
use pugmark::index::table::TableId;
use pugmark::scan::matcher;
use pugmark::{FingerprintParams, Fingerprints, Thresholds};

#[path = "../tests/common/mod.rs"]
mod common;

const ITEMS: u64 = 1_000;
const CHUNKS_PER_ITEM: u64 = 10_000;

/// The pseudo-random 128-bit hash of chunk `c` of item `i`.
fn chunk_hash(i: u64, c: u64) -> [u8; 16] {
    let h = blake3::hash(&(i * CHUNKS_PER_ITEM + c).to_le_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

fn item(i: u64, chunks: impl Iterator<Item = [u8; 16]>) -> Fingerprints {
    common::chunked_item(i, chunks)
}

fn lookups(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let params = FingerprintParams::with_seed(1);
    let mut builder = SegmentBuilder::default();
    for i in 0..ITEMS {
        let fp = item(i, (0..CHUNKS_PER_ITEM).map(|c| chunk_hash(i, c)));
        builder.add(format!("item-{i}.bin").into_bytes(), None, &fp);
    }
    let index = common::single_segment_index(dir.path(), params, builder);
    let table = index.segments()[0]
        .table(TableId::Chunks)
        .expect("chunk table");
    assert_eq!(table.len() as u64, ITEMS * CHUNKS_PER_ITEM);

    // 1,000 probes: half stored (spread over the items), half absent.
    let probes: Vec<[u8; 16]> = (0..1000u64)
        .map(|q| {
            if q % 2 == 0 {
                chunk_hash((q * 7919) % ITEMS, (q * 104_729) % CHUNKS_PER_ITEM)
            } else {
                chunk_hash(ITEMS + q, 0)
            }
        })
        .collect();
    let found = probes
        .iter()
        .filter(|p| !table.find(&p[..8]).is_empty())
        .count();
    assert_eq!(found, 500);

    let mut group = c.benchmark_group("lookups");
    group.sample_size(20);
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.bench_function("chunk_table_find_10M", |b| {
        b.iter(|| {
            probes
                .iter()
                .map(|p| table.find(black_box(&p[..8])).len())
                .sum::<usize>()
        })
    });

    // An outgoing item of 1,000 chunks, a fifth of them from one protected
    // item (a match), matched with the scanner's own matcher.
    let outgoing = item(
        u64::MAX,
        (0..1000u64).map(|q| {
            if q % 5 == 0 {
                chunk_hash(42, q)
            } else {
                chunk_hash(ITEMS * 2 + q, 1)
            }
        }),
    );
    let th = Thresholds::default();
    assert_eq!(matcher::evaluate(&index, &outgoing, &th).evidence.len(), 1);
    group.bench_function("matcher_1000_chunk_item_10M", |b| {
        b.iter(|| matcher::evaluate(&index, black_box(&outgoing), &th))
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
