//! The tar format's headers, read from a stream: ustar, pax extended
//! headers (path, size), GNU long names. Every header advances the stream by
//! at least one block, so no archive can make the reader loop; sizes are
//! checked before use and metadata records are capped. Members are read
//! from the stream as they pass.

use crate::sniff::{tar_checksum_ok as checksum_ok, tar_number as octal_or_binary};
use std::io::{self, Read};

use super::{read_full, Expander, Walk};
use crate::reason::Reason;

/// Tar block size.
pub(crate) const BLOCK: u64 = 512;

/// Largest pax or GNU long-name record read (longer ones are malformed).
const MAX_META: u64 = 1 << 20;

/// pax keys longer than this are kept for examination (standard keys are
/// short words; a long one is data).
const MAX_PLAIN_KEY: usize = 64;

/// What a header announces.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EntryType {
    /// Content follows (regular files, and unknown types as POSIX says).
    File,
    /// A sparse file (GNU or pax): its holes are not stored.
    Sparse,
    /// Directories, links, devices, FIFOs: no content.
    NoContent,
}

/// One member header.
#[derive(Debug)]
pub(crate) struct Header {
    /// Path inside the archive (lossy UTF-8).
    pub name: String,
    /// Bytes of stored data that follow the header (before padding).
    pub size: u64,
    /// What kind of member it is.
    pub entry: EntryType,
}

fn malformed(detail: impl Into<String>) -> Reason {
    Reason::new("container.malformed", detail)
}

/// Reads and discards `n` bytes; false if the stream ended first.
pub(crate) fn skip<R: Read>(r: &mut R, n: u64) -> io::Result<bool> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    Ok(copied == n)
}

/// Padding after `size` bytes of data.
pub(crate) fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Reads tar headers one member at a time.
pub(crate) struct Reader {
    /// Headers read so far (members and metadata records).
    pub headers: u64,
    /// What metadata records carried beyond the names and sizes applied:
    /// pax values (times, owners, attributes, comments), long or unusual
    /// keys, bytes after a record's end, names overridden by later ones,
    /// global records, link names. A record can carry anything, so the
    /// walk examines these bytes as the member `@metadata`.
    pub leftover: Vec<u8>,
}

impl Reader {
    /// A reader at the start of an archive.
    pub fn new() -> Self {
        Reader {
            headers: 0,
            leftover: Vec::new(),
        }
    }

    /// Keeps the unapplied parts of a pax body (records other than path,
    /// size and sparse maps; bytes after its end) for examination and
    /// returns the records.
    fn pax_body<'b>(&mut self, body: &'b [u8]) -> Result<Vec<PaxRecord<'b>>, Reason> {
        let (records, rest) = pax_records(body)?;
        for &(key, value) in &records {
            let applied = matches!(key, b"path" | b"size") || key.starts_with(b"GNU.sparse.");
            if key.len() > MAX_PLAIN_KEY {
                self.leftover.extend_from_slice(key);
                self.leftover.push(b'\n');
            }
            if !applied {
                self.leftover.extend_from_slice(value);
                self.leftover.push(b'\n');
            }
        }
        self.keep_nonzero(rest);
        Ok(records)
    }

    /// Keeps `bytes` from their first non-zero byte on (zeros are padding
    /// or a record's terminator), on a line of their own.
    fn keep_nonzero(&mut self, bytes: &[u8]) {
        if let Some(start) = bytes.iter().position(|&b| b != 0) {
            if self.leftover.last().is_some_and(|&b| b != b'\n') {
                self.leftover.push(b'\n');
            }
            self.leftover.extend_from_slice(&bytes[start..]);
            self.leftover.push(b'\n');
        }
    }

    /// The next member's header, or `None` at the end-of-archive marker.
    /// Metadata records (pax, GNU long names) are consumed and applied. The
    /// caller must consume `size` bytes plus [`padding`] before calling
    /// again.
    pub fn next<R: Read>(&mut self, r: &mut R) -> Result<Option<Header>, Reason> {
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        let mut pax_sparse = false;
        loop {
            if self.leftover.len() as u64 > 4 * MAX_META {
                return Err(Reason::new(
                    "container.unaccounted_bytes",
                    format!(
                        "metadata records of more than {} bytes before one member; not examined",
                        4 * MAX_META
                    ),
                ));
            }
            let mut block = [0u8; 512];
            let got = read_full(r, &mut block).map_err(truncated)?;
            self.headers += 1;
            if got == 0 && self.headers == 1 {
                return Err(malformed("empty tar stream"));
            }
            if got < block.len() {
                return Err(Reason::new(
                    "container.truncated",
                    "tar stream ends inside a header (no end-of-archive marker)",
                ));
            }
            if block.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            if !checksum_ok(&block) {
                return Err(malformed(format!(
                    "header {} has a bad checksum",
                    self.headers
                )));
            }
            let size = octal_or_binary(&block[124..136])
                .map_err(|e| malformed(format!("header {}: size: {e}", self.headers)))?;
            let flag = block[156];
            match flag {
                b'x' | b'L' => {
                    let body = metadata_body(r, size)?;
                    if flag == b'L' {
                        let name = cstr(&body);
                        self.keep_nonzero(&body[name.len()..]);
                        if let Some(earlier) = long_name.replace(name.to_vec()) {
                            self.keep_nonzero(&earlier);
                        }
                    } else {
                        for (key, value) in self.pax_body(&body)? {
                            match key {
                                b"path" => {
                                    if let Some(earlier) = pax_path.replace(value.to_vec()) {
                                        self.keep_nonzero(&earlier);
                                    }
                                }
                                b"size" => {
                                    let text = std::str::from_utf8(value).unwrap_or("");
                                    pax_size = Some(text.parse().map_err(|_| {
                                        malformed(format!("pax size {text:?} is not a number"))
                                    })?);
                                }
                                k if k.starts_with(b"GNU.sparse.") => pax_sparse = true,
                                _ => {}
                            }
                        }
                    }
                    continue;
                }
                b'g' | b'K' => {
                    let body = metadata_body(r, size)?;
                    if flag == b'g' {
                        self.pax_body(&body)?;
                    } else {
                        self.keep_nonzero(&body);
                    }
                    continue;
                }
                _ => {}
            }
            let ustar = &block[257..263] == b"ustar\0";
            let name = match (pax_path, long_name) {
                (Some(p), long) => {
                    // A GNU long name the pax path overrides is unused.
                    self.keep_nonzero(long.as_deref().unwrap_or_default());
                    p
                }
                (None, Some(l)) => l,
                (None, None) => {
                    let base = cstr(&block[0..100]);
                    let prefix = if ustar {
                        cstr(&block[345..500])
                    } else {
                        &[][..]
                    };
                    if prefix.is_empty() {
                        base.to_vec()
                    } else {
                        [prefix, b"/", base].concat()
                    }
                }
            };
            let gnu_extended = flag == b'S' && block[482] != 0;
            if gnu_extended {
                // Old GNU sparse maps continue in extension blocks.
                loop {
                    let mut ext = [0u8; 512];
                    if read_full(r, &mut ext).map_err(truncated)? < 512 {
                        return Err(Reason::new(
                            "container.truncated",
                            "tar stream ends inside a sparse map",
                        ));
                    }
                    self.headers += 1;
                    if ext[504] == 0 {
                        break;
                    }
                }
            }
            let entry = match flag {
                b'S' => EntryType::Sparse,
                _ if pax_sparse => EntryType::Sparse,
                b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => EntryType::NoContent,
                _ => EntryType::File,
            };
            return Ok(Some(Header {
                name: String::from_utf8_lossy(&name).into_owned(),
                size: pax_size.unwrap_or(size),
                entry,
            }));
        }
    }
}

/// The body of a metadata record of `size` bytes (at most [`MAX_META`]),
/// its padding consumed.
fn metadata_body<R: Read>(r: &mut R, size: u64) -> Result<Vec<u8>, Reason> {
    if size > MAX_META {
        return Err(malformed(format!(
            "metadata record of {size} bytes (limit {MAX_META})"
        )));
    }
    let mut body = vec![0u8; size as usize];
    if read_full(r, &mut body).map_err(truncated)? < body.len()
        || !skip(r, padding(size)).map_err(truncated)?
    {
        return Err(Reason::new(
            "container.truncated",
            "tar stream ends inside a metadata record",
        ));
    }
    Ok(body)
}

fn truncated(e: io::Error) -> Reason {
    Reason::new("container.truncated", format!("reading tar: {e}"))
}

/// One pax record: key and value bytes.
type PaxRecord<'a> = (&'a [u8], &'a [u8]);

/// Splits a pax body into (key, value) records ("<len> key=value\n") and
/// what follows them (from a NUL on).
fn pax_records(mut body: &[u8]) -> Result<(Vec<PaxRecord<'_>>, &[u8]), Reason> {
    let mut out = Vec::new();
    while !body.is_empty() && body[0] != 0 {
        let space = body
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| malformed("pax record without a length"))?;
        let len: usize = std::str::from_utf8(&body[..space])
            .ok()
            .and_then(|t| t.parse().ok())
            .filter(|&l| l > space + 1 && l <= body.len())
            .ok_or_else(|| malformed("pax record length out of range"))?;
        let record = &body[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| malformed("pax record without '='"))?;
        out.push((&record[..eq], &record[eq + 1..]));
        body = &body[len..];
    }
    Ok((out, body))
}

/// Opens tar archives from a stream, one header and member at a time.
pub(crate) struct TarExpander;

impl Expander for TarExpander {
    fn streamable(&self) -> bool {
        true
    }

    fn expand_stream(&self, walk: &mut Walk<'_>, reader: &mut dyn Read) {
        let budget = walk.budget();
        let mut headers = Reader::new();
        loop {
            if let Err(reason) = budget.check_time() {
                walk.reason(reason);
                break;
            }
            let header = match headers.next(&mut &mut *reader) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    walk.expect_padding(reader, "the tar end-of-archive marker");
                    break;
                }
                Err(reason) => {
                    walk.reason(reason);
                    break;
                }
            };
            if headers.leftover.len() as u64 > MAX_META && !examine_metadata(walk, &mut headers) {
                break;
            }
            let examine = match header.entry {
                // Links and devices carry no bytes; one that declares some
                // has them read like a file's.
                EntryType::NoContent => header.size > 0,
                EntryType::Sparse => {
                    walk.reason(Reason::new(
                        "container.sparse",
                        format!(
                            "{}: sparse member (holes not stored); content not examined",
                            header.name
                        ),
                    ));
                    false
                }
                EntryType::File => true,
            };
            let pad = padding(header.size);
            if !walk.stream_member(reader, &header.name, header.size, pad, examine) {
                break;
            }
        }
        if !headers.leftover.is_empty() {
            examine_metadata(walk, &mut headers);
        }
    }
}

/// Examines what the archive's metadata records carried (see
/// [`Reader::leftover`]) as the member `@metadata`; `false` when the walk
/// must stop.
fn examine_metadata(walk: &mut Walk<'_>, headers: &mut Reader) -> bool {
    let bytes = std::mem::take(&mut headers.leftover);
    !walk.stopped() && walk.member_bytes("@metadata", &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(octal_or_binary(b"0000644 \0"), Ok(0o644));
        assert_eq!(octal_or_binary(b"   17\0"), Ok(15));
        assert_eq!(octal_or_binary(&[0x80, 0, 0, 1, 0]), Ok(256));
        assert!(octal_or_binary(&[0xFF, 0xFF]).is_err());
        assert!(octal_or_binary(b"0009").is_err());
    }

    #[test]
    fn pax() {
        let body = b"18 path=dir/a.csv\n11 size=42\n\0after";
        let (recs, rest) = pax_records(body).unwrap();
        assert_eq!(recs[0], (&b"path"[..], &b"dir/a.csv"[..]));
        assert_eq!(recs[1], (&b"size"[..], &b"42"[..]));
        assert_eq!(rest, b"\0after");
        assert!(pax_records(b"99 path=x\n").is_err());
    }
}
