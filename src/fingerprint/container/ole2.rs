//! OLE2 compound files (legacy Office .doc/.xls/.ppt, Outlook .msg, files
//! embedded as OLE objects): every stream is read in place, through the
//! `cfb` crate's sector chains, and examined as a member named by its
//! storage path (`ObjectPool/_1234/Ole10Native`), so a file embedded in a
//! document is found. The Office binary records inside the streams (Excel
//! cells, Word text pieces) are not decoded, so an OLE2 file is always
//! `container.unsupported` as well: examined as bytes, not as a document.

use std::io::Cursor;

use super::{Checks, Expander, Walk};
use crate::reason::Reason;

/// Opens OLE2 compound files held in memory.
pub(crate) struct Ole2Expander;

/// A stream path as a member name: storage names joined by `/`, control
/// characters (OLE's `\x01`, `\x05` prefixes) written as `\xNN`.
fn member_name(path: &std::path::Path) -> String {
    let raw = path.to_string_lossy();
    let mut out = String::with_capacity(raw.len());
    for c in raw.trim_start_matches('/').chars() {
        if c.is_control() {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

impl Expander for Ole2Expander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let mut file = match cfb::CompoundFile::open(Cursor::new(data)) {
            Ok(file) => file,
            Err(e) => {
                walk.reason(Reason::new(
                    "container.malformed",
                    format!("ole2: cannot be read: {e}"),
                ));
                return;
            }
        };
        let streams: Vec<(std::path::PathBuf, u64)> = file
            .walk()
            .filter(|e| e.is_stream())
            .map(|e| (e.path().to_path_buf(), e.len()))
            .collect();
        for (path, len) in streams {
            if !walk.admit() {
                return;
            }
            let name = member_name(&path);
            match file.open_stream(&path) {
                Ok(mut stream) => {
                    let checks = Checks {
                        size: Some(len),
                        ..Checks::default()
                    };
                    walk.member(&name, &mut stream, checks);
                }
                Err(e) => walk.reason(Reason::new(
                    "container.corrupt",
                    format!("ole2: stream {name}: {e}"),
                )),
            }
            if walk.stopped() {
                return;
            }
        }
        walk.reason(Reason::new(
            "container.unsupported",
            "ole2: every stream's bytes were examined, but Office binary records (cells, text) are not decoded",
        ));
    }
}
