//! End to end: scanning `data-samples/outgoing` (pictures, rasters,
//! telemetry, archives, documents, mail) against an index of
//! `data-samples/reserve`, as the CLI's `scan` does, in bytes of outgoing
//! data per second; and the documents one at a time.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, Verdict};

#[path = "../tests/common/mod.rs"]
mod common;

fn scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let idx = dir.path().join("idx");
    let mut writer = IndexWriter::open(&idx, IndexOptions::default()).expect("index");
    writer
        .add_paths(&[common::samples().join("reserve")])
        .expect("indexing the reserve");
    drop(writer);
    let outgoing = common::samples().join("outgoing");
    let bytes: u64 = std::fs::read_dir(&outgoing)
        .expect("outgoing samples")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();

    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes));
    for threads in [1usize, 2] {
        let scanner =
            Scanner::open(&idx, ScanOptions::default().with_threads(threads)).expect("scanner");
        let reports = scanner
            .scan_paths(std::slice::from_ref(&outgoing))
            .expect("scan");
        assert!(reports.iter().any(|r| r.verdict == Verdict::Match));
        group.bench_function(format!("data_samples_outgoing_{threads}_threads"), |b| {
            b.iter(|| {
                scanner
                    .scan_paths(std::slice::from_ref(&outgoing))
                    .expect("scan")
            })
        });
    }
    group.finish();

    // Documents one at a time, as a gateway asks per outgoing file: a PDF
    // (DCT picture), a PDF map (raw samples), a spreadsheet, a mail.
    let scanner = Scanner::open(&idx, ScanOptions::default().with_threads(1)).expect("scanner");
    let mut group = c.benchmark_group("scan_documents");
    group.sample_size(30);
    for file in [
        "field-photo.pdf",
        "dem-map.pdf",
        "station-table.xlsx",
        "mail-to-press.eml",
    ] {
        let path = outgoing.join(file);
        let data = std::fs::read(&path).expect("document sample");
        let report = scanner.scan_bytes(file, &data);
        assert_eq!(report.verdict, Verdict::Match, "{file}");
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(file, |b| b.iter(|| scanner.scan_bytes(file, &data)));
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
