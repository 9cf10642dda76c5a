//! Unix `ar` archives (static libraries, Debian packages): 60-byte member
//! headers, GNU long-name tables (`//`, `/123`) and symbol tables (`/`),
//! BSD long names (`#1/len`). Read from a stream; a `.deb`'s
//! `data.tar.xz` is opened in turn like any member.

use std::io::Read;

use super::{read_full, Expander, Walk};
use crate::reason::Reason;

/// Largest GNU long-name table read (names of all members together).
const MAX_NAME_TABLE: u64 = 1 << 20;

/// Opens `ar` archives.
pub(crate) struct ArExpander;

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", format!("ar: {}", detail.into()))
}

fn field(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("").trim_end()
}

impl Expander for ArExpander {
    fn streamable(&self) -> bool {
        true
    }

    fn expand_stream(&self, walk: &mut Walk<'_>, reader: &mut dyn Read) {
        let mut magic = [0u8; 8];
        if !matches!(read_full(reader, &mut magic), Ok(8)) || &magic != b"!<arch>\n" {
            walk.reason(malformed("no !<arch> signature"));
            return;
        }
        let mut long_names: Vec<u8> = Vec::new();
        loop {
            if let Err(reason) = walk.budget().check_time() {
                walk.reason(reason);
                return;
            }
            let mut header = [0u8; 60];
            match read_full(reader, &mut header) {
                Ok(0) => return,
                Ok(60) => {}
                _ => {
                    walk.reason(Reason::new(
                        "container.truncated",
                        "ar stream ends inside a member header",
                    ));
                    return;
                }
            }
            if &header[58..60] != b"`\n" {
                walk.reason(malformed("bad member header terminator"));
                return;
            }
            let Ok(mut size) = field(&header[48..58]).parse::<u64>() else {
                walk.reason(malformed("member size is not a number"));
                return;
            };
            let pad = size % 2;
            let raw = field(&header[..16]);
            let name = if raw == "//" {
                if size > MAX_NAME_TABLE {
                    walk.reason(malformed(format!("long-name table of {size} bytes")));
                    return;
                }
                long_names = vec![0; size as usize];
                if !matches!(read_full(reader, &mut long_names), Ok(n) if n as u64 == size) {
                    walk.reason(Reason::new(
                        "container.truncated",
                        "ar: long-name table cut",
                    ));
                    return;
                }
                // The table is names only, but nothing stops it holding
                // more: its bytes are examined like a member's.
                if !walk.member_bytes("//", &long_names) {
                    return;
                }
                if !walk.stream_member(reader, "//", 0, pad, false) {
                    return;
                }
                continue;
            } else if let Some(len) = raw.strip_prefix("#1/") {
                let Some(len) = len.parse::<u64>().ok().filter(|&l| l <= size && l <= 4096) else {
                    walk.reason(malformed("bad BSD long name length"));
                    return;
                };
                let mut name = vec![0u8; len as usize];
                if !matches!(read_full(reader, &mut name), Ok(n) if n as u64 == len) {
                    walk.reason(Reason::new("container.truncated", "ar: member name cut"));
                    return;
                }
                size -= len;
                let shown = name.split(|&b| b == 0).next().unwrap_or_default();
                let shown_name = String::from_utf8_lossy(shown).into_owned();
                // Bytes after the name's NUL are no part of it: examined.
                let after = &name[shown.len()..];
                if after.iter().any(|&b| b != 0)
                    && !walk.member_bytes(&format!("{shown_name}@name"), after)
                {
                    return;
                }
                shown_name
            } else if let Some(offset) = raw.strip_prefix('/').and_then(|o| o.parse::<usize>().ok())
            {
                let tail = long_names.get(offset..).unwrap_or_default();
                let end = tail
                    .iter()
                    .position(|&b| b == b'\n' || b == 0)
                    .unwrap_or(tail.len());
                String::from_utf8_lossy(&tail[..end])
                    .trim_end_matches('/')
                    .to_string()
            } else {
                raw.trim_end_matches('/').to_string()
            };
            // Symbol tables ("/", "/SYM64/", "__.SYMDEF") are examined
            // like any member: a name is no promise about the bytes.
            if !walk.stream_member(reader, &name, size, pad, true) {
                return;
            }
        }
    }
}
