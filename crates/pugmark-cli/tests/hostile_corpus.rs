//! The hostile corpus through the real binary: every file is `incomplete`
//! or `error` with a reason, in bounded time and memory.

mod bin;
#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use pugmark::{Report, Verdict};

fn codes(report: &Report) -> Vec<String> {
    common::reason_codes(report)
}

/// Every file of the hostile corpus, scanned by the real binary one at a
/// time: `incomplete` or `error` with a reason (the one valid BigTIFF
/// aside), no crash, under 10 s and 512 MiB peak RSS each, as the process
/// itself measures it.
#[test]
fn hostile_corpus_is_never_clean_and_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let prot = tmp.path().join("prot");
    common::copy_reserve(&prot);
    let bin = bin::PUGMARK;
    let status = std::process::Command::new(bin)
        .args(["--index"])
        .arg(&idx)
        .arg("index")
        .arg(&prot)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let dir = common::root().join("tests/fixtures/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "SOURCES.md")
        .collect();
    files.sort();
    assert!(files.len() >= 33, "{}", files.len());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let started = Instant::now();
        let out = std::process::Command::new(bin)
            .args(["--index"])
            .arg(&idx)
            .args(["scan", "--json", "--resources"])
            .arg(&path)
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss_kib: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak_rss_kib "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no peak RSS in {stderr}"));
        let report: Report =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {stderr}"));
        eprintln!(
            "{name}: {:?} {:?} in {took:?}, peak RSS {} MiB",
            report.verdict,
            codes(&report),
            rss_kib / 1024
        );
        assert!(took < Duration::from_secs(10), "{name}: {took:?}");
        assert!(rss_kib < 512 * 1024, "{name}: {rss_kib} KiB");
        if name == "pillow_hopper_bigtiff.tif" {
            // A valid BigTIFF (listed as an edge case, not a broken file).
            assert_eq!(report.verdict, Verdict::Clean, "{report:#?}");
            continue;
        }
        if name == "pillow_tiff_tiled_jpeg_oob_read.tif" {
            // Pillow's test picture is the protected flower: its decodable
            // band matches, and the undecodable part is still reported.
            assert_eq!(report.verdict, Verdict::Match, "{report:#?}");
            assert!(!codes(&report).is_empty());
            continue;
        }
        assert!(
            matches!(report.verdict, Verdict::Incomplete | Verdict::Error),
            "{name}: {report:#?}"
        );
        assert!(
            !codes(&report).is_empty() || report.error.is_some(),
            "{name}: no reason"
        );
    }
}
