//! Fuzz target `http_decode`: HTTP Content-Encodings as the ICAP server
//! undoes them. The first byte picks the encodings; the rest is either
//! the encoded body itself (any bytes: never a panic, never unbounded
//! memory) or, when the pick says so, plain data that is encoded here and
//! followed by the remaining bytes as a trailer: the stream alone must
//! decode to the data exactly, and any trailer must make it an error.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use pugmark_serve::decode::decoded;
use pugmark_serve::icap::Encoding;

#[path = "common.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: common::CappedAllocator = common::capped();

/// Most decoded bytes read from one input.
const MAX_OUT: u64 = 64 << 20;

const ENCODINGS: [Encoding; 4] = [
    Encoding::Gzip,
    Encoding::Deflate,
    Encoding::Brotli,
    Encoding::Sniffed,
];

fn decode(body: &[u8], encodings: &[Encoding]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decoded(Box::new(body), encodings)?
        .take(MAX_OUT)
        .read_to_end(&mut out)?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick & 0x80 == 0 {
        // Any bytes under one or two encodings.
        let mut encodings = vec![ENCODINGS[usize::from(pick & 3)]];
        if pick & 0x40 != 0 {
            encodings.push(ENCODINGS[usize::from((pick >> 2) & 3)]);
        }
        let _ = decode(rest, &encodings);
        return;
    }
    // Plain data, encoded here, then a trailer.
    let split = usize::from(pick & 0x3f).min(rest.len());
    let (trailer, plain) = rest.split_at(split);
    let level = flate2::Compression::fast();
    let (stream, encoding) = match pick & 0x40 {
        0 => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), level);
            e.write_all(plain).unwrap();
            (e.finish().unwrap(), Encoding::Deflate)
        }
        _ => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
            e.write_all(plain).unwrap();
            (e.finish().unwrap(), Encoding::Gzip)
        }
    };
    assert_eq!(decode(&stream, &[encoding]).unwrap(), plain);
    if !trailer.is_empty() {
        let mut body = stream.clone();
        body.extend_from_slice(trailer);
        // A gzip member may follow a gzip member: that is still the body.
        let another_member = encoding == Encoding::Gzip && trailer.starts_with(b"\x1f\x8b");
        if !another_member {
            assert!(decode(&body, &[encoding]).is_err(), "trailer passed");
        }
    }
});
