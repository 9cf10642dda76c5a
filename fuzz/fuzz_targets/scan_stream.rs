//! Any bytes, scanned as a stream (the path standard input and streamed
//! members take: tar, gzip and the other wrappers read as they arrive).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

fuzz_target!(|data: &[u8]| {
    let report = common::scanner().scan_reader("input", data);
    common::check(&report);
});
