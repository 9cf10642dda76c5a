//! The index fails closed on itself: an index with no protected items (a
//! failed or empty build) refuses to scan unless allowed, `index` says so
//! in its exit code when protected paths were skipped, index files are
//! owner-only, leftovers of a killed run are removed, and a commit that
//! fails leaves a writer that indexes the same files again on retry. Under
//! real storage faults (a full disk via /dev/full, a file-size limit) the
//! previous index survives; a second writer process gets "locked"; scans in
//! other processes during commits always see a whole snapshot.

mod bin;
#[path = "../../../tests/common/mod.rs"]
mod common;

use bin::pugmark;

use std::path::Path;

use pugmark::{FingerprintParams, IndexOptions, IndexWriter, ScanOptions, Scanner, Verdict};

fn writer(dir: &Path) -> IndexWriter {
    IndexWriter::open(
        dir,
        IndexOptions::default().with_new_params(Some(FingerprintParams::with_seed(41))),
    )
    .unwrap()
}

#[test]
fn an_index_with_no_protected_items_refuses_to_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    let dem = common::reserve("rasters/rmnp-dem.tif");
    // A build from a path that does not exist fails, and leaves an index
    // with nothing in it: scanning against it is an error, not `clean`.
    pugmark(&index)
        .args(["index", "does-not-exist"])
        .assert()
        .code(2);
    let out = pugmark(&index)
        .arg("scan")
        .arg(&dem)
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("holds no protected items"));
    // The operator may allow it explicitly.
    pugmark(&index)
        .args(["scan", "--allow-empty-index"])
        .arg(&dem)
        .assert()
        .code(0);
    // The library says the same.
    assert!(matches!(
        Scanner::open(&index, ScanOptions::default()),
        Err(pugmark::Error::IndexEmpty(_))
    ));
}

#[cfg(unix)]
#[test]
fn skipped_protected_paths_make_index_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = tmp.path().join("protected");
    std::fs::create_dir(&protected).unwrap();
    std::fs::copy(
        common::reserve("rasters/rmnp-dem.tif"),
        protected.join("dem.tif"),
    )
    .unwrap();
    // A link is not followed by default: the path is skipped.
    std::os::unix::fs::symlink("/etc/hostname", protected.join("link")).unwrap();
    let index = tmp.path().join("idx");
    let out = pugmark(&index)
        .arg("index")
        .arg(&protected)
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("source.symlink"));
    // The rest was indexed: the DEM is protected.
    pugmark(&index)
        .arg("scan")
        .arg(common::reserve("rasters/rmnp-dem.tif"))
        .assert()
        .code(1);
}

#[cfg(unix)]
#[test]
fn index_files_are_owner_only_and_leftovers_are_removed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = writer(&dir);
    w.add_bytes("a.bin", &common::random_bytes(1, 100_000));
    w.commit().unwrap();
    drop(w);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "index directory is {mode:o}");
    assert!(pugmark::index::exposed_files(&dir).is_empty());
    // verify warns once someone opens it up.
    std::fs::set_permissions(dir.join("MANIFEST"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = pugmark(&dir)
        .arg("verify")
        .assert()
        .code(0)
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("readable by other users"));
    // A killed run's temporary files are gone once a writer opens it.
    std::fs::write(dir.join("seg-00000009.tmp"), b"half a segment").unwrap();
    std::fs::write(dir.join("MANIFEST.tmp"), b"half a manifest").unwrap();
    drop(writer(&dir));
    assert!(!dir.join("seg-00000009.tmp").exists());
    assert!(!dir.join("MANIFEST.tmp").exists());
}

#[test]
fn a_failed_commit_does_not_hide_files_from_the_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let secret = common::random_bytes(7, 200_000);
    let mut w = writer(&dir);
    // The segment file cannot be created: a directory holds its name.
    let blocker = dir.join("seg-00000001.tmp");
    std::fs::create_dir(&blocker).unwrap();
    w.add_bytes("secret.bin", &secret);
    assert!(w.commit().is_err());
    std::fs::remove_dir(&blocker).unwrap();
    // The retry adds the same file again; it is not taken as unchanged.
    assert_eq!(
        w.add_bytes("secret.bin", &secret),
        pugmark::index::AddOutcome::Added
    );
    assert!(w.commit().unwrap());
    drop(w);
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert_eq!(
        scanner.scan_bytes("out.bin", &secret).verdict,
        Verdict::Match
    );
}

/// `index` killed with SIGKILL at moments spread over its run (walking,
/// fingerprinting, writing the segment, swapping the manifest) leaves an
/// index that verifies and still protects what an earlier run committed;
/// the next writer cleans up and finishes the job.
#[cfg(unix)]
#[test]
fn killed_index_runs_leave_a_working_index() {
    let tmp = tempfile::tempdir().unwrap();
    let protected = tmp.path().join("protected");
    std::fs::create_dir(&protected).unwrap();
    let first = common::random_bytes(21, 300_000);
    std::fs::write(protected.join("first.bin"), &first).unwrap();
    let index = tmp.path().join("idx");
    pugmark(&index)
        .arg("index")
        .arg(&protected)
        .assert()
        .code(0);
    // More to index, so runs last long enough to be cut at many points.
    for k in 0..12u64 {
        std::fs::write(
            protected.join(format!("more-{k}.bin")),
            common::random_bytes(100 + k, 2_000_000),
        )
        .unwrap();
    }
    let bin = bin::PUGMARK;
    for attempt in 0..8u64 {
        let mut child = std::process::Command::new(bin)
            .arg("--index")
            .arg(&index)
            .arg("index")
            .arg(&protected)
            .env_remove("PUGMARK_INDEX")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(attempt * 15));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        pugmark(&index).arg("verify").assert().code(0);
        let out_file = tmp.path().join("outgoing.bin");
        std::fs::write(&out_file, &first).unwrap();
        pugmark(&index).arg("scan").arg(&out_file).assert().code(1);
    }
    // A last, uninterrupted run completes the index and leaves no
    // temporary files.
    pugmark(&index)
        .arg("index")
        .arg(&protected)
        .assert()
        .code(0);
    let leftovers: Vec<_> = std::fs::read_dir(&index)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let last = tmp.path().join("last.bin");
    std::fs::write(&last, common::random_bytes(111, 2_000_000)).unwrap();
    pugmark(&index).arg("scan").arg(&last).assert().code(1);
}

/// Readers opening the index while a writer commits see the old or the
/// new snapshot, never an error: the manifest is swapped by rename and
/// segments are never modified.
#[test]
fn readers_during_commits_see_a_whole_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let first = common::random_bytes(61, 200_000);
    let mut w = writer(&dir);
    w.add_bytes("first.bin", &first);
    w.commit().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (dir, done, first) = (dir.clone(), done.clone(), first.clone());
        std::thread::spawn(move || {
            let mut opened = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || opened == 0 {
                let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
                assert_eq!(scanner.scan_bytes("out", &first).verdict, Verdict::Match);
                opened += 1;
            }
            opened
        })
    };
    for k in 0..20u64 {
        w.add_bytes(
            &format!("more-{k}.bin"),
            &common::random_bytes(700 + k, 50_000),
        );
        w.commit().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 1);
}

#[test]
fn a_second_writer_process_gets_a_clear_locked_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let file = tmp.path().join("protected.bin");
    std::fs::write(&file, common::random_bytes(71, 100_000)).unwrap();
    let mut w = writer(&dir);
    w.add_bytes("held.bin", &common::random_bytes(72, 100_000));
    w.commit().unwrap();
    // This process holds the lock; `pugmark index` in another is refused
    // before it reads anything, and names the lock.
    let out = pugmark(&dir).arg("index").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("locked by another writer"), "{stderr}");
    drop(w);
    pugmark(&dir).arg("index").arg(&file).assert().code(0);
}

#[test]
fn scans_in_another_process_during_commits_see_a_whole_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let first = common::random_bytes(81, 200_000);
    let outgoing = tmp.path().join("outgoing.bin");
    std::fs::write(&outgoing, &first).unwrap();
    let mut w = writer(&dir);
    w.add_bytes("first.bin", &first);
    w.commit().unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scans = {
        let (dir, done, outgoing) = (dir.clone(), done.clone(), outgoing.clone());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || runs == 0 {
                // Exit 1: a match, never an error from a half-written index.
                let out = pugmark(&dir).arg("scan").arg(&outgoing).output().unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(1),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                runs += 1;
            }
            runs
        })
    };
    for k in 0..20u64 {
        w.add_bytes(
            &format!("more-{k}.bin"),
            &common::random_bytes(800 + k, 50_000),
        );
        w.commit().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(scans.join().unwrap() >= 1);
}

/// A real full disk, without root or a loop device: the commit's temporary
/// file is a link to /dev/full, whose writes fail with ENOSPC.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_the_commit_and_keeps_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let (first, second) = (
        common::random_bytes(91, 100_000),
        common::random_bytes(92, 100_000),
    );
    let mut w = writer(&dir);
    w.add_bytes("first.bin", &first);
    w.commit().unwrap();
    let segments = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("seg-"))
            .collect();
        names.sort();
        names
    };
    let next = segments(&dir)
        .last()
        .unwrap()
        .replace(".pgs", "")
        .trim_start_matches("seg-")
        .parse::<u64>()
        .unwrap()
        + 1;
    let trap = dir.join(format!("seg-{next:08}.tmp"));
    std::os::unix::fs::symlink("/dev/full", &trap).unwrap();
    w.add_bytes("second.bin", &second);
    let err = w.commit().unwrap_err().to_string();
    assert!(err.contains("No space left"), "{err}");
    // The trap was the temporary file: it is removed, as any would be.
    assert!(std::fs::symlink_metadata(&trap).is_err());
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert_eq!(scanner.scan_bytes("out", &first).verdict, Verdict::Match);
    assert_ne!(scanner.scan_bytes("out", &second).verdict, Verdict::Match);
    // Space again: the same writer retries.
    w.add_bytes("second.bin", &second);
    w.commit().unwrap();
    let scanner = Scanner::open(&dir, ScanOptions::default()).unwrap();
    assert_eq!(scanner.scan_bytes("out", &second).verdict, Verdict::Match);
}

/// A file-size limit (`ulimit -f`, SIGXFSZ ignored) makes the `index`
/// process's writes fail part-way with EFBIG: it exits 2, and the index
/// from before still verifies and protects what it held.
#[cfg(target_os = "linux")]
#[test]
fn an_index_run_whose_writes_fail_exits_2_and_keeps_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let small = tmp.path().join("small.bin");
    let big = tmp.path().join("big.bin");
    std::fs::write(&small, common::random_bytes(95, 50_000)).unwrap();
    std::fs::write(&big, common::random_bytes(96, 30_000_000)).unwrap();
    pugmark(&dir).arg("index").arg(&small).assert().code(0);
    let bin = bin::PUGMARK;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 16; exec "$0" --index "$1" index "$2""#)
        .arg(bin)
        .arg(&dir)
        .arg(&big)
        .env_remove("PUGMARK_INDEX")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    pugmark(&dir).arg("verify").assert().code(0);
    pugmark(&dir).arg("scan").arg(&small).assert().code(1);
    pugmark(&dir).arg("scan").arg(&big).assert().code(0);
    // Without the limit the same run completes.
    pugmark(&dir).arg("index").arg(&big).assert().code(0);
    pugmark(&dir).arg("scan").arg(&big).assert().code(1);
}

#[test]
fn segments_without_a_manifest_are_not_replaced_by_a_new_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let file = tmp.path().join("protected.bin");
    std::fs::write(&file, common::random_bytes(97, 100_000)).unwrap();
    pugmark(&dir).arg("index").arg(&file).assert().code(0);
    std::fs::remove_file(dir.join("MANIFEST")).unwrap();
    let out = pugmark(&dir).arg("index").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("segment files are present"), "{stderr}");
    let segments = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pgs"))
        .count();
    assert_eq!(segments, 1, "the protected fingerprints were kept");
}
