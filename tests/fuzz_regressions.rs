//! Replays every input a fuzzing run or a review found harmful (crash,
//! hang, runaway allocation, fail-open) through the production pipeline,
//! whole and as a stream: no panic (not even a contained one), and a
//! report that names a reason is never `clean` at any depth. See tests/fixtures/fuzz/SOURCES.md.

mod common;

use std::path::Path;

use pugmark::{Report, Verdict};

fn check(report: &Report, what: &str) {
    // A panic is contained (the item gets a reason or an error), but it is
    // still the bug these inputs once triggered.
    assert!(
        !report.reasons.iter().any(|r| r.code == "decoder.panic"),
        "{what}: a decoder panicked: {report:#?}"
    );
    assert!(
        !report
            .error
            .as_deref()
            .unwrap_or("")
            .contains("internal error"),
        "{what}: {report:#?}"
    );
    if !report.reasons.is_empty() {
        assert_ne!(report.verdict, Verdict::Clean, "{what}: {report:#?}");
    }
    for member in &report.members {
        assert!(member.verdict <= report.verdict, "{what}: {report:#?}");
        check(member, what);
    }
}

#[test]
fn fuzz_regression_inputs_replay_fail_closed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let (_tmp, scanner) = common::index_items(13, &[("protected.bin".into(), vec![9u8; 50_000])]);
    let mut replayed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).unwrap();
        check(&scanner.scan_bytes(&name, &data), &name);
        check(&scanner.scan_reader(&name, data.as_slice()), &name);
        check(&scanner.scan_path(&path), &name);
        replayed += 1;
    }
    assert!(replayed >= 4, "{replayed} inputs");
}
