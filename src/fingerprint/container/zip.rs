//! The zip format's directory, read from content held whole in memory:
//! end-of-central-directory record (zip64 too), central directory, local
//! headers. Nothing is allocated by a count the file claims, every offset is
//! bounds-checked, and members whose bytes overlap another's (the "overlap"
//! zip bomb) or bytes that belong to no record are reported, not trusted.
//! Members are then read in place, stored or deflated.

use std::cell::Cell;
use std::io::Read;

use super::{Checks, Counting, Expander, Walk};
use crate::reason::Reason;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// Compression methods this reader decodes.
pub(crate) const STORED: u16 = 0;
/// Raw deflate.
pub(crate) const DEFLATED: u16 = 8;
/// Compression method: bzip2.
const BZIP2: u16 = 12;
/// Compression method: LZMA (with zip's own 9-byte properties header).
const LZMA: u16 = 14;

/// One member as the central directory describes it, with the position of
/// its data found from its local header.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Path inside the archive, as stored (lossy UTF-8).
    pub name: String,
    /// General-purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// CRC-32 of the uncompressed content.
    pub crc: u32,
    /// Compressed length.
    pub compressed: u64,
    /// Uncompressed length.
    pub size: u64,
    /// Where the member's compressed bytes start.
    pub data_start: usize,
}

impl Entry {
    /// Whether the member is encrypted (traditional or strong encryption).
    pub fn encrypted(&self) -> bool {
        self.flags & 1 != 0
    }

    /// Whether the entry is a directory (no content). A "directory" with
    /// more compressed bytes than an empty deflate stream (2) holds data
    /// and is read as a file.
    pub fn is_dir(&self) -> bool {
        self.name.ends_with('/') && self.size == 0 && self.compressed <= 2
    }
}

/// The readable members of a zip and what was wrong with the rest.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    /// Members whose data can be read, in central-directory order.
    pub entries: Vec<Entry>,
    /// Why some members or bytes were not examined.
    pub problems: Vec<Reason>,
    /// What the records carry besides names and sizes: the archive
    /// comment, members' comments and extra fields (central and local).
    /// Up to 64 KiB each can hold anything, so the walk examines them as
    /// the member `@metadata`.
    pub metadata: Vec<u8>,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at.checked_add(2)?)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at.checked_add(4)?)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at.checked_add(8)?).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_le_bytes(a)
    })
}

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", detail)
}

/// Where the central directory is, from the end records.
struct End {
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
    /// Bytes of the end records (EOCD, comment and zip64 records).
    records: std::ops::Range<usize>,
}

fn find_end(data: &[u8]) -> Result<End, Reason> {
    if data.len() < EOCD_LEN {
        return Err(malformed("shorter than an end-of-central-directory record"));
    }
    let lowest = data.len().saturating_sub(EOCD_LEN + u16::MAX as usize);
    let mut found = None;
    for pos in (lowest..=data.len() - EOCD_LEN).rev() {
        if u32_at(data, pos) != Some(EOCD_SIG) {
            continue;
        }
        let comment = u16_at(data, pos + 20).unwrap_or(0) as usize;
        if pos + EOCD_LEN + comment == data.len() {
            found = Some(pos);
            break;
        }
        // Keep the last record whose comment fits; bytes after it are
        // reported as unaccounted.
        if found.is_none() && pos + EOCD_LEN + comment <= data.len() {
            found = Some(pos);
        }
    }
    let pos = found.ok_or_else(|| malformed("no end-of-central-directory record"))?;
    let field16 = |at| u16_at(data, pos + at).unwrap_or(0);
    if field16(4) != 0 || field16(6) != 0 {
        return Err(Reason::new(
            "container.unsupported",
            "multi-volume (spanned) zip",
        ));
    }
    let comment = field16(20) as usize;
    let mut end = End {
        entries: field16(10) as u64,
        cd_size: u32_at(data, pos + 12).unwrap_or(0) as u64,
        cd_offset: u32_at(data, pos + 16).unwrap_or(0) as u64,
        records: pos..pos + EOCD_LEN + comment,
    };
    let zip64 = end.entries == 0xFFFF || end.cd_size == 0xFFFF_FFFF || end.cd_offset == 0xFFFF_FFFF;
    if zip64 || (pos >= 20 && u32_at(data, pos - 20) == Some(ZIP64_LOCATOR_SIG)) {
        let locator = pos
            .checked_sub(20)
            .filter(|&l| u32_at(data, l) == Some(ZIP64_LOCATOR_SIG))
            .ok_or_else(|| malformed("zip64 values without a zip64 locator"))?;
        let at = u64_at(data, locator + 8).unwrap_or(u64::MAX);
        let at = usize::try_from(at)
            .ok()
            .filter(|&a| u32_at(data, a) == Some(ZIP64_EOCD_SIG))
            .ok_or_else(|| malformed("zip64 end record missing or out of bounds"))?;
        let read =
            |off| u64_at(data, at + off).ok_or_else(|| malformed("zip64 end record truncated"));
        end.entries = read(32)?;
        end.cd_size = read(40)?;
        end.cd_offset = read(48)?;
        let record_len = read(4)?.saturating_add(12);
        if (at as u64).saturating_add(record_len) > locator as u64 {
            return Err(malformed("zip64 end record overruns its locator"));
        }
        end.records = at..end.records.end;
    }
    Ok(end)
}

/// Reads the directory of a whole zip, keeping at most `max_members`
/// members (more gives a `limits.max_members` problem).
pub(crate) fn read_directory(data: &[u8], max_members: u64) -> Result<Directory, Reason> {
    let end = find_end(data)?;
    let mut cd_start = usize::try_from(end.cd_offset).unwrap_or(usize::MAX);
    let mut cd_end = cd_start.saturating_add(usize::try_from(end.cd_size).unwrap_or(usize::MAX));
    // Data prepended to a zip (self-extractor stubs, polyglots) shifts every
    // offset; the directory then ends short of the end records by exactly
    // the prefix length.
    let mut shift = 0usize;
    if cd_end < end.records.start && u32_at(data, cd_start) != Some(CENTRAL_SIG) {
        let gap = end.records.start - cd_end;
        if u32_at(data, cd_start + gap) == Some(CENTRAL_SIG) {
            shift = gap;
            cd_start += gap;
            cd_end += gap;
        }
    }
    if cd_end > end.records.start {
        return Err(malformed(format!(
            "central directory [{}, {}) runs past the end records at {}",
            end.cd_offset,
            end.cd_offset.saturating_add(end.cd_size),
            end.records.start
        )));
    }
    let mut dir = Directory::default();
    if let Some(comment) = data.get(end.records.start + EOCD_LEN..end.records.end) {
        keep(&mut dir.metadata, comment);
    }
    let wanted = end.entries.min(max_members);
    if end.entries > max_members {
        dir.problems.push(Reason::new(
            "limits.max_members",
            format!(
                "the zip lists {} members; only the first {max_members} were examined",
                end.entries
            ),
        ));
    }
    // Spans [start, end) of bytes each record accounts for.
    let mut spans: Vec<(usize, usize, Option<usize>)> = vec![(cd_start, cd_end, None)];
    spans.push((end.records.start, end.records.end, None));
    let mut pos = cd_start;
    let mut unreadable = 0u64;
    let mut locals = std::collections::HashSet::new();
    for index in 0..wanted {
        if pos + CENTRAL_LEN > cd_end || u32_at(data, pos) != Some(CENTRAL_SIG) {
            return Err(malformed(format!(
                "central directory entry {index} of {} missing or truncated at offset {pos}",
                end.entries
            )));
        }
        let here = pos;
        let f16 = |at| u16_at(data, here + at).unwrap_or(0);
        let f32 = |at| u32_at(data, here + at).unwrap_or(0);
        let (name_len, extra_len, comment_len) =
            (f16(28) as usize, f16(30) as usize, f16(32) as usize);
        let record_end = pos + CENTRAL_LEN + name_len + extra_len + comment_len;
        if record_end > cd_end {
            return Err(malformed(format!(
                "central directory entry {index} overruns the directory"
            )));
        }
        let name_bytes = &data[pos + CENTRAL_LEN..pos + CENTRAL_LEN + name_len];
        let extra = &data[pos + CENTRAL_LEN + name_len..pos + CENTRAL_LEN + name_len + extra_len];
        keep(&mut dir.metadata, extra);
        keep(
            &mut dir.metadata,
            &data[record_end - comment_len..record_end],
        );
        let mut size = f32(24) as u64;
        let mut compressed = f32(20) as u64;
        let mut local = f32(42) as u64;
        let shifted = |local: u64| local.saturating_add(shift as u64);
        let zip64 = size == 0xFFFF_FFFF || compressed == 0xFFFF_FFFF || local == 0xFFFF_FFFF;
        if zip64 {
            let values = zip64_field(extra).unwrap_or(&[]);
            let mut at = 0;
            for field in [&mut size, &mut compressed, &mut local] {
                if *field == 0xFFFF_FFFF {
                    *field = u64_at(values, at).ok_or_else(|| {
                        malformed(format!(
                            "member {index}: zip64 extra field missing or short"
                        ))
                    })?;
                    at += 8;
                }
            }
        }
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        pos = record_end;
        if !locals.insert(local) {
            // A second record pointing at the same local header: the
            // overlap bomb. Kept as a placeholder so the span check drops
            // it together with the first.
            let start = shifted(local) as usize;
            spans.push((
                start,
                start.saturating_add(LOCAL_LEN),
                Some(dir.entries.len()),
            ));
            dir.entries.push(Entry {
                name,
                flags: 0,
                method: STORED,
                crc: 0,
                compressed: 0,
                size: 0,
                data_start: 0,
            });
            continue;
        }
        match locate_data(data, shifted(local), compressed, name_bytes) {
            Ok((start, data_start, data_end)) => {
                let local_extra = &data[start + LOCAL_LEN + name_bytes.len()..data_start];
                keep(&mut dir.metadata, local_extra);
                let flags = f16(8);
                // The descriptor's sizes are 8 bytes when the local header
                // carries a zip64 field (streamed writers add one whatever
                // the final sizes turn out to be).
                let zip64_descriptor = zip64 || zip64_field(local_extra).is_some();
                let tail = descriptor_len(data, data_end, flags, zip64_descriptor);
                spans.push((start, data_end + tail, Some(dir.entries.len())));
                dir.entries.push(Entry {
                    name,
                    flags,
                    method: f16(10),
                    crc: f32(16),
                    compressed,
                    size,
                    data_start,
                });
            }
            Err(detail) => {
                unreadable += 1;
                if unreadable <= 16 {
                    dir.problems
                        .push(malformed(format!("member {name:?}: {detail}")));
                }
            }
        }
    }
    if unreadable > 16 {
        dir.problems.push(malformed(format!(
            "{} more members unreadable",
            unreadable - 16
        )));
    }
    check_spans(data.len(), spans, &mut dir);
    Ok(dir)
}

/// The decoder of an LZMA member: zip's header (version, properties size,
/// then the properties byte and dictionary size) before raw LZMA data. The
/// dictionary the header asks for is checked against the decoder memory
/// budget before anything is allocated.
fn lzma_member<'a, R: Read + 'a>(
    mut input: R,
    entry: &Entry,
) -> Result<Box<dyn Read + 'a>, String> {
    let mut head = [0u8; 9];
    input.read_exact(&mut head).map_err(|e| e.to_string())?;
    if u16::from_le_bytes([head[2], head[3]]) != 5 {
        return Err("properties are not 5 bytes".into());
    }
    let props = head[4];
    let dict_size = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    let need =
        lzma_rust2::lzma_get_memory_usage_by_props(dict_size, props).map_err(|e| e.to_string())?;
    if need > super::stream::DECODER_MEMORY_KIB {
        return Err(format!("needs {need} KiB of decoder memory"));
    }
    // Flag bit 1: the data ends with an end marker (size unknown to it).
    let size = if entry.flags & 0x2 != 0 {
        u64::MAX
    } else {
        entry.size
    };
    lzma_rust2::LzmaReader::new_with_props(input, size, props, dict_size, None)
        .map(|r| Box::new(r) as Box<dyn Read + 'a>)
        .map_err(|e| e.to_string())
}

/// Appends a record's comment or extra field to `metadata`, on a line of
/// its own.
fn keep(metadata: &mut Vec<u8>, bytes: &[u8]) {
    if !bytes.is_empty() {
        metadata.extend_from_slice(bytes);
        metadata.push(b'\n');
    }
}

/// The zip64 extended-information extra field's values, if present.
fn zip64_field(mut extra: &[u8]) -> Option<&[u8]> {
    while extra.len() >= 4 {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
        let body = extra.get(4..4 + len)?;
        if id == 0x0001 {
            return Some(body);
        }
        extra = &extra[4 + len..];
    }
    None
}

/// Checks the local header at `local` and returns (header start, data
/// start, data end).
fn locate_data(
    data: &[u8],
    local: u64,
    compressed: u64,
    central_name: &[u8],
) -> Result<(usize, usize, usize), String> {
    let start = usize::try_from(local).map_err(|_| "local header offset out of range")?;
    if u32_at(data, start) != Some(LOCAL_SIG) {
        return Err(format!("no local header at offset {local}"));
    }
    let name_len = u16_at(data, start + 26).unwrap_or(0) as usize;
    let extra_len = u16_at(data, start + 28).unwrap_or(0) as usize;
    let data_start = start + LOCAL_LEN + name_len + extra_len;
    let local_name = data
        .get(start + LOCAL_LEN..start + LOCAL_LEN + name_len)
        .ok_or("local header truncated")?;
    if local_name != central_name {
        return Err("local header names another file than the central directory".into());
    }
    let data_end = usize::try_from(compressed)
        .ok()
        .and_then(|c| data_start.checked_add(c))
        .filter(|&e| e <= data.len())
        .ok_or_else(|| format!("{compressed} compressed bytes run past the end of the zip"))?;
    Ok((start, data_start, data_end))
}

/// Length of the data descriptor after a member's data, if its flags say
/// there is one.
fn descriptor_len(data: &[u8], data_end: usize, flags: u16, zip64: bool) -> usize {
    if flags & 0x8 == 0 {
        return 0;
    }
    let sizes = if zip64 { 16 } else { 8 };
    let len = if u32_at(data, data_end) == Some(DESCRIPTOR_SIG) {
        8 + sizes
    } else {
        4 + sizes
    };
    len.min(data.len() - data_end)
}

/// Drops members whose bytes overlap another record's and reports bytes
/// that no record accounts for (data hidden between or after members).
fn check_spans(total: usize, mut spans: Vec<(usize, usize, Option<usize>)>, dir: &mut Directory) {
    spans.sort_unstable();
    let mut overlapping = vec![false; dir.entries.len()];
    let mut covered = 0usize;
    let mut reach = 0usize;
    let mut reach_owner: Option<Option<usize>> = None;
    for &(start, end, owner) in &spans {
        if start < reach {
            for o in [owner, reach_owner.flatten()].into_iter().flatten() {
                overlapping[o] = true;
            }
        }
        if end > reach {
            covered += end - start.max(reach);
            reach = end;
            reach_owner = Some(owner);
        }
    }
    let overlaps = overlapping.iter().filter(|&&o| o).count();
    if overlaps > 0 {
        dir.problems.push(Reason::new(
            "container.overlap",
            format!(
                "{overlaps} members share bytes with another record (overlapping-entry zip bomb or damage); they were not decompressed"
            ),
        ));
        let mut index = 0;
        dir.entries.retain(|_| {
            index += 1;
            !overlapping[index - 1]
        });
    }
    let unaccounted = total - covered.min(total);
    if unaccounted > 0 {
        dir.problems.push(Reason::new(
            "container.unaccounted_bytes",
            format!("{unaccounted} bytes belong to no member or directory record (prepended, hidden or trailing data)"),
        ));
    }
}

/// Opens zip archives held in memory (the directory at the end is read
/// first; every member is then read in place).
pub(crate) struct ZipExpander;

impl Expander for ZipExpander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let mut dir = match read_directory(data, walk.budget().limits().max_members) {
            Ok(dir) => dir,
            Err(reason) => {
                walk.reason(reason);
                return;
            }
        };
        for problem in std::mem::take(&mut dir.problems) {
            walk.reason(problem);
        }
        for entry in &dir.entries {
            if entry.is_dir() {
                continue;
            }
            if !walk.admit() {
                break;
            }
            if entry.encrypted() {
                walk.reason(Reason::new(
                    "container.encrypted",
                    format!("{}: encrypted member, content not examined", entry.name),
                ));
                continue;
            }
            let compressed = &data[entry.data_start..entry.data_start + entry.compressed as usize];
            let count = Cell::new(0);
            let counted = Counting {
                inner: compressed,
                count: &count,
            };
            let mut source: Box<dyn Read + '_> = match entry.method {
                STORED => Box::new(counted),
                DEFLATED => Box::new(flate2::bufread::DeflateDecoder::new(counted)),
                BZIP2 => Box::new(bzip2::bufread::BzDecoder::new(counted)),
                LZMA => match lzma_member(counted, entry) {
                    Ok(reader) => reader,
                    Err(detail) => {
                        walk.reason(Reason::new(
                            "container.corrupt",
                            format!(
                                "{}: LZMA member: {detail}; content not examined",
                                entry.name
                            ),
                        ));
                        continue;
                    }
                },
                other => {
                    walk.reason(Reason::new(
                        "container.unsupported",
                        format!(
                            "{}: compression method {other} is not decoded; content not examined",
                            entry.name
                        ),
                    ));
                    continue;
                }
            };
            let checks = Checks {
                crc: Some(entry.crc),
                size: Some(entry.size),
                compressed: Some(&count),
            };
            walk.member(&entry.name, &mut source, checks);
            if walk.stopped() {
                return;
            }
        }
        if !dir.metadata.is_empty() && !walk.member_bytes("@metadata", &dir.metadata) {
            return;
        }
        super::office::expand_tables(walk, data, &dir);
    }
}

/// A member's decompressed bytes, at most `cap` of them (a longer member
/// is `limits.max_file_size`), checked against its CRC and size.
pub(crate) fn inflate_entry(data: &[u8], entry: &Entry, cap: u64) -> Result<Vec<u8>, Reason> {
    let compressed = &data[entry.data_start..entry.data_start + entry.compressed as usize];
    let mut source: Box<dyn Read + '_> = match entry.method {
        STORED => Box::new(compressed),
        DEFLATED => Box::new(flate2::read::DeflateDecoder::new(compressed)),
        other => {
            return Err(Reason::new(
                "container.unsupported",
                format!("{}: compression method {other} is not decoded", entry.name),
            ))
        }
    };
    if entry.encrypted() {
        return Err(Reason::new(
            "container.encrypted",
            format!("{}: encrypted member, content not examined", entry.name),
        ));
    }
    if entry.size > cap {
        return Err(Reason::new(
            "limits.max_file_size",
            format!(
                "{}: larger than {cap} bytes; not read as a document part",
                entry.name
            ),
        ));
    }
    let mut out = Vec::with_capacity(entry.size.min(1 << 20) as usize);
    (&mut source)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Reason::new("container.corrupt", format!("{}: {e}", entry.name)))?;
    if out.len() as u64 != entry.size || crc32fast::hash(&out) != entry.crc {
        return Err(Reason::new(
            "container.crc",
            format!(
                "{}: size or CRC-32 does not match the directory",
                entry.name
            ),
        ));
    }
    Ok(out)
}
