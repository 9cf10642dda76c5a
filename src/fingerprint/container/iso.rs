//! ISO 9660 disc images held in memory: the primary volume descriptor's
//! directory tree (names from a Joliet supplementary descriptor when there
//! is one, else ISO names without their `;1` version), walked breadth
//! first with every directory extent visited once, so a directory that
//! points back at an ancestor cannot loop. Files are read in place.

use std::collections::HashSet;

use super::{Checks, Expander, Walk};
use crate::reason::Reason;

/// Offset of the first volume descriptor (sector 16 of 2048 bytes).
const DESCRIPTORS: usize = 16 * 2048;

/// Most directories walked (a bound on hostile trees, far above real
/// discs' needs per top-level item; the member limit bounds files).
const MAX_DIRECTORIES: usize = 10_000;

/// Most directory records read (files and directories together).
const MAX_RECORDS: usize = 1_000_000;

/// Longest member path built.
const MAX_PATH: usize = 4096;

/// Opens ISO 9660 images.
pub(crate) struct IsoExpander;

/// Bytes needed to see the first volume descriptor's signature.
pub(crate) const SIGNATURE_END: usize = DESCRIPTORS + 6;

/// Whether `data` holds an ISO 9660 volume descriptor at sector 16.
pub(crate) fn is_iso(data: &[u8]) -> bool {
    data.get(DESCRIPTORS + 1..SIGNATURE_END) == Some(b"CD001")
}

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", format!("iso9660: {}", detail.into()))
}

fn le32(d: &[u8], at: usize) -> Option<usize> {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// One directory record.
struct Record {
    extent: usize,
    len: usize,
    directory: bool,
    multi_extent: bool,
    name: Vec<u8>,
}

fn record(d: &[u8]) -> Option<Record> {
    let name_len = *d.get(32)? as usize;
    Some(Record {
        extent: le32(d, 2)?,
        len: le32(d, 10)?,
        directory: d.get(25)? & 0x02 != 0,
        multi_extent: d.get(25)? & 0x80 != 0,
        name: d.get(33..33 + name_len)?.to_vec(),
    })
}

/// A record's name: UCS-2 big-endian under Joliet, else ISO bytes; the
/// version suffix (`;1`) and a lone trailing dot are dropped.
fn decode_name(raw: &[u8], joliet: bool) -> String {
    let mut name = if joliet {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(raw).into_owned()
    };
    if let Some(semi) = name.rfind(';') {
        name.truncate(semi);
    }
    if name.ends_with('.') {
        name.pop();
    }
    name.replace('/', "_")
}

impl Expander for IsoExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        // Volume descriptors: 1 primary, 2 supplementary (Joliet when its
        // escape sequence says UCS-2), 255 terminator.
        // Both trees are walked (Joliet first, for its names): a file
        // listed in only one of them is still read, and a file both list
        // (the same extent) is read once.
        let mut roots: Vec<(Record, bool)> = Vec::new();
        let mut block = 0usize;
        for i in 0..64 {
            let at = DESCRIPTORS + i * 2048;
            let Some(desc) = data.get(at..at + 2048) else {
                break;
            };
            if &desc[1..6] != b"CD001" || desc[0] == 255 {
                break;
            }
            let joliet = desc[0] == 2 && desc[88..90] == *b"%/" && b"@CE".contains(&desc[90]);
            let wanted = if joliet {
                !roots.iter().any(|(_, j)| *j)
            } else {
                desc[0] == 1 && !roots.iter().any(|(_, j)| !*j)
            };
            if wanted {
                if let Some(r) = record(&desc[156..190]) {
                    block = u16::from_le_bytes([desc[128], desc[129]]) as usize;
                    roots.push((r, joliet));
                }
            }
        }
        if !roots.iter().any(|(_, j)| !*j) {
            walk.reason(malformed("no primary volume descriptor"));
            return;
        }
        roots.sort_by_key(|(_, joliet)| !*joliet);
        if !matches!(block, 512 | 1024 | 2048) {
            walk.reason(malformed(format!("logical block size {block}")));
            return;
        }
        let span = |r: &Record| -> Option<&[u8]> {
            let start = r.extent.checked_mul(block)?;
            data.get(start..start.checked_add(r.len)?)
        };
        let mut seen = HashSet::new();
        let mut files_read = HashSet::new();
        let mut queue = Vec::new();
        // Popped from the end: the last pushed root is walked first.
        for (root, joliet) in roots.into_iter().rev() {
            seen.insert(root.extent);
            queue.push((String::new(), root, joliet));
        }
        let mut records = 0usize;
        while let Some((prefix, dir, joliet)) = queue.pop() {
            if let Err(reason) = walk.budget().check_time() {
                walk.reason(reason);
                return;
            }
            let Some(listing) = span(&dir) else {
                walk.reason(Reason::new(
                    "container.truncated",
                    format!("iso9660: directory {prefix:?} lies past the end of the image"),
                ));
                continue;
            };
            let mut at = 0;
            while at < listing.len() {
                let len = listing[at] as usize;
                if len == 0 {
                    // Records never cross a sector: skip to the next one.
                    at = (at / 2048 + 1) * 2048;
                    continue;
                }
                let Some(r) = listing.get(at..at + len).and_then(record) else {
                    walk.reason(malformed(format!("bad record in directory {prefix:?}")));
                    break;
                };
                at += len;
                records += 1;
                if records > MAX_RECORDS {
                    walk.reason(malformed("more directory records than can be walked"));
                    return;
                }
                if r.name == [0] || r.name == [1] {
                    continue;
                }
                let path = format!("{prefix}{}", decode_name(&r.name, joliet));
                if r.directory {
                    // Each directory extent is walked once, whoever points
                    // at it; paths stay within PATH_MAX.
                    if !seen.insert(r.extent) {
                        continue;
                    }
                    if seen.len() > MAX_DIRECTORIES || path.len() > MAX_PATH {
                        walk.reason(malformed(format!(
                            "directory tree deeper or wider than can be walked (at {path:.100})"
                        )));
                        return;
                    }
                    queue.push((format!("{path}/"), r, joliet));
                    continue;
                }
                if r.multi_extent {
                    walk.reason(Reason::new(
                        "container.unsupported",
                        format!("{path}: a file in several extents is not read"),
                    ));
                    continue;
                }
                if !files_read.insert((r.extent, r.len)) {
                    continue;
                }
                let Some(bytes) = span(&r) else {
                    walk.reason(Reason::new(
                        "container.truncated",
                        format!("{path}: lies past the end of the image"),
                    ));
                    continue;
                };
                if !walk.admit() {
                    return;
                }
                let mut reader = bytes;
                walk.member(&path, &mut reader, Checks::default());
                if walk.stopped() {
                    return;
                }
            }
        }
    }
}
