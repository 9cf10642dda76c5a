//! Fuzz target `clamd_wire`: any bytes as what a clamd client sends:
//! commands one after another, each `INSTREAM` followed by its
//! length-prefixed chunks. Beyond not panicking: a body yields exactly the
//! bytes its chunks announce when it ends `Complete`, never passes its
//! limit, and a body that did not end whole is never read as if it had.
#![no_main]

use std::io::{BufReader, Read};

use libfuzzer_sys::fuzz_target;
use pugmark_serve::clamd::{self, Command, Instream, StreamEnd};

#[path = "common.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

/// The body limit the target runs with (small, so inputs reach it).
const MAX: u64 = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let mut reader = BufReader::with_capacity(4096, data);
    // At most a few hundred commands: a session's worth.
    for _ in 0..256 {
        let request = match clamd::read_command(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return,
        };
        if !matches!(request.command, Command::Instream) {
            continue;
        }
        let mut body = Instream::new(&mut reader, MAX);
        let mut got = Vec::new();
        let read = body.read_to_end(&mut got);
        let (end, len) = (body.end(), body.len());
        assert!(got.len() as u64 <= MAX, "passed the limit");
        match end {
            StreamEnd::Complete => {
                assert!(read.is_ok(), "complete but failed: {read:?}");
                assert_eq!(got.len() as u64, len);
            }
            StreamEnd::Open => panic!("read to its end but still open"),
            _ => {
                assert!(read.is_err(), "{end:?} read as if whole");
                return;
            }
        }
    }
});
