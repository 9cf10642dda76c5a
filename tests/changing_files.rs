//! Files that change while they are scanned: the scanner's default reads
//! files instead of mapping them, so a file truncated by another process
//! mid-scan gives that item a verdict (an `error` naming
//! `source.changed`, or the verdict of what was read) and the process
//! lives on; with a mapping, the next access would raise SIGBUS and kill
//! the whole run.

mod common;

use std::time::Duration;

use pugmark::Verdict;

#[test]
fn truncating_a_file_while_it_is_scanned_never_kills_the_scanner() {
    let (_idx, scanner) =
        common::index_items(51, &[("p.bin".into(), common::random_bytes(5, 300_000))]);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.bin");
    let big = common::random_bytes(9, 48 << 20);
    let mut changed = 0;
    for attempt in 0..6u64 {
        std::fs::write(&path, &big).unwrap();
        let victim = path.clone();
        let cutter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(attempt * 3));
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&victim)
                .unwrap();
            f.set_len(4096).unwrap();
        });
        let report = scanner.scan_path(&path);
        cutter.join().unwrap();
        match report.verdict {
            Verdict::Error => {
                let text = format!("{report:?}");
                assert!(
                    text.contains("source.changed") || text.contains("reading"),
                    "{text}"
                );
                changed += 1;
            }
            Verdict::Match => panic!("random bytes matched"),
            // Read before or after the cut: a whole file either way.
            _ => {}
        }
    }
    // The scanner still works after it all.
    assert_eq!(
        scanner
            .scan_bytes("p.bin", &common::random_bytes(5, 300_000))
            .verdict,
        Verdict::Match
    );
    eprintln!("{changed} of 6 scans saw the file change");
}
