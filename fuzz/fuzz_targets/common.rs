//! A scanner over a small index built once per fuzzing process, and the
//! property every target checks.

use std::sync::OnceLock;

use pugmark::{
    FingerprintParams, IndexOptions, IndexWriter, Report, ScanOptions, Scanner, Verdict,
};

/// The scanner every input is scanned with (an index of one random item,
/// so verdicts are judged as in production).
pub fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<(tempfile::TempDir, Scanner)> = OnceLock::new();
    &SCANNER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let idx = dir.path().join("idx");
            let mut w = IndexWriter::open(
                &idx,
                IndexOptions {
                    new_params: Some(FingerprintParams::with_seed(1)),
                    ..IndexOptions::default()
                },
            )
            .expect("index");
            let item: Vec<u8> = (0..100_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect();
            w.add_bytes("protected.bin", &item);
            w.commit().expect("commit");
            drop(w);
            let scanner = Scanner::open(&idx, ScanOptions::default()).expect("scanner");
            (dir, scanner)
        })
        .1
}

/// Fail closed: a report that names a reason is never `clean`.
pub fn check(report: &Report) {
    if !report.reasons.is_empty() {
        assert_ne!(report.verdict, Verdict::Clean, "{report:?}");
    }
}
