//! cpio archives in all three header forms: "newc" and "crc" (`070701`,
//! `070702`, hexadecimal fields, 4-byte alignment), portable "odc"
//! (`070707`, octal fields) and old binary (16-bit words in either byte
//! order, 2-byte alignment). Read from a stream, one header and member at
//! a time; only regular files have content to examine.

use std::io::Read;

use super::{read_full, Expander, Walk};
use crate::reason::Reason;

/// Longest member name read (PATH_MAX); longer names are malformed.
const MAX_NAME: u64 = 4096;

/// Opens cpio archives.
pub(crate) struct CpioExpander;

/// One header, whatever its form.
struct Header {
    name_len: u64,
    size: u64,
    /// Alignment of the name end and of the member end (1, 2 or 4).
    align: u64,
    /// Bytes of header read so far (names align relative to it).
    header_len: u64,
}

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", format!("cpio: {}", detail.into()))
}

fn number(field: &[u8], radix: u32) -> Result<u64, Reason> {
    let text = std::str::from_utf8(field).map_err(|_| malformed("header field is not text"))?;
    u64::from_str_radix(text.trim_end_matches('\0'), radix)
        .map_err(|_| malformed(format!("header field {text:?} is not a number")))
}

fn pad_to(n: u64, align: u64) -> u64 {
    (align - n % align) % align
}

/// Reads the next header; `Ok(None)` at the end of the stream.
fn next_header(reader: &mut dyn Read) -> Result<Option<Header>, Reason> {
    let mut magic = [0u8; 6];
    let got = read_full(reader, &mut magic).map_err(|e| malformed(e.to_string()))?;
    if got == 0 {
        return Ok(None);
    }
    if got < 2 {
        return Err(truncated());
    }
    if magic[..2] == [0xC7, 0x71] || magic[..2] == [0x71, 0xC7] {
        let big = magic[0] == 0x71;
        let mut rest = [0u8; 24];
        rest[..4].copy_from_slice(&magic[2..]);
        if got < 6 || read_full(reader, &mut rest[4..]).map_err(|e| malformed(e.to_string()))? < 20
        {
            return Err(truncated());
        }
        // Words after the magic: dev ino mode uid gid nlink rdev mtime[2]
        // namesize filesize[2].
        let word = |i: usize| {
            let b = [rest[2 * i], rest[2 * i + 1]];
            u64::from(if big {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        return Ok(Some(Header {
            name_len: word(9),
            size: word(10) << 16 | word(11),
            align: 2,
            header_len: 26,
        }));
    }
    if got < 6 {
        return Err(truncated());
    }
    match &magic {
        b"070701" | b"070702" => {
            let mut rest = [0u8; 104];
            if read_full(reader, &mut rest).map_err(|e| malformed(e.to_string()))? < rest.len() {
                return Err(truncated());
            }
            let field = |i: usize| number(&rest[i * 8..i * 8 + 8], 16);
            field(1)?; // the mode: read only to check the header is hex
            Ok(Some(Header {
                size: field(6)?,
                name_len: field(11)?,
                align: 4,
                header_len: 110,
            }))
        }
        b"070707" => {
            let mut rest = [0u8; 70];
            if read_full(reader, &mut rest).map_err(|e| malformed(e.to_string()))? < rest.len() {
                return Err(truncated());
            }
            // dev ino mode uid gid nlink rdev (6 each), mtime (11),
            // namesize (6), filesize (11).
            number(&rest[12..18], 8)?; // the mode, checked as octal
            Ok(Some(Header {
                name_len: number(&rest[53..59], 8)?,
                size: number(&rest[59..70], 8)?,
                align: 1,
                header_len: 76,
            }))
        }
        _ => Err(malformed("bad header magic")),
    }
}

fn truncated() -> Reason {
    Reason::new(
        "container.truncated",
        "cpio stream ends inside a header (no TRAILER!!! entry)",
    )
}

impl Expander for CpioExpander {
    fn streamable(&self) -> bool {
        true
    }

    fn expand_stream(&self, walk: &mut Walk<'_>, reader: &mut dyn Read) {
        loop {
            if let Err(reason) = walk.budget().check_time() {
                walk.reason(reason);
                return;
            }
            let header = match next_header(reader) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    walk.reason(truncated());
                    return;
                }
                Err(reason) => {
                    walk.reason(reason);
                    return;
                }
            };
            if header.name_len == 0 || header.name_len > MAX_NAME {
                walk.reason(malformed(format!("name of {} bytes", header.name_len)));
                return;
            }
            let mut name = vec![0u8; header.name_len as usize];
            let name_pad = pad_to(header.header_len + header.name_len, header.align);
            match read_full(reader, &mut name) {
                Ok(n) if n == name.len() => {}
                _ => {
                    walk.reason(truncated());
                    return;
                }
            }
            let shown = name.split(|&b| b == 0).next().unwrap_or_default();
            // Bytes after the name's NUL (up to the declared length) are
            // not part of any name: examined, since they can hold anything.
            let after = &name[shown.len()..];
            let shown = String::from_utf8_lossy(shown).into_owned();
            if after.iter().any(|&b| b != 0) && !walk.member_bytes(&format!("{shown}@name"), after)
            {
                return;
            }
            let name = shown;
            if !walk.stream_member(reader, &name, 0, name_pad, false) {
                return;
            }
            if name == "TRAILER!!!" {
                // Writers pad the archive to a block size with zeros;
                // anything else after the trailer is reported.
                walk.expect_padding(reader, "the cpio trailer");
                return;
            }
            // Whatever has data is examined: regular files, and symlink
            // targets or odd entries (a "directory" declaring bytes) that
            // carry bytes.
            let examine = header.size > 0;
            let pad = pad_to(header.size, header.align);
            if !walk.stream_member(reader, &name, header.size, pad, examine) {
                return;
            }
        }
    }
}
