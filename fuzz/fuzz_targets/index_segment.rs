//! Fuzz target `index_segment`: the index loader on a damaged segment. A
//! real index (an opaque item, a table, a photo) is built once; each input
//! replaces its segment file and the index is opened without checksum
//! verification (an operator's choice for speed), queried and verified.
//! Any outcome but a panic, an out-of-bounds read or a runaway allocation
//! is acceptable: a damaged segment must give an error or answers, never a
//! crash of the scanner that loads it.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use pugmark::{FingerprintParams, Index, IndexOptions, IndexWriter, OpenOptions};

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

/// The index directory and its one segment file.
fn index() -> &'static (tempfile::TempDir, PathBuf) {
    static INDEX: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let idx = dir.path().join("idx");
        let mut w = IndexWriter::open(
            &idx,
            IndexOptions {
                new_params: Some(FingerprintParams::with_seed(7)),
                ..IndexOptions::default()
            },
        )
        .expect("index");
        let opaque: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        w.add_bytes("opaque.bin", &opaque);
        let mut table = b"time,temp,rh\n".to_vec();
        for i in 0..400 {
            table.extend_from_slice(
                format!(
                    "2026-01-01T{:02}:{:02}:00,{}.{},{}\n",
                    i / 60 % 24,
                    i % 60,
                    i % 37,
                    i % 10,
                    40 + i % 50
                )
                .as_bytes(),
            );
        }
        w.add_bytes("station.csv", &table);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let photo = root.join("data-samples/reserve/photos");
        if let Ok(entries) = std::fs::read_dir(&photo) {
            if let Some(first) = entries.flatten().next() {
                let bytes = std::fs::read(first.path()).expect("photo");
                w.add_bytes("photo.jpg", &bytes);
            }
        }
        w.commit().expect("commit");
        drop(w);
        let segment = std::fs::read_dir(&idx)
            .expect("list")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "pgs"))
            .expect("segment");
        (dir, segment)
    })
}

/// Writes correct checksums into a mutated segment wherever its own
/// header says they go (section sums, then the header sum), so the loader's
/// logic behind the checksums is what gets fuzzed.
fn seal(data: &[u8]) -> Vec<u8> {
    let mut b = data.to_vec();
    let u32_at = |b: &[u8], at: usize| {
        b.get(at..at + 4)
            .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or_default()) as usize)
    };
    let u64_at = |b: &[u8], at: usize| {
        b.get(at..at + 8)
            .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or_default()))
    };
    let sections = u32_at(&b, 12).min(64);
    let dir_start = (32 + u32_at(&b, 24)).next_multiple_of(8);
    let dir_end = dir_start + sections * 72;
    if dir_end + 32 > b.len() {
        return b;
    }
    for s in 0..sections {
        let d = dir_start + s * 72;
        let (off, len) = (u64_at(&b, d + 8), u64_at(&b, d + 16));
        let range = usize::try_from(off)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(o, l)| Some(o..o.checked_add(l)?))
            .filter(|r| r.end <= b.len());
        if let Some(r) = range {
            let sum = *blake3::hash(&b[r]).as_bytes();
            b[d + 40..d + 72].copy_from_slice(&sum);
        }
    }
    let sum = *blake3::hash(&b[..dir_end]).as_bytes();
    b[dir_end..dir_end + 32].copy_from_slice(&sum);
    b
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (_, segment) = index();
    std::fs::write(segment, seal(data)).expect("write segment");
    let dir = segment.parent().expect("dir");
    let opts = OpenOptions {
        body_check: pugmark::index::BodyCheck::HeadersOnly,
    };
    if let Ok(index) = Index::open(dir, &opts) {
        let _ = index.stats();
        let _ = index.lookup_exact(&[0u8; 32]);
        let _ = index.lookup_image(&pugmark::fingerprint::image::pdq::PdqHash([0x5a; 32]), 47);
        for seg in index.segments() {
            for i in 0..seg.item_count().min(1000) {
                let _ = seg.item(i);
                let _ = seg.item_size(i);
            }
            for i in 0..seg.image_row_count().min(1000) {
                let _ = seg.image_row(i);
            }
            let _ = seg.verify();
        }
    }
});
