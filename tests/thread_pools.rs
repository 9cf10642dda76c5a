//! The library never builds or uses rayon's global pool behind its
//! caller's back: indexing, scanning a large item from a plain thread and
//! walking a tree leave it unbuilt (so a host program can still configure
//! it), and the results equal those of a caller's own pool.
//! (One test in this file: the global pool is per process.)

mod common;

use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner, Verdict};

#[test]
fn the_global_pool_is_never_built_implicitly() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = tmp.path().join("protected");
    std::fs::create_dir(&protected).unwrap();
    let big = common::random_bytes(41, 9 << 20);
    std::fs::write(protected.join("big.bin"), &big).unwrap();
    let dir = tmp.path().join("idx");
    let mut writer = IndexWriter::open(&dir, IndexOptions::default()).unwrap();
    writer.add_paths(std::slice::from_ref(&protected)).unwrap();
    drop(writer);
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    // 9 MiB from this (non-pool) thread: split across the scanner's own
    // workers, not the global pool.
    let direct = scanner.scan_bytes("big.bin", &big);
    assert_eq!(direct.verdict, Verdict::Match);
    // A stream from this thread: read in bounded memory on this thread.
    let streamed = scanner.scan_reader("big.bin", std::io::Cursor::new(&big));
    assert_eq!(streamed.verdict, Verdict::Match);
    // A large file from this thread, by a second scanner: on its own
    // workers (more `pugmark-scan-*` threads afterwards).
    let before = scan_workers();
    let second = Scanner::open(&dir, ScanOptions::default()).unwrap();
    let by_path = second.scan_path(&protected.join("big.bin"));
    assert_eq!(by_path.verdict, Verdict::Match);
    if cfg!(target_os = "linux") {
        assert!(scan_workers() > before, "the scanner's workers never ran");
    }
    let walked = scanner.scan_paths(&[protected]).unwrap();
    assert_eq!(walked[0].verdict, Verdict::Match);
    // Inside a caller's pool the same answer.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let in_pool = pool.install(|| scanner.scan_bytes("big.bin", &big));
    assert_eq!(
        serde_json::to_value(&in_pool.evidence).unwrap(),
        serde_json::to_value(&direct.evidence).unwrap()
    );
    assert!(
        rayon::ThreadPoolBuilder::new().build_global().is_ok(),
        "the global pool was built by the library"
    );
}

/// Threads of scanners' worker pools alive in this process (Linux).
fn scan_workers() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.starts_with("pugmark-scan-"))
        })
        .count()
}
