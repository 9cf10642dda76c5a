//! Storage faults injected into every step of a commit (create, write,
//! fsync, rename, directory fsync; ENOSPC and EIO; on the segment and on
//! the manifest): the previous index stays whole, nothing temporary is
//! left, and the same writer commits the items when retried.

use std::path::Path;

use super::segment::faults::{inject, Step};
use super::{Index, IndexOptions, IndexWriter, OpenOptions};
use crate::fingerprint::FingerprintParams;

const ENOSPC: i32 = 28;
/// Every step of a durable write.
const STEPS: [Step; 5] = [
    Step::Create,
    Step::Write,
    Step::Sync,
    Step::Rename,
    Step::SyncDir,
];
const EIO: i32 = 5;

fn item(n: u32) -> Vec<u8> {
    (0..60_000u32)
        .map(|i| (i.wrapping_add(n * 7919).wrapping_mul(2_654_435_761) >> 9) as u8)
        .collect()
}

fn found(dir: &Path, data: &[u8]) -> bool {
    let index = Index::open(dir, &OpenOptions::default()).expect("index opens and verifies");
    !index.lookup_exact(blake3::hash(data).as_bytes()).is_empty()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn failed_commits_leave_the_previous_index_and_retry_cleanly() {
    for step in STEPS {
        for errno in [ENOSPC, EIO] {
            // skip 0 fails the segment's write, skip 1 the manifest's.
            for skip in [0, 1] {
                let case = format!("{step:?} errno {errno} skip {skip}");
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().join("idx");
                let opts = IndexOptions {
                    new_params: Some(FingerprintParams::with_seed(5)),
                    ..IndexOptions::default()
                };
                let mut w = IndexWriter::open(&dir, opts.clone()).unwrap();
                let (first, second) = (item(1), item(2));
                w.add_bytes("first.bin", &first);
                w.commit().unwrap();

                w.add_bytes("second.bin", &second);
                inject(step, errno, skip);
                let result = w.commit();
                // Whatever failed, the index opens, verifies and still
                // protects what was committed before.
                assert!(found(&dir, &first), "{case}: first item lost");
                assert!(leftovers(&dir).is_empty(), "{case}: {:?}", leftovers(&dir));
                match result {
                    Err(e) => {
                        let text = e.to_string();
                        assert!(
                            text.contains("No space left") || text.contains("Input/output error"),
                            "{case}: {text}"
                        );
                        // Only a failed directory sync after the manifest's
                        // rename publishes the new segment.
                        let published = found(&dir, &second);
                        assert_eq!(published, step == Step::SyncDir && skip == 1, "{case}");
                    }
                    Ok(_) => panic!("{case}: the fault was not hit"),
                }
                // The same writer retries: the item is indexed once.
                w.add_bytes("second.bin", &second);
                w.commit().unwrap();
                assert!(found(&dir, &second), "{case}: retry did not index");
                drop(w);
                // A new writer finds no unpublished segment files to keep.
                let w = IndexWriter::open(&dir, opts).unwrap();
                drop(w);
                let index = Index::open(&dir, &OpenOptions::default()).unwrap();
                let files = std::fs::read_dir(&dir)
                    .unwrap()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".pgs"))
                    .count();
                assert_eq!(files, index.segments().len(), "{case}");
                super::verify(&dir).unwrap();
            }
        }
    }
}

/// Faults at every step of a compaction (the merged segment's write, then
/// the manifest's): the index still protects every item, through the old
/// segments or the merged one, also after a new writer opens it; a retry
/// compacts.
#[test]
fn failed_compactions_keep_every_item() {
    for step in STEPS {
        for skip in [0, 1] {
            let case = format!("{step:?} skip {skip}");
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("idx");
            let opts = IndexOptions {
                new_params: Some(FingerprintParams::with_seed(6)),
                ..IndexOptions::default()
            };
            let mut w = IndexWriter::open(&dir, opts.clone()).unwrap();
            for n in 0..3 {
                w.add_bytes(&format!("item-{n}"), &item(n));
                w.commit().unwrap();
            }
            inject(step, EIO, skip);
            assert!(w.compact().is_err(), "{case}: the fault was not hit");
            for n in 0..3 {
                assert!(found(&dir, &item(n)), "{case}: item {n} lost");
            }
            drop(w);
            let mut w = IndexWriter::open(&dir, opts).unwrap();
            for n in 0..3 {
                assert!(found(&dir, &item(n)), "{case}: item {n} lost on reopen");
            }
            w.compact().unwrap();
            drop(w);
            super::verify(&dir).unwrap();
            let index = Index::open(&dir, &OpenOptions::default()).unwrap();
            assert_eq!(index.segments().len(), 1, "{case}");
            for n in 0..3 {
                assert!(found(&dir, &item(n)), "{case}: item {n} lost after retry");
            }
        }
    }
}

/// Files whose names hold the member separator are files, not members:
/// removing, pruning or replacing `x` leaves `x!y` protected.
#[test]
fn names_with_the_member_separator_are_not_members() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("x!y")).unwrap();
    std::fs::write(tree.join("x"), item(1)).unwrap();
    std::fs::write(tree.join("x!y/inner.bin"), item(2)).unwrap();
    std::fs::write(tree.join("a.bin"), item(3)).unwrap();
    std::fs::write(tree.join("a.bin!notes.bin"), item(4)).unwrap();
    let dir = tmp.path().join("idx");
    let opts = IndexOptions {
        new_params: Some(FingerprintParams::with_seed(7)),
        ..IndexOptions::default()
    };
    let mut w = IndexWriter::open(&dir, opts).unwrap();
    w.add_paths(std::slice::from_ref(&tree)).unwrap();
    // `x` is deleted and pruned; `a.bin` changes.
    std::fs::remove_file(tree.join("x")).unwrap();
    std::fs::write(tree.join("a.bin"), item(5)).unwrap();
    w.add_paths(std::slice::from_ref(&tree)).unwrap();
    let pruned = w.prune(std::slice::from_ref(&tree)).unwrap();
    assert_eq!(pruned.len(), 1, "{pruned:?}");
    w.commit().unwrap();
    w.compact().unwrap();
    assert!(!found(&dir, &item(1)), "x was pruned");
    for (n, what) in [(2, "x!y/inner.bin"), (4, "a.bin!notes.bin"), (5, "a.bin")] {
        assert!(found(&dir, &item(n)), "{what} lost");
    }
}
