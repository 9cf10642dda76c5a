//! Compaction, pruning, size-tiered merging and shard merges: scan results
//! are the same before and after (property-tested on random histories of
//! adds, changes and removals over real protected files), files deleted
//! from the protected tree can be pruned, two shard indexes built by two
//! processes merge into one that answers like an index built in one go, and
//! a compaction killed at any moment leaves a working index.

mod bin;
#[path = "../../../tests/common/mod.rs"]
mod common;

use bin::{pugmark, pugmark_process};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use pugmark::{FingerprintParams, IndexOptions, IndexWriter, ScanOptions, Scanner};

/// The contents items are drawn from: every protected sample, two random
/// blobs, and a second version of a telemetry table.
fn pool() -> &'static Vec<(String, Vec<u8>)> {
    static POOL: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let mut out = Vec::new();
        let mut files: Vec<PathBuf> = Vec::new();
        collect(&common::samples().join("reserve"), &mut files);
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(&f).unwrap()));
        }
        out.push(("blob-a.bin".into(), common::random_bytes(7, 150_000)));
        out.push(("blob-b.bin".into(), common::random_bytes(8, 90_000)));
        let csv = out
            .iter()
            .find(|(n, _)| n.ends_with(".csv"))
            .map(|(_, d)| d.clone())
            .unwrap();
        let half = csv.len() / 2;
        let cut = half + csv[half..].iter().position(|&b| b == b'\n').unwrap() + 1;
        out.push(("table-v2.csv".into(), csv[..cut].to_vec()));
        out
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// What a scan says, independent of where items are stored: the verdict
/// and the evidence entries as sorted JSON.
fn answer(scanner: &Scanner, name: &str, data: &[u8]) -> (String, Vec<String>) {
    let report = scanner.scan_bytes(name, data);
    let mut evidence: Vec<String> = report
        .evidence
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    evidence.sort();
    (format!("{:?}", report.verdict), evidence)
}

/// Every pool content, each with a byte changed, and an excerpt of a blob,
/// scanned.
fn answers(dir: &Path) -> Vec<(String, Vec<String>)> {
    let scanner = Scanner::open(dir, ScanOptions::default().with_allow_empty_index(true)).unwrap();
    let mut queries: Vec<(String, Vec<u8>)> = pool().clone();
    let blob = &pool().iter().find(|(n, _)| n == "blob-a.bin").unwrap().1;
    queries.push(("excerpt.bin".into(), blob[30_000..130_000].to_vec()));
    // Each content with one byte changed in the middle: no exact digest,
    // so chunks, samples, records and image hashes have to answer.
    for (name, data) in pool() {
        let mut changed = data.clone();
        let mid = changed.len() / 2;
        changed[mid] ^= 0x20;
        queries.push((format!("changed-{name}"), changed));
    }
    queries
        .iter()
        .map(|(n, d)| answer(&scanner, n, d))
        .collect()
}

fn writer(dir: &Path) -> IndexWriter {
    IndexWriter::open(
        dir,
        IndexOptions::default().with_new_params(Some(FingerprintParams::with_seed(41))),
    )
    .unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    /// Name `n` gets pool content `c` (new, or a changed version).
    Put(usize, usize),
    /// Name `n` is removed.
    Remove(usize),
    /// Pending changes become a segment.
    Commit,
    /// Segments merged by size tier.
    MergeTiers,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..5usize, 0..11usize).prop_map(|(n, c)| Op::Put(n, c)),
        2 => (0..5usize).prop_map(Op::Remove),
        3 => Just(Op::Commit),
        1 => Just(Op::MergeTiers),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// After any history, scans answer the same before compaction, after
    /// it, and as an index built from scratch from the live items alone.
    #[test]
    fn compaction_keeps_every_answer(ops in proptest::collection::vec(op(), 4..14)) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        let mut w = writer(&dir);
        let mut live: BTreeMap<usize, usize> = BTreeMap::new();
        for op in &ops {
            match *op {
                Op::Put(n, c) => {
                    let (_, data) = &pool()[c % pool().len()];
                    w.add_bytes(&format!("item-{n}"), data);
                    live.insert(n, c % pool().len());
                }
                Op::Remove(n) => {
                    w.remove(&[format!("item-{n}").into_bytes()]);
                    live.remove(&n);
                }
                Op::Commit => {
                    w.commit().unwrap();
                }
                Op::MergeTiers => {
                    w.merge_tiers().unwrap();
                }
            }
        }
        w.commit().unwrap();
        let before = answers(&dir);
        let summary = w.compact().unwrap();
        prop_assert!(summary.segments_after <= 1);
        drop(w);
        pugmark::index::verify(&dir).unwrap();
        let after = answers(&dir);
        prop_assert_eq!(&before, &after);

        let fresh = tmp.path().join("fresh");
        let mut f = writer(&fresh);
        for (n, c) in &live {
            f.add_bytes(&format!("item-{n}"), &pool()[*c].1);
        }
        f.commit().unwrap();
        drop(f);
        prop_assert_eq!(&after, &answers(&fresh));
        let stats = pugmark::Index::open(&dir, &Default::default()).unwrap().stats();
        prop_assert_eq!(stats.items as usize, live.len());
        prop_assert_eq!(stats.superseded_items, 0);
    }
}

/// Many small commits stay a logarithmic number of segments.
#[test]
fn size_tiers_keep_the_segment_count_logarithmic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = writer(&dir);
    for k in 0..40u64 {
        w.add_bytes(&format!("blob-{k}"), &common::random_bytes(k, 40_000));
        w.commit().unwrap();
        w.merge_tiers().unwrap();
    }
    let stats = pugmark::Index::open(&dir, &Default::default())
        .unwrap()
        .stats();
    assert_eq!(stats.items, 40);
    // 40 commits in base 4: at most 3 segments per tier, two tiers used.
    assert!(stats.segments <= 6, "{} segments", stats.segments);
    drop(w);
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    for k in [0u64, 17, 39] {
        let report = scanner.scan_bytes("out.bin", &common::random_bytes(k, 40_000));
        assert_eq!(report.verdict, pugmark::Verdict::Match, "blob {k}");
    }
}

/// `index --prune` removes the files deleted from the protected tree (and
/// only those): their copies scan clean, the others still match.
#[test]
fn prune_drops_deleted_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("reserve");
    common::copy_reserve(&tree);
    let index = tmp.path().join("idx");
    pugmark(&index).arg("index").arg(&tree).assert().code(0);
    let gone = tree.join("rasters/rmnp-dem.tif");
    let kept = tree.join("telemetry/vega_seattle-weather.csv");
    let gone_bytes = std::fs::read(&gone).unwrap();
    std::fs::remove_file(&gone).unwrap();
    // Without --prune nothing is dropped.
    pugmark(&index).arg("index").arg(&tree).assert().code(0);
    let copy = tmp.path().join("copy.tif");
    std::fs::write(&copy, &gone_bytes).unwrap();
    pugmark(&index).arg("scan").arg(&copy).assert().code(1);
    pugmark(&index)
        .args(["index", "--prune"])
        .arg(&tree)
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "pruned (gone from disk): 1 file;",
        ));
    pugmark(&index).arg("scan").arg(&copy).assert().code(0);
    pugmark(&index).arg("scan").arg(&kept).assert().code(1);
    pugmark(&index).arg("compact").assert().code(0);
    pugmark(&index).arg("verify").assert().code(0);
    pugmark(&index).arg("scan").arg(&copy).assert().code(0);
    pugmark(&index).arg("scan").arg(&kept).assert().code(1);
}

/// Two shards built by two processes with exported parameters merge into
/// an index that answers every query like one built over the whole tree.
#[test]
fn two_shards_merge_into_one_index() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("reserve");
    common::copy_reserve(&tree);
    let params = tmp.path().join("params.json");
    let (a, b, all, whole) = (
        tmp.path().join("shard-a"),
        tmp.path().join("shard-b"),
        tmp.path().join("merged"),
        tmp.path().join("whole"),
    );
    pugmark(&a)
        .args(["init", "--export-params"])
        .arg(&params)
        .assert()
        .code(0);
    for dir in [&b, &whole] {
        pugmark(dir)
            .args(["init", "--import-params"])
            .arg(&params)
            .assert()
            .code(0);
    }
    // Disjoint parts of the archive, indexed by separate processes.
    let mut one = pugmark_process(&a)
        .arg("index")
        .arg(tree.join("photos"))
        .spawn()
        .unwrap();
    let mut two = pugmark_process(&b)
        .arg("index")
        .arg(tree.join("rasters"))
        .arg(tree.join("telemetry"))
        .spawn()
        .unwrap();
    assert!(one.wait().unwrap().success() && two.wait().unwrap().success());
    pugmark(&all).arg("merge").arg(&a).arg(&b).assert().code(0);
    pugmark(&whole).arg("index").arg(&tree).assert().code(0);
    pugmark(&all).arg("verify").assert().code(0);
    assert_eq!(answers(&all), answers(&whole));
    // Another seed is refused, with the reason.
    let stranger = tmp.path().join("stranger");
    pugmark(&stranger).arg("init").assert().code(0);
    pugmark(&all)
        .arg("merge")
        .arg(&stranger)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("gear_seed"));
}

/// `compact` killed with SIGKILL at moments spread over its run leaves an
/// index that verifies and still finds what it protects.
#[cfg(unix)]
#[test]
fn killed_compactions_leave_a_working_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = writer(&dir);
    let first = common::random_bytes(5, 300_000);
    w.add_bytes("first", &first);
    w.commit().unwrap();
    for k in 0..16u64 {
        w.add_bytes(
            &format!("more-{k}"),
            &common::random_bytes(50 + k, 1_500_000),
        );
        // Replace some, so compaction has items to drop.
        if k % 3 == 0 {
            w.add_bytes(&format!("more-{k}"), &common::random_bytes(90 + k, 700_000));
        }
        w.commit().unwrap();
    }
    drop(w);
    let out_file = tmp.path().join("outgoing.bin");
    std::fs::write(&out_file, &first).unwrap();
    for attempt in 0..10u64 {
        let mut child = pugmark_process(&dir)
            .arg("compact")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(attempt * 12));
        let _ = child.kill();
        let _ = child.wait();
        pugmark(&dir).arg("verify").assert().code(0);
        pugmark(&dir).arg("scan").arg(&out_file).assert().code(1);
    }
    pugmark(&dir).arg("compact").assert().code(0);
    let stats = pugmark::Index::open(&dir, &Default::default())
        .unwrap()
        .stats();
    assert_eq!(
        (stats.segments, stats.items, stats.superseded_items),
        (1, 17, 0)
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pgs") || n.ends_with(".tmp"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    pugmark(&dir).arg("scan").arg(&out_file).assert().code(1);
}

/// Readers that opened the index before a compaction keep answering from
/// their snapshot after the old segment files are removed.
#[cfg(unix)]
#[test]
fn a_reader_opened_before_compaction_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = writer(&dir);
    let data = common::random_bytes(3, 200_000);
    w.add_bytes("a", &data);
    w.commit().unwrap();
    w.add_bytes("b", &common::random_bytes(4, 200_000));
    w.commit().unwrap();
    let early = Scanner::open(&dir, ScanOptions::default()).unwrap();
    w.compact().unwrap();
    assert_eq!(
        early.scan_bytes("out.bin", &data).verdict,
        pugmark::Verdict::Match
    );
    let late = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert_eq!(
        late.scan_bytes("out.bin", &data).verdict,
        pugmark::Verdict::Match
    );
}
