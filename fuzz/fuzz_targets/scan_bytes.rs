//! Any bytes, scanned whole: sniffing and every format's reader (archives,
//! documents, mail, compression wrappers, pictures, rasters, scientific
//! formats, tables), through the same pipeline as production.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

fuzz_target!(|data: &[u8]| {
    let report = common::scanner().scan_bytes("input", data);
    common::check(&report);
});
