//! The C ABI called as C would call it: NULLs and bad paths fail closed
//! with a message, a protected sample matches by bytes, path and
//! descriptor with the same report, an unrelated one is clean, and every
//! string handed out is freed.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use pugmark_capi::*;

// The calls as C makes them; each wrapper's arguments are what its test
// passes: live handles or NULL, NUL-terminated strings, real buffers.

fn c_index_open(dir: *const c_char, error: *mut *mut c_char) -> *mut PugmarkIndex {
    // SAFETY: see above.
    unsafe { pugmark_index_open(dir, error) }
}

fn c_index_free(index: *mut PugmarkIndex) {
    // SAFETY: see above; each handle is freed once.
    unsafe { pugmark_index_free(index) }
}

fn c_scan_bytes(
    index: *const PugmarkIndex,
    name: *const c_char,
    data: *const u8,
    len: usize,
    out: *mut *mut c_char,
) -> PugmarkVerdict {
    // SAFETY: see above; `data` holds `len` bytes except where the test
    // passes NULL on purpose.
    unsafe { pugmark_scan_bytes(index, name, data, len, out) }
}

fn c_scan_path(
    index: *const PugmarkIndex,
    path: *const c_char,
    out: *mut *mut c_char,
) -> PugmarkVerdict {
    // SAFETY: see above.
    unsafe { pugmark_scan_path(index, path, out) }
}

fn c_scan_fd(
    index: *const PugmarkIndex,
    fd: i32,
    name: *const c_char,
    out: *mut *mut c_char,
) -> PugmarkVerdict {
    // SAFETY: see above; the descriptors passed are open or negative.
    unsafe { pugmark_scan_fd(index, fd, name, out) }
}

fn c_string_free(s: *mut c_char) {
    // SAFETY: see above; each string is freed once.
    unsafe { pugmark_string_free(s) }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Takes a string from the library, returning its text and freeing it.
fn take(s: *mut c_char) -> String {
    assert!(!s.is_null());
    // SAFETY: a NUL-terminated string from the library, freed once below.
    let text = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
    c_string_free(s);
    text
}

fn c(s: &Path) -> CString {
    CString::new(s.to_str().unwrap()).unwrap()
}

/// An index of data-samples/reserve built with the library.
fn index() -> (tempfile::TempDir, *mut PugmarkIndex) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = pugmark::IndexWriter::open(&dir, pugmark::IndexOptions::default()).unwrap();
    w.add_paths(&[root().join("data-samples/reserve")]).unwrap();
    w.commit().unwrap();
    drop(w);
    let mut error = null_mut();
    let handle = c_index_open(c(&dir).as_ptr(), &mut error);
    assert!(!handle.is_null(), "{}", take(error));
    (tmp, handle)
}

#[test]
fn bad_arguments_fail_closed_with_a_message() {
    let mut error = null_mut();
    assert!(c_index_open(null(), &mut error).is_null());
    assert!(take(error).contains("NULL"));
    let missing = CString::new("/nonexistent/pugmark-index").unwrap();
    assert!(c_index_open(missing.as_ptr(), &mut error).is_null());
    assert!(take(error).contains("/nonexistent/pugmark-index"));
    // No error pointer: still NULL, nothing written.
    assert!(c_index_open(missing.as_ptr(), null_mut()).is_null());

    let mut report = null_mut();
    let v = c_scan_bytes(null(), null(), b"x".as_ptr(), 1, &mut report);
    assert_eq!(v, PugmarkVerdict::Error);
    let json: serde_json::Value = serde_json::from_str(&take(report)).unwrap();
    assert_eq!(json["verdict"], "error");
    let (_tmp, idx) = index();
    let v = c_scan_bytes(idx, null(), null(), 5, &mut report);
    assert_eq!(v, PugmarkVerdict::Error);
    assert!(take(report).contains("data is NULL"));
    assert_eq!(c_scan_path(idx, null(), null_mut()), PugmarkVerdict::Error);
    assert_eq!(
        c_scan_fd(idx, -1, null(), null_mut()),
        PugmarkVerdict::Error
    );
    let missing_file = c(&root().join("data-samples/no-such-file"));
    assert_eq!(
        c_scan_path(idx, missing_file.as_ptr(), null_mut()),
        PugmarkVerdict::Error
    );
    c_index_free(idx);
    c_index_free(null_mut());
    c_string_free(null_mut());
}

#[test]
fn bytes_path_and_descriptor_give_the_same_verdict() {
    use std::os::fd::AsRawFd;
    let (_tmp, idx) = index();
    for (rel, want) in [
        ("data-samples/outgoing/dem-copy.tif", PugmarkVerdict::Match),
        (
            "data-samples/outgoing/surfrad-first-60pct.dat",
            PugmarkVerdict::Match,
        ),
        (
            "data-samples/outgoing/statsmodels_co2_maunaloa.csv",
            PugmarkVerdict::Clean,
        ),
    ] {
        let path = root().join(rel);
        let data = std::fs::read(&path).unwrap();
        let name = c(&path);
        let mut a = null_mut();
        let by_bytes = c_scan_bytes(idx, name.as_ptr(), data.as_ptr(), data.len(), &mut a);
        let mut b = null_mut();
        let by_path = c_scan_path(idx, name.as_ptr(), &mut b);
        let file = std::fs::File::open(&path).unwrap();
        let mut d = null_mut();
        let by_fd = c_scan_fd(idx, file.as_raw_fd(), name.as_ptr(), &mut d);
        assert_eq!((by_bytes, by_path, by_fd), (want, want, want), "{rel}");
        let reports: Vec<serde_json::Value> = [a, b, d]
            .into_iter()
            .map(|r| serde_json::from_str(&take(r)).unwrap())
            .collect();
        for r in &reports {
            assert_eq!(r["schema"], 1, "{rel}");
            assert_eq!(
                r["evidence"].as_array().map_or(0, Vec::len) > 0,
                want == PugmarkVerdict::Match
            );
        }
        // The descriptor stays the caller's: still open after the scan.
        assert!(file.metadata().is_ok());
    }
    // SAFETY: a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(pugmark_version()) };
    assert!(version.to_str().unwrap().starts_with("pugmark "));
    c_index_free(idx);
}

/// A descriptor the caller has read from is still scanned whole (from the
/// start, its offset left where it was); a path that is not UTF-8 is
/// scanned, not refused.
#[test]
fn descriptors_are_read_whole_and_paths_are_bytes() {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let (tmp, idx) = index();
    let source = root().join("data-samples/outgoing/dem-copy.tif");
    let mut file = std::fs::File::open(&source).unwrap();
    let mut head = [0u8; 100];
    file.read_exact(&mut head).unwrap();
    let name = c(&source);
    let v = c_scan_fd(idx, file.as_raw_fd(), name.as_ptr(), null_mut());
    assert_eq!(v, PugmarkVerdict::Match);
    assert_eq!(file.stream_position().unwrap(), 100);
    file.seek(SeekFrom::End(0)).unwrap();
    assert_eq!(
        c_scan_fd(idx, file.as_raw_fd(), name.as_ptr(), null_mut()),
        PugmarkVerdict::Match
    );

    let odd = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"dem-\xff.tif"));
    std::fs::copy(&source, &odd).unwrap();
    let raw = CString::new(odd.as_os_str().as_bytes()).unwrap();
    let mut report = null_mut();
    assert_eq!(
        c_scan_path(idx, raw.as_ptr(), &mut report),
        PugmarkVerdict::Match
    );
    assert!(take(report).contains("dem-"));
    let mut report = null_mut();
    let data = std::fs::read(&source).unwrap();
    let v = c_scan_bytes(idx, raw.as_ptr(), data.as_ptr(), data.len(), &mut report);
    assert_eq!(v, PugmarkVerdict::Match);
    assert!(take(report).contains(".tif"));
    c_index_free(idx);
}

/// A service reloads the index a writer grew, while its handle stays
/// valid; a handle bound to a stop flag is cancelled alone.
#[test]
fn reload_picks_up_new_items_and_a_stop_cancels_its_handle_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut w = pugmark::IndexWriter::open(&dir, pugmark::IndexOptions::default()).unwrap();
    w.add_paths(&[root().join("data-samples/reserve/rasters")])
        .unwrap();
    w.commit().unwrap();
    let mut error = null_mut();
    let idx = c_index_open(c(&dir).as_ptr(), &mut error);
    assert!(!idx.is_null(), "{}", take(error));

    let csv = root().join("data-samples/outgoing/statsmodels_co2_maunaloa.csv");
    let csv_c = c(&csv);
    assert_eq!(
        c_scan_path(idx, csv_c.as_ptr(), null_mut()),
        PugmarkVerdict::Clean
    );
    // SAFETY: a live handle and a writable error pointer.
    assert_eq!(unsafe { pugmark_index_reload(idx, &mut error) }, 0);
    w.add_paths(std::slice::from_ref(&csv)).unwrap();
    w.commit().unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { pugmark_index_reload(idx, &mut error) }, 1);
    assert_eq!(
        c_scan_path(idx, csv_c.as_ptr(), null_mut()),
        PugmarkVerdict::Match
    );
    // SAFETY: NULL handle: refused, message written.
    assert_eq!(unsafe { pugmark_index_reload(null(), &mut error) }, -1);
    assert!(take(error).contains("NULL"));

    let stop = pugmark_stop_new();
    // SAFETY: a live handle and a live flag.
    let call = unsafe { pugmark_index_with_stop(idx, stop) };
    assert!(!call.is_null());
    // SAFETY: NULL flag: no handle.
    assert!(unsafe { pugmark_index_with_stop(idx, null()) }.is_null());
    assert_eq!(
        c_scan_path(call, csv_c.as_ptr(), null_mut()),
        PugmarkVerdict::Match
    );
    // SAFETY: a live flag.
    unsafe { pugmark_stop_raise(stop) };
    let mut report = null_mut();
    assert_eq!(
        c_scan_path(call, csv_c.as_ptr(), &mut report),
        PugmarkVerdict::Incomplete
    );
    assert!(take(report).contains("scan.cancelled"));
    assert_eq!(
        c_scan_path(idx, csv_c.as_ptr(), null_mut()),
        PugmarkVerdict::Match
    );
    // SAFETY: each freed once; NULLs ignored.
    unsafe {
        pugmark_stop_free(stop);
        pugmark_stop_raise(null());
        pugmark_stop_free(null_mut());
    }
    c_index_free(call);
    c_index_free(idx);
}
