//! Byte-signal throughput: pugmark's one-pass digest + chunks, side by side
//! with plain `blake3::hash` and plain FastCDC chunking on the same buffer.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fastcdc::v2020::{FastCDC, Normalization};
use pugmark::{FingerprintParams, Pipeline};

#[path = "../tests/common/mod.rs"]
mod common;

fn bytes(c: &mut Criterion) {
    let data = common::random_bytes(1, 64 << 20);
    let params = FingerprintParams::with_seed(0x1234_5678_9ABC_DEF0);
    let pipeline = Pipeline::new(params.clone()).expect("default params are valid");

    let mut group = c.benchmark_group("bytes");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);

    group.bench_function("blake3_hash", |b| b.iter(|| blake3::hash(black_box(&data))));
    group.bench_function("fastcdc_v2020_chunking_only", |b| {
        b.iter(|| {
            FastCDC::with_level_and_seed(
                black_box(&data),
                params.chunk_min as usize,
                params.chunk_avg as usize,
                params.chunk_max as usize,
                Normalization::Level1,
                params.gear_seed,
            )
            .count()
        })
    });
    let chunker = pugmark::fingerprint::Chunker::new(&params);
    group.bench_function("pugmark_chunker_only", |b| {
        b.iter(|| {
            let data = black_box(&data[..]);
            let (mut pos, mut n) = (0, 0);
            while pos < data.len() {
                pos += chunker.cut(&data[pos..]);
                n += 1;
            }
            n
        })
    });
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a 1-thread pool");
    group.bench_function("pugmark_fingerprint_bytes", |b| {
        b.iter(|| one.install(|| pipeline.fingerprint_bytes(None, black_box(&data))))
    });
    group.bench_function("pugmark_fingerprint_reader", |b| {
        b.iter(|| {
            one.install(|| {
                pipeline
                    .fingerprint_reader(None, black_box(&data[..]))
                    .expect("in-memory read")
            })
        })
    });
    // Two threads: one large item split across the pool, beside BLAKE3's
    // own two-thread tree hashing (what `b3sum` does with two threads).
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread pool");
    group.bench_function("blake3_hash_2_threads", |b| {
        b.iter(|| {
            two.install(|| {
                let mut h = blake3::Hasher::new();
                h.update_rayon(black_box(&data));
                h.finalize()
            })
        })
    });
    group.bench_function("pugmark_fingerprint_bytes_2_threads", |b| {
        b.iter(|| two.install(|| pipeline.fingerprint_bytes(None, black_box(&data))))
    });
    group.finish();
}

criterion_group!(benches, bytes);
criterion_main!(benches);
