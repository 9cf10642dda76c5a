//! Fuzz target `envi`: a header and its raw file on disk, side by side (the
//! only way ENVI is read). The input is the header text, a zero byte, then
//! the raw samples.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;

use std::sync::OnceLock;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

fn dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (header, raw) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let mut text = b"ENVI\n".to_vec();
    if !header.starts_with(b"ENVI") {
        text.extend_from_slice(header);
    } else {
        text = header.to_vec();
    }
    let raw_path = dir().join("input.raw");
    std::fs::write(dir().join("input.hdr"), &text).expect("header");
    std::fs::write(&raw_path, raw).expect("raw");
    common::check(&common::scanner().scan_path(&raw_path));
});
