//! Archives: zip, tar, gzip (`.tgz` too) and zstd (`.tar.zst`), nested to a
//! depth limit.
//! Owns the walk into members, the per-item scan budget ([`Limits`]) and
//! the reader that enforces it on every member byte.
//!
//! Members are read as streams from the archive (held in memory or mapped,
//! or streamed for tar and gzip); nothing is extracted to disk and member
//! paths are only ever names. Each member goes through the same
//! [`Pipeline`] as a file, so every signal applies to it, and comes back as
//! a [`Member`] of the archive's [`Fingerprints`]. Whatever stops a member
//! being read to its end — a limit, a CRC mismatch, a decoder error, an
//! encrypted or overlapping entry — is a [`Reason`] on that member or on the
//! archive: the item is `incomplete`, never clean, and what was read before
//! the stop is still fingerprinted, so matches found before a limit count.

mod tar;
mod zip;

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Fingerprints, Pipeline};
use crate::report::Reason;
use crate::sniff::Kind;

/// Budgets that bound the work spent on one top-level item and everything
/// inside it. Defaults follow ClamAV's (`MaxFileSize`, `MaxScanSize`,
/// `MaxRecursion`, `MaxFiles`, `MaxScanTime`). Exceeding any makes the item
/// `incomplete` with a `limits.<name>` reason; none is ever silently clean.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest archive member examined, bytes (default 100 MiB); a larger
    /// one is examined up to this many bytes (`limits.max_file_size`).
    pub max_file_size: u64,
    /// Decompressed member bytes examined per top-level item, all depths
    /// together (default 400 MiB; `limits.max_bytes`).
    pub max_bytes: u64,
    /// Deepest archive nesting opened: a top-level archive is depth 0, an
    /// archive inside it depth 1 (default 17; `limits.max_depth`).
    pub max_depth: u32,
    /// Archive members examined per top-level item (default 10,000;
    /// `limits.max_members`).
    pub max_members: u64,
    /// Wall time spent inside one top-level item's archives (default 120 s;
    /// `limits.max_time`).
    pub max_time: Duration,
    /// Largest decompressed / compressed ratio of a member (default 1,000;
    /// deflate itself cannot exceed about 1,032; `limits.max_ratio`).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 100 << 20,
            max_bytes: 400 << 20,
            max_depth: 17,
            max_members: 10_000,
            max_time: Duration::from_secs(120),
            max_ratio: 1_000,
        }
    }
}

/// One member of an archive and its fingerprints (members of a member
/// archive are nested inside).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Member {
    /// Path inside its archive, as the archive names it.
    pub name: String,
    /// What the member's content gave.
    pub fingerprints: Fingerprints,
}

/// Separates an archive's path from a member's path in item names
/// (`outer.zip!dir/file.tif`).
pub const MEMBER_SEPARATOR: char = '!';

/// The running account of one top-level item against its [`Limits`].
pub(crate) struct Budget {
    limits: Limits,
    started: Instant,
    bytes: Cell<u64>,
    members: Cell<u64>,
}

impl Budget {
    /// A fresh budget, starting the clock now.
    pub fn new(limits: &Limits) -> Budget {
        Budget {
            limits: limits.clone(),
            started: Instant::now(),
            bytes: Cell::new(0),
            members: Cell::new(0),
        }
    }

    /// The limits being enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn check_time(&self) -> Result<(), Reason> {
        if self.started.elapsed() > self.limits.max_time {
            return Err(Reason::new(
                "limits.max_time",
                format!(
                    "more than {:.1} s spent in archives; the rest was not examined",
                    self.limits.max_time.as_secs_f64()
                ),
            ));
        }
        Ok(())
    }

    fn charge_bytes(&self, n: u64) -> Result<(), Reason> {
        self.charge(
            &self.bytes,
            n,
            self.limits.max_bytes,
            "max_bytes",
            "decompressed bytes",
        )
    }

    fn charge_member(&self) -> Result<(), Reason> {
        self.charge(
            &self.members,
            1,
            self.limits.max_members,
            "max_members",
            "archive members",
        )
    }

    /// Adds `n` to `counter`; past `limit`, the reason `limits.<name>`.
    fn charge(
        &self,
        counter: &Cell<u64>,
        n: u64,
        limit: u64,
        name: &str,
        what: &str,
    ) -> Result<(), Reason> {
        let total = counter.get().saturating_add(n);
        counter.set(total);
        if total > limit {
            return Err(Reason::new(
                format!("limits.{name}"),
                format!("more than {limit} {what} in archives; the rest was not examined"),
            ));
        }
        self.check_time()
    }
}

/// Whether `kind` is an archive this module opens.
pub(crate) fn is_supported(kind: Kind) -> bool {
    matches!(kind, Kind::Zip | Kind::Tar | Kind::Gzip | Kind::Zstd)
}

/// Whether `head` starts with a tar header whose checksum is right (tar
/// archives from before the ustar magic have nothing else to know them by).
pub(crate) fn is_tar_header(head: &[u8]) -> bool {
    head.get(..512)
        .and_then(|b| <&[u8; 512]>::try_from(b).ok())
        .is_some_and(|block| block.iter().any(|&b| b != 0) && tar::checksum_ok(block))
}

/// Whether an item with no archive magic at its start still ends with a
/// zip directory (a zip with data prepended: self-extractors, polyglots).
pub(crate) fn has_zip_directory(data: &[u8]) -> bool {
    zip::read_directory(data, 1).is_ok_and(|d| !d.entries.is_empty())
}

/// Whether an archive of `kind` can be read from a stream (zip needs its
/// directory at the end, so it is read from memory).
pub(crate) fn is_streamable(kind: Kind) -> bool {
    matches!(kind, Kind::Tar | Kind::Gzip | Kind::Zstd)
}

/// Reads one member's bytes within the budget. It never fails: a limit, a
/// decoder error or a failed check ends the member (reads return 0) and is
/// kept in `stop`, so whoever consumes the stream fingerprints what was read
/// and the member is marked incomplete.
struct MemberReader<'b, R> {
    inner: R,
    budget: &'b Budget,
    name: &'b str,
    delivered: u64,
    compressed: Option<&'b Cell<u64>>,
    crc: Option<(crc32fast::Hasher, u32)>,
    expected_size: Option<u64>,
    stop: Option<Reason>,
}

impl<'b, R: Read> MemberReader<'b, R> {
    fn new(inner: R, budget: &'b Budget, name: &'b str) -> Self {
        MemberReader {
            inner,
            budget,
            name,
            delivered: 0,
            compressed: None,
            crc: None,
            expected_size: None,
            stop: None,
        }
    }

    fn halt(&mut self, reason: Reason) {
        if self.stop.is_none() {
            self.stop = Some(reason);
        }
    }

    /// Checks the end of the member against its declared size and CRC.
    fn check_end(&mut self) {
        if let Some(size) = self.expected_size {
            if size != self.delivered {
                let detail = format!(
                    "{}: {} bytes, the archive declares {size}",
                    self.name, self.delivered
                );
                self.halt(Reason::new("container.truncated", detail));
                return;
            }
        }
        if let Some((hasher, expected)) = self.crc.take() {
            let got = hasher.finalize();
            if got != expected {
                let detail = format!(
                    "{}: CRC-32 {got:08x}, the archive declares {expected:08x}",
                    self.name
                );
                self.halt(Reason::new("container.crc", detail));
            }
        }
    }
}

impl<R: Read> Read for MemberReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.is_some() || buf.is_empty() {
            return Ok(0);
        }
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let detail = format!("{}: {e}", self.name);
                    self.halt(Reason::new("container.corrupt", detail));
                    return Ok(0);
                }
            }
        };
        if n == 0 {
            self.check_end();
            return Ok(0);
        }
        let limits = self.budget.limits();
        let mut n = n as u64;
        if self.delivered + n > limits.max_file_size {
            n = limits.max_file_size - self.delivered;
            let detail = format!(
                "{}: larger than {} bytes; only its start was examined",
                self.name, limits.max_file_size
            );
            self.halt(Reason::new("limits.max_file_size", detail));
        }
        if let Err(reason) = self.budget.charge_bytes(n) {
            self.halt(reason);
        }
        self.delivered += n;
        if let Some(compressed) = self.compressed {
            let c = compressed.get().max(1);
            if self.delivered > (1 << 20) && self.delivered / c > limits.max_ratio {
                let detail = format!(
                    "{}: {} bytes out of {c} compressed (ratio above {}); decompression stopped",
                    self.name, self.delivered, limits.max_ratio
                );
                self.halt(Reason::new("limits.max_ratio", detail));
            }
        }
        let n = n as usize;
        if let Some((hasher, _)) = &mut self.crc {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Counts the compressed bytes a decoder has consumed (not merely
/// buffered), so the decompression ratio is measured exactly.
struct Counting<'c, B> {
    inner: B,
    count: &'c Cell<u64>,
}

impl<B: BufRead> Read for Counting<'_, B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<B: BufRead> BufRead for Counting<'_, B> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.count.set(self.count.get() + n as u64);
        self.inner.consume(n)
    }
}

/// What opening one archive gave.
#[derive(Default)]
pub(crate) struct Expanded {
    /// Members examined, in archive order.
    pub members: Vec<Member>,
    /// Why the archive was not fully examined.
    pub reasons: Vec<Reason>,
}

impl Pipeline {
    /// Opens an archive held whole in memory.
    pub(crate) fn expand_slice(
        &self,
        name: &str,
        kind: Kind,
        data: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        match kind {
            Kind::Zip => self.expand_zip(data, budget, depth),
            _ => {
                let mut reader = data;
                self.expand_stream(name, kind, &mut reader, budget, depth)
            }
        }
    }

    /// Opens a tar or gzip archive from a stream, consuming what the
    /// archive format needs (the caller drains any rest).
    pub(crate) fn expand_stream<R: Read>(
        &self,
        name: &str,
        kind: Kind,
        reader: &mut R,
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        match kind {
            Kind::Gzip | Kind::Zstd => self.expand_compressed(name, kind, reader, budget, depth),
            Kind::Tar => self.expand_tar(reader, budget, depth),
            _ => Expanded::default(),
        }
    }

    /// Fingerprints one member from its reader (catching decoder panics)
    /// and files the reader's stop reason on it.
    fn read_member<R: Read>(
        &self,
        name: &str,
        reader: &mut MemberReader<'_, R>,
        depth: u32,
        out: &mut Expanded,
    ) {
        let budget = reader.budget;
        let result = catch_unwind(AssertUnwindSafe(|| {
            // Type-erased so nested archives do not nest reader types.
            let erased: &mut dyn Read = &mut *reader;
            self.reader_within(Some(Path::new(name)), erased, budget, depth)
        }));
        // Whatever the consumer left unread still counts toward the CRC
        // and size checks: read it so damage past the end of what a
        // decoder needed is seen.
        if reader.stop.is_none() {
            let _ = io::copy(reader, &mut io::sink());
        }
        match result {
            Ok(Ok(mut fingerprints)) => {
                if let Some(reason) = reader.stop.take() {
                    fingerprints.reasons.push(reason);
                }
                out.members.push(Member {
                    name: name.to_string(),
                    fingerprints,
                });
            }
            Ok(Err(e)) => out.reasons.push(Reason::new(
                "container.corrupt",
                format!("{name}: reading: {e}"),
            )),
            Err(_) => out.reasons.push(Reason::new(
                "decoder.panic",
                format!("{name}: a decoder failed unexpectedly; the member was not examined"),
            )),
        }
    }

    fn expand_zip(&self, data: &[u8], budget: &Budget, depth: u32) -> Expanded {
        let mut out = Expanded::default();
        let dir = match zip::read_directory(data, budget.limits().max_members) {
            Ok(dir) => dir,
            Err(reason) => {
                out.reasons.push(reason);
                return out;
            }
        };
        out.reasons.extend(dir.problems);
        for entry in &dir.entries {
            if entry.is_dir() {
                continue;
            }
            if let Err(reason) = budget.charge_member() {
                out.reasons.push(reason);
                break;
            }
            if entry.encrypted() {
                out.reasons.push(Reason::new(
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
            let source: Box<dyn Read + '_> = match entry.method {
                zip::STORED => Box::new(counted),
                zip::DEFLATED => Box::new(flate2::bufread::DeflateDecoder::new(counted)),
                other => {
                    out.reasons.push(Reason::new(
                        "container.unsupported",
                        format!(
                            "{}: compression method {other} is not decoded; content not examined",
                            entry.name
                        ),
                    ));
                    continue;
                }
            };
            let mut reader = MemberReader::new(source, budget, &entry.name);
            reader.compressed = Some(&count);
            reader.crc = Some((crc32fast::Hasher::new(), entry.crc));
            reader.expected_size = Some(entry.size);
            self.read_member(&entry.name, &mut reader, depth + 1, &mut out);
            if stops_archive(&out) {
                break;
            }
        }
        out
    }

    /// A single-stream compressed file (gzip, all its members; zstd, all
    /// its frames) as one member named after it. The zstd decoder refuses
    /// frames whose window exceeds 128 MiB, which bounds its memory.
    fn expand_compressed<R: Read>(
        &self,
        name: &str,
        kind: Kind,
        reader: &mut R,
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        let mut out = Expanded::default();
        if let Err(reason) = budget.charge_member() {
            out.reasons.push(reason);
            return out;
        }
        let suffixes: &[(&str, &str)] = match kind {
            Kind::Zstd => &[(".tzst", ".tar"), (".zst", ""), (".zstd", "")],
            _ => &[(".tgz", ".tar"), (".gz", ""), (".gzip", "")],
        };
        let inner = compressed_member_name(name, suffixes);
        let count = Cell::new(0);
        let counted = Counting {
            inner: io::BufReader::with_capacity(64 * 1024, reader),
            count: &count,
        };
        let decoder: Box<dyn Read + '_> = match kind {
            Kind::Zstd => match zstd::stream::read::Decoder::with_buffer(counted) {
                Ok(decoder) => Box::new(decoder),
                Err(e) => {
                    out.reasons.push(Reason::new(
                        "container.corrupt",
                        format!("{inner}: cannot start the zstd decoder: {e}"),
                    ));
                    return out;
                }
            },
            _ => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        };
        let mut member = MemberReader::new(decoder, budget, &inner);
        member.compressed = Some(&count);
        self.read_member(&inner, &mut member, depth + 1, &mut out);
        out
    }

    fn expand_tar<R: Read>(&self, reader: &mut R, budget: &Budget, depth: u32) -> Expanded {
        let mut out = Expanded::default();
        let mut headers = tar::Reader::new();
        loop {
            if let Err(reason) = budget.check_time() {
                out.reasons.push(reason);
                break;
            }
            let header = match headers.next(reader) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    match trailing_nonzero(reader, budget) {
                        Ok(0) => {}
                        Ok(n) => out.reasons.push(Reason::new(
                            "container.unaccounted_bytes",
                            format!("{n} non-zero bytes after the tar end-of-archive marker"),
                        )),
                        Err(reason) => out.reasons.push(reason),
                    }
                    break;
                }
                Err(reason) => {
                    out.reasons.push(reason);
                    break;
                }
            };
            let mut rest = header.size;
            match header.entry {
                tar::EntryType::NoContent => {}
                tar::EntryType::Sparse => out.reasons.push(Reason::new(
                    "container.sparse",
                    format!(
                        "{}: sparse member (holes not stored); content not examined",
                        header.name
                    ),
                )),
                tar::EntryType::File => {
                    if let Err(reason) = budget.charge_member() {
                        out.reasons.push(reason);
                        break;
                    }
                    let mut member =
                        MemberReader::new((&mut *reader).take(header.size), budget, &header.name);
                    member.expected_size = Some(header.size);
                    self.read_member(&header.name, &mut member, depth + 1, &mut out);
                    rest = member.inner.limit();
                    if stops_archive(&out) {
                        break;
                    }
                }
            }
            match skip_within(reader, rest + tar::padding(header.size), budget) {
                Ok(true) => {}
                Ok(false) => {
                    out.reasons.push(Reason::new(
                        "container.truncated",
                        format!("{}: tar stream ends inside the member", header.name),
                    ));
                    break;
                }
                Err(reason) => {
                    out.reasons.push(reason);
                    break;
                }
            }
        }
        out
    }
}

/// Whether the last member hit a budget that ends the whole archive.
fn stops_archive(out: &Expanded) -> bool {
    let last = out.members.last().map(|m| &m.fingerprints.reasons);
    last.into_iter()
        .flatten()
        .chain(&out.reasons)
        .any(|r| r.code == "limits.max_bytes" || r.code == "limits.max_time")
}

/// Reads past `n` bytes nobody examines (the unread tail of a member cut
/// at `max_file_size`), watching the clock. `Ok(false)` if the stream ended.
fn skip_within<R: Read>(reader: &mut R, mut n: u64, budget: &Budget) -> Result<bool, Reason> {
    let mut buf = [0u8; 64 * 1024];
    while n > 0 {
        budget.check_time()?;
        let want = n.min(buf.len() as u64) as usize;
        match reader.read(&mut buf[..want]) {
            Ok(0) => return Ok(false),
            Ok(got) => n -= got as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Reason::new(
                    "container.corrupt",
                    format!("reading the archive: {e}"),
                ))
            }
        }
    }
    Ok(true)
}

/// Reads a stream to its end and counts its non-zero bytes (what follows
/// a tar's end marker should be zero padding).
fn trailing_nonzero<R: Read>(reader: &mut R, budget: &Budget) -> Result<u64, Reason> {
    let mut buf = [0u8; 64 * 1024];
    let mut nonzero = 0u64;
    loop {
        budget.check_time()?;
        match reader.read(&mut buf) {
            Ok(0) => return Ok(nonzero),
            Ok(n) => nonzero += buf[..n].iter().filter(|&&b| b != 0).count() as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Reason::new(
                    "container.corrupt",
                    format!("reading the archive: {e}"),
                ))
            }
        }
    }
}

/// The name given to a compressed file's content: its own name with the
/// first matching (suffix, replacement) applied, case-insensitively
/// (`logs.tar.gz` -> `logs.tar`, `t.tgz` -> `t.tar`), else `<name>.content`.
fn compressed_member_name(name: &str, suffixes: &[(&str, &str)]) -> String {
    let base = name
        .rsplit(['/', '\\', MEMBER_SEPARATOR])
        .next()
        .unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    for (suffix, replacement) in suffixes {
        if lower.ends_with(suffix) && base.len() > suffix.len() {
            return format!("{}{replacement}", &base[..base.len() - suffix.len()]);
        }
    }
    format!("{base}.content")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_names() {
        let gz: &[(&str, &str)] = &[(".tgz", ".tar"), (".gz", ""), (".gzip", "")];
        assert_eq!(compressed_member_name("a/b/logs.tar.gz", gz), "logs.tar");
        assert_eq!(compressed_member_name("x.zip!t.TGZ", gz), "t.tar");
        assert_eq!(compressed_member_name("data", gz), "data.content");
        assert_eq!(compressed_member_name(".gz", gz), ".gz.content");
    }
}
