//! Fuzz target `icap_wire`: any bytes as what an ICAP client sends: the
//! request heads, then the chunked body (previews and `100 Continue`
//! included), the HTTP head's view of the body, and a multipart form split.
//! Beyond not panicking: a body never passes its limit, yields exactly the
//! bytes it counts when it ends `Complete` and fails otherwise, sends one
//! `100 Continue` exactly when a preview is continued, and form parts lie
//! inside the form, in order, without overlapping.
#![no_main]

use std::io::{BufReader, Read};

use libfuzzer_sys::fuzz_target;
use pugmark_serve::icap::{self, BodyEnd, BodyView};

#[path = "common.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

/// The body limit the target runs with (small, so inputs reach it).
const MAX: u64 = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let mut reader = BufReader::with_capacity(4096, data);
    let Ok(Some(request)) = icap::read_request(&mut reader) else {
        return;
    };
    let head = request.adapted_head().unwrap_or_default().to_vec();
    let view = BodyView::of(&head);
    let _ = request.preview();
    let _ = request.wants_close();
    if request.body.is_none() {
        return;
    }
    let mut continues = Vec::new();
    let mut body = icap::ChunkedBody::new(
        &mut reader,
        request.preview().is_some(),
        MAX,
        &mut continues,
    );
    let mut got = Vec::new();
    let read = body.read_to_end(&mut got);
    let (end, len, in_preview) = (body.end(), body.len(), body.ended_in_preview());
    let previewed = request.preview().is_some();
    assert!(got.len() as u64 <= MAX, "passed the limit");
    match end {
        BodyEnd::Complete => {
            assert!(read.is_ok(), "complete but failed: {read:?}");
            assert_eq!(got.len() as u64, len);
        }
        BodyEnd::Open => panic!("read to its end but still open"),
        _ => assert!(read.is_err(), "{end:?} read as if whole"),
    }
    let continued = continues == b"ICAP/1.0 100 Continue\r\n\r\n";
    assert!(continues.is_empty() || continued, "{continues:?}");
    if !previewed {
        assert!(continues.is_empty(), "100 Continue without a preview");
    }
    if previewed && end == BodyEnd::Complete {
        assert_eq!(in_preview, !continued, "whole in the preview, or continued");
    }
    if let Some(boundary) = &view.form_boundary {
        if let Some(parts) = icap::form_parts(&got, boundary) {
            let mut last_end = 0;
            for part in parts {
                assert!(part.range.start >= last_end && part.range.end <= got.len());
                assert!(part.range.start <= part.range.end);
                last_end = part.range.end;
            }
        }
    }
});
