//! Headers that announce far more than the file holds are refused, or read
//! as data arrives, without allocating from their numbers: each file is
//! scanned in this process under a heap ceiling of 64 MiB above what the
//! process already holds (the `cap` allocator fails any allocation past it,
//! which aborts the test). Also each such file is never `clean`.
//!
//! One test in this file on purpose: the ceiling is process-wide.

mod common;

use std::io::Write;
use std::path::Path;

use cap::Cap;
use pugmark::Verdict;

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// Extra heap one hostile item may take.
const EXTRA: usize = 64 << 20;

#[test]
fn announced_sizes_allocate_nothing_before_data_arrives() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile-headers");
    let (_tmp, scanner) = common::index_items(3, &[("protected.bin".into(), vec![7u8; 100_000])]);
    let cases = [
        ("tiff-16384x16384-f64-one-strip.tif", "raster."),
        ("tiff-2p31x2p31x4.tif", "limits.raster_samples"),
        ("png16-60000x60000.png", "limits.raster_samples"),
        ("png-rgba-65535x65535.png", "limits.image_pixels"),
        ("jpeg-65500x65500.jpg", "limits.image_pixels"),
        ("gif-65535x65535.gif", "limits.image_pixels"),
        ("zip-member-4gib.zip", "container.truncated"),
        ("pdf-image-100000x100000.pdf", "pdf.image"),
        ("ascii-grid-2p32x2p32.asc", "limits.raster_samples"),
    ];
    for (file, code) in cases {
        let data = std::fs::read(dir.join(file)).unwrap();
        // Said on stderr directly: an abort loses the harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "scanning {file} under a {EXTRA}-byte heap ceiling"
        );
        ALLOCATOR.set_limit(ALLOCATOR.allocated() + EXTRA).unwrap();
        let report = scanner.scan_bytes(file, &data);
        ALLOCATOR.set_limit(usize::MAX).unwrap();
        assert_ne!(report.verdict, Verdict::Clean, "{file}: {report:?}");
        let codes: Vec<&str> = report
            .reasons
            .iter()
            .chain(report.members.iter().flat_map(|m| &m.reasons))
            .map(|r| r.code.as_str())
            .collect();
        assert!(
            codes.iter().any(|c| c.starts_with(code)),
            "{file}: expected {code}, got {codes:?}"
        );
    }
}
