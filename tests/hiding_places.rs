//! Metamorphic: a protected table hidden where a reader once did not look
//! (link entries with data, metadata records, mislabelled streams, name
//! tables, preambles; see tests/fixtures/hiding/SOURCES.md) still matches,
//! and the same wrappers without it do not.

mod common;

use std::path::Path;

use pugmark::Verdict;

#[test]
fn a_table_hidden_in_overlooked_places_still_matches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let table = std::fs::read(root.join("documents/week-summary.csv")).unwrap();
    let (_tmp, scanner) = common::index_items(11, &[("week-summary.csv".into(), table.clone())]);
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("hiding")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        seen += 1;
        let report = scanner.scan_path(&path);
        assert_eq!(
            report.verdict,
            Verdict::Match,
            "{}: {report:#?}",
            path.display()
        );
        // The wrapper without the table: the same bytes with the table's
        // every occurrence blanked are not a match.
        let mut blanked = std::fs::read(&path).unwrap();
        let mut found = false;
        while let Some(at) = blanked.windows(64).position(|w| w == &table[..64]) {
            let end = (at + table.len()).min(blanked.len());
            blanked[at..end].fill(b' ');
            found = true;
        }
        if found {
            let name = path.file_name().unwrap().to_string_lossy();
            let report = scanner.scan_bytes(&name, &blanked);
            assert_ne!(
                report.verdict,
                Verdict::Match,
                "{name} blanked: {report:#?}"
            );
        }
    }
    assert_eq!(seen, 17);
}
