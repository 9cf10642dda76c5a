//! Microsoft cabinets (`.cab`) held in memory: the header, folders and
//! file entries; each folder's data blocks checked against their
//! checksums and decoded (stored, or MSZIP: deflate blocks that share a
//! 32 KiB history), then each file read from its folder's stream. Quantum
//! and LZX folders and files continued from another cabinet are reported
//! (`container.unsupported`), never skipped silently.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::{Checks, Expander, Walk};
use crate::reason::Reason;

/// Opens cabinets held in memory.
pub(crate) struct CabExpander;

/// Largest uncompressed data block (the format's limit).
const MAX_BLOCK: usize = 32 * 1024;
/// Deflate history MSZIP blocks may refer back into.
const HISTORY: usize = 32 * 1024;

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", format!("cab: {}", detail.into()))
}

fn le16(d: &[u8], at: usize) -> Option<usize> {
    d.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
}

fn le32(d: &[u8], at: usize) -> Option<usize> {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// The cabinet checksum: little-endian words XOR-ed, the tail's bytes
/// taken high to low.
fn checksum(data: &[u8], seed: u32) -> u32 {
    let mut sum = seed;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    }
    let tail = words.remainder();
    let mut last = 0u32;
    for &b in tail {
        last = last << 8 | u32::from(b);
    }
    sum ^ last
}

struct Folder {
    start: usize,
    blocks: usize,
    method: usize,
}

struct File {
    size: usize,
    offset: usize,
    folder: usize,
    name: String,
}

/// A NUL-terminated name at `at`.
fn name_at(d: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = d.get(at..)?;
    let end = rest.iter().take(1024).position(|&b| b == 0)?;
    Some((
        String::from_utf8_lossy(&rest[..end]).into_owned(),
        at + end + 1,
    ))
}

/// Decodes one folder's data blocks into its uncompressed stream, at most
/// `cap` bytes; the error says why it stopped early.
fn folder_stream(
    d: &[u8],
    folder: &Folder,
    data_reserve: usize,
    cap: u64,
) -> (Vec<u8>, Option<Reason>) {
    let mut out: Vec<u8> = Vec::new();
    let mut at = folder.start;
    for i in 0..folder.blocks {
        let (Some(sum), Some(packed), Some(size)) = (le32(d, at), le16(d, at + 4), le16(d, at + 6))
        else {
            return (out, Some(truncated(i)));
        };
        let body = at + 8 + data_reserve;
        let Some(data) = d.get(body..body + packed) else {
            return (out, Some(truncated(i)));
        };
        if sum != 0 {
            let got = checksum(&d[at + 4..body], checksum(data, 0));
            if got as usize != sum {
                return (
                    out,
                    Some(Reason::new(
                        "container.crc",
                        format!(
                            "cab: data block {i} checksum {got:08x}, the cabinet says {sum:08x}"
                        ),
                    )),
                );
            }
        }
        if size > MAX_BLOCK || out.len() as u64 + size as u64 > cap {
            let reason = if size > MAX_BLOCK {
                malformed(format!("data block {i} of {size} bytes"))
            } else {
                Reason::new(
                    "limits.max_file_size",
                    format!("cab: a folder larger than {cap} bytes; only its start was examined"),
                )
            };
            return (out, Some(reason));
        }
        match folder.method & 0x000F {
            0 => {
                if packed != size {
                    return (
                        out,
                        Some(malformed(format!("stored block {i} sizes differ"))),
                    );
                }
                out.extend_from_slice(data);
            }
            1 => {
                if !data.starts_with(b"CK") {
                    return (
                        out,
                        Some(malformed(format!(
                            "MSZIP block {i} without its CK signature"
                        ))),
                    );
                }
                // The block inflates after the last 32 KiB of output,
                // which its back-references may reach into.
                let keep = out.len().min(HISTORY);
                let mut window = out[out.len() - keep..].to_vec();
                window.resize(keep + size, 0);
                let mut inflater = DecompressorOxide::new();
                let (status, _, written) = decompress(
                    &mut inflater,
                    &data[2..],
                    &mut window,
                    keep,
                    inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
                );
                if status != TINFLStatus::Done || written != size {
                    return (
                        out,
                        Some(Reason::new(
                            "container.corrupt",
                            format!("cab: MSZIP block {i} does not inflate to {size} bytes ({status:?})"),
                        )),
                    );
                }
                out.extend_from_slice(&window[keep..]);
            }
            method => {
                let name = match method {
                    2 => "Quantum",
                    3 => "LZX",
                    _ => "unknown",
                };
                return (
                    out,
                    Some(Reason::new(
                        "container.unsupported",
                        format!("cab: a folder compressed with {name} is not decoded; its files were not examined"),
                    )),
                );
            }
        }
        at = body + packed;
    }
    (out, None)
}

fn truncated(block: usize) -> Reason {
    Reason::new(
        "container.truncated",
        format!("cab: the cabinet ends inside data block {block}"),
    )
}

impl Expander for CabExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, d: &[u8]) {
        let (Some(files_at), Some(folders), Some(files), Some(flags)) =
            (le32(d, 16), le16(d, 26), le16(d, 28), le16(d, 30))
        else {
            walk.reason(malformed("header cut short"));
            return;
        };
        let mut at = 36;
        let (mut folder_reserve, mut data_reserve) = (0, 0);
        if flags & 0x0004 != 0 {
            let (Some(header), Some(&f), Some(&r)) = (le16(d, 36), d.get(38), d.get(39)) else {
                walk.reason(malformed("reserve fields cut short"));
                return;
            };
            folder_reserve = f as usize;
            data_reserve = r as usize;
            at = 40 + header;
        }
        if flags & 0x0003 != 0 {
            walk.reason(Reason::new(
                "container.unsupported",
                "cab: part of a cabinet set; files continued across cabinets are not examined",
            ));
            // Skip the previous/next cabinet and disk names.
            let names = usize::from(flags & 1 != 0) * 2 + usize::from(flags & 2 != 0) * 2;
            for _ in 0..names {
                match name_at(d, at) {
                    Some((_, next)) => at = next,
                    None => {
                        walk.reason(malformed("cabinet set names cut short"));
                        return;
                    }
                }
            }
        }
        let mut folder_list = Vec::new();
        for i in 0..folders {
            let (Some(start), Some(blocks), Some(method)) =
                (le32(d, at), le16(d, at + 4), le16(d, at + 6))
            else {
                walk.reason(malformed(format!("folder {i} cut short")));
                return;
            };
            folder_list.push(Folder {
                start,
                blocks,
                method,
            });
            at += 8 + folder_reserve;
        }
        let mut file_list = Vec::new();
        let mut at = files_at;
        for i in 0..files {
            let (Some(size), Some(offset), Some(folder)) =
                (le32(d, at), le32(d, at + 4), le16(d, at + 8))
            else {
                walk.reason(malformed(format!("file entry {i} cut short")));
                return;
            };
            let Some((name, next)) = name_at(d, at + 16) else {
                walk.reason(malformed(format!("file entry {i}: name cut short")));
                return;
            };
            file_list.push(File {
                size,
                offset,
                folder,
                name,
            });
            at = next;
        }
        let cap = walk.budget().limits().max_file_size;
        let mut decoded_starts = std::collections::HashSet::new();
        for (index, folder) in folder_list.iter().enumerate() {
            // Two folders on the same data blocks would decode them twice.
            if !decoded_starts.insert(folder.start) {
                walk.reason(Reason::new(
                    "container.overlap",
                    format!("cab: folder {index} shares its data with another; not decoded again"),
                ));
                continue;
            }
            let (stream, stop) = folder_stream(d, folder, data_reserve, cap);
            if let Some(reason) = stop {
                walk.reason(reason);
            }
            if let Err(reason) = walk.budget().charge_bytes(stream.len() as u64) {
                walk.reason(reason);
                return;
            }
            // Bytes of the folder no file entry covers are examined too.
            let mut covered = vec![false; stream.len()];
            for file in file_list.iter().filter(|f| f.folder == index) {
                let end = file.offset.saturating_add(file.size);
                let Some(bytes) = stream.get(file.offset..end) else {
                    walk.reason(Reason::new(
                        "container.truncated",
                        format!(
                            "{}: lies past what its folder holds; not examined",
                            file.name
                        ),
                    ));
                    continue;
                };
                covered[file.offset..end].iter_mut().for_each(|c| *c = true);
                if !walk.admit() {
                    return;
                }
                let mut reader = bytes;
                walk.member(&file.name, &mut reader, Checks::default());
                if walk.stopped() {
                    return;
                }
            }
            let rest: Vec<u8> = stream
                .iter()
                .zip(&covered)
                .filter(|(_, &c)| !c)
                .map(|(&b, _)| b)
                .collect();
            if !rest.is_empty() && !walk.member_bytes(&format!("unaccounted/{index}"), &rest) {
                return;
            }
        }
        // Bytes after the size the header declares.
        if let Some(declared) = le32(d, 8).filter(|&n| n < d.len()) {
            let tail = &d[declared..];
            if tail.iter().any(|&b| b != 0) && !walk.member_bytes(super::TRAILING_MEMBER, tail) {
                return;
            }
        }
        if file_list.iter().any(|f| f.folder >= folder_list.len()) {
            walk.reason(Reason::new(
                "container.unsupported",
                "cab: files continued from or to another cabinet are not examined",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_takes_the_tail_high_to_low() {
        assert_eq!(checksum(&[1, 0, 0, 0, 2, 0, 0, 0], 0), 3);
        assert_eq!(checksum(&[0x12, 0x34], 0), 0x1234);
    }
}
