//! What a long-running embedder needs beyond one scan: cancelling a scan
//! part-way (one call, or the whole scanner) and picking up what a writer
//! committed since the index was opened.

mod common;

use std::io::Read;

use common::{archive, random_bytes, reason_codes};
use pugmark::{
    FingerprintParams, IndexOptions, IndexWriter, ScanOptions, Scanner, StopFlag, Verdict,
    CANCELLED,
};

/// A stream that raises `stop` once `after` bytes have been read from it.
struct RaisesAfter {
    data: std::io::Cursor<Vec<u8>>,
    after: u64,
    stop: StopFlag,
}

impl Read for RaisesAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.position() >= self.after {
            self.stop.raise();
        }
        // Small reads, so the stop is seen close to where it was raised.
        let n = buf.len().min(16 << 10);
        self.data.read(&mut buf[..n])
    }
}

fn cancelled(report: &pugmark::Report) -> bool {
    reason_codes(report).iter().any(|c| c == CANCELLED)
}

#[test]
fn a_stopped_scanner_examines_nothing_more_and_never_calls_it_clean() {
    let (tmp, scanner) = common::index_items(41, &[("p.bin".into(), random_bytes(1, 100_000))]);
    drop(scanner);
    let stop = StopFlag::new();
    // Even a policy accepting every reason does not accept a cancellation.
    let opts = ScanOptions::default()
        .with_stop(stop.clone())
        .with_accept_incomplete(vec!["*".into()]);
    let scanner = Scanner::open(&tmp.path().join("idx"), opts).unwrap();
    let unrelated = random_bytes(2, 50_000);
    assert_eq!(
        scanner.scan_bytes("u.bin", &unrelated).verdict,
        Verdict::Clean
    );
    stop.raise();
    for report in [
        scanner.scan_bytes("u.bin", &unrelated),
        scanner.scan_reader("u.bin", &unrelated[..]),
    ] {
        assert_eq!(report.verdict, Verdict::Incomplete, "{report:?}");
        assert!(cancelled(&report), "{report:?}");
    }
}

#[test]
fn a_stop_raised_part_way_through_a_stream_leaves_it_incomplete() {
    let (_tmp, scanner) = common::index_items(42, &[("p.bin".into(), random_bytes(3, 100_000))]);
    // Plain bytes (no archive): the stream is cut where the stop was seen.
    let stop = StopFlag::new();
    let plain = RaisesAfter {
        data: std::io::Cursor::new(random_bytes(4, 24 << 20)),
        after: 1 << 20,
        stop: stop.clone(),
    };
    let report = scanner.with_stop(stop).scan_reader("big.bin", plain);
    assert_eq!(report.verdict, Verdict::Incomplete, "{report:?}");
    assert!(cancelled(&report), "{report:?}");

    // A tar stream: the archive walk stops at the next member.
    let members: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| (format!("m{i}.bin"), random_bytes(10 + i, 1 << 20)))
        .collect();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let stop = StopFlag::new();
    let tar = RaisesAfter {
        data: std::io::Cursor::new(archive::tar(&refs)),
        after: 2 << 20,
        stop: stop.clone(),
    };
    let report = scanner.with_stop(stop).scan_reader("many.tar", tar);
    assert_eq!(report.verdict, Verdict::Incomplete, "{report:?}");
    assert!(cancelled(&report), "{report:?}");
}

#[test]
fn what_matched_before_a_cancellation_still_counts() {
    let protected = random_bytes(5, 600_000);
    let (_tmp, scanner) = common::index_items(43, &[("p.bin".into(), protected.clone())]);
    let filler = random_bytes(6, 4 << 20);
    let tar = archive::tar(&[
        ("first/p.bin", &protected),
        ("then/a.bin", &filler),
        ("then/b.bin", &filler),
    ]);
    let stop = StopFlag::new();
    let stream = RaisesAfter {
        data: std::io::Cursor::new(tar),
        after: 3 << 20,
        stop: stop.clone(),
    };
    let report = scanner.with_stop(stop).scan_reader("out.tar", stream);
    assert_eq!(report.verdict, Verdict::Match, "{report:?}");
    assert!(cancelled(&report), "{report:?}");
}

#[test]
fn a_per_call_stop_cancels_that_call_only() {
    let (_tmp, scanner) = common::index_items(44, &[("p.bin".into(), random_bytes(7, 100_000))]);
    let unrelated = random_bytes(8, 50_000);
    let stop = StopFlag::new();
    let call = scanner.with_stop(stop.clone());
    stop.raise();
    let report = call.scan_bytes("u.bin", &unrelated);
    assert_eq!(report.verdict, Verdict::Incomplete);
    assert!(cancelled(&report));
    // The scanner it came from, and another call, go on as before.
    assert_eq!(
        scanner.scan_bytes("u.bin", &unrelated).verdict,
        Verdict::Clean
    );
    assert_eq!(
        scanner
            .with_stop(StopFlag::new())
            .scan_bytes("u.bin", &unrelated)
            .verdict,
        Verdict::Clean
    );
    // A call reopened on a changed index keeps its stop.
    let reopened = call.reopen().unwrap();
    assert!(cancelled(&reopened.scan_bytes("u.bin", &unrelated)));
    // scan_paths of a stopped call fails as cancelled.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("u.bin"), &unrelated).unwrap();
    assert!(matches!(
        call.scan_paths(&[tmp.path().to_path_buf()]),
        Err(pugmark::Error::Cancelled)
    ));
}

#[test]
fn reopen_picks_up_what_a_writer_committed_since() {
    let first = random_bytes(21, 200_000);
    let second = random_bytes(22, 200_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let params = FingerprintParams::with_seed(45);
    let mut writer =
        IndexWriter::open(&dir, IndexOptions::default().with_new_params(Some(params))).unwrap();
    writer.add_bytes("first.bin", &first);
    writer.commit().unwrap();

    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert!(!scanner.index().changed_on_disk());
    assert_eq!(scanner.scan_bytes("s", &second).verdict, Verdict::Clean);

    writer.add_bytes("second.bin", &second);
    writer.commit().unwrap();
    assert!(scanner.index().changed_on_disk());
    // The open scanner answers from what it opened; a reopened one sees
    // the new item, and the old one's in-flight work is undisturbed.
    assert_eq!(scanner.scan_bytes("s", &second).verdict, Verdict::Clean);
    let fresh = scanner.reopen().unwrap();
    assert!(!fresh.index().changed_on_disk());
    assert_eq!(fresh.scan_bytes("s", &second).verdict, Verdict::Match);
    assert_eq!(fresh.scan_bytes("f", &first).verdict, Verdict::Match);
    assert_eq!(scanner.scan_bytes("f", &first).verdict, Verdict::Match);

    // What a service holds: a shared scanner it reloads between requests.
    let shared = pugmark::SharedScanner::new(fresh);
    let before = shared.current();
    assert!(!shared.reload().unwrap());
    let third = random_bytes(23, 200_000);
    writer.add_bytes("third.bin", &third);
    writer.commit().unwrap();
    assert!(shared.reload().unwrap());
    assert_eq!(
        shared.current().scan_bytes("t", &third).verdict,
        Verdict::Match
    );
    // A scan holding the old scanner still answers from it.
    assert_eq!(before.scan_bytes("t", &third).verdict, Verdict::Clean);
}

/// Whatever reason the code that saw the stop filed, the item itself says
/// it was cancelled: office documents, a PDF and a zip, in memory.
#[test]
fn an_item_cut_short_in_memory_says_it_was_cancelled() {
    let documents = common::root().join("tests/fixtures/documents");
    let zip = archive::zip(&[
        archive::ZipMember::new("a.bin", &random_bytes(31, 100_000)),
        archive::ZipMember::new("b.bin", &random_bytes(32, 100_000)),
    ]);
    let stop = StopFlag::new();
    stop.raise();
    let pipeline = pugmark::Pipeline::new(FingerprintParams::with_seed(46))
        .unwrap()
        .with_stop(stop);
    let mut items = vec![("out.zip".to_string(), zip)];
    for name in [
        "station-table.docx",
        "station-table.xlsx",
        "station-table.ods",
        "station-table.pdf",
        "dem-map.pdf",
    ] {
        items.push((
            name.to_string(),
            std::fs::read(documents.join(name)).unwrap(),
        ));
    }
    for (name, data) in items {
        let fp = pipeline.fingerprint_bytes(Some(std::path::Path::new(&name)), &data);
        assert!(
            fp.reasons.iter().any(|r| r.code == CANCELLED),
            "{name}: {:?}",
            fp.reasons
        );
    }
}

/// Exported parameters hold the secret seed: the file is owner-only even
/// when it existed before, readable by others.
#[cfg(unix)]
#[test]
fn exported_parameters_are_owner_only_even_over_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let writer = IndexWriter::open(&tmp.path().join("idx"), IndexOptions::default()).unwrap();
    let file = tmp.path().join("params.json");
    std::fs::write(&file, b"old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    writer.export_params(&file).unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let back: FingerprintParams = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(&back, writer.params());
}
