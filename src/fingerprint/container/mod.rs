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

mod ar;
mod cab;
mod cpio;
mod iso;
mod lzop;
mod lzw;
mod mime;
mod office;
mod ole2;
mod pdf;
mod sevenz;
mod stream;
mod tar;
mod zip;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Fingerprints, Pipeline};
use crate::progress::StopFlag;
use crate::reason::Reason;
use crate::sniff::Kind;

/// Budgets that bound the work spent on one top-level item and everything
/// inside it. Defaults follow ClamAV's (`MaxFileSize`, `MaxScanSize`,
/// `MaxRecursion`, `MaxFiles`, `MaxScanTime`). Exceeding any makes the item
/// `incomplete` with a `limits.<name>` reason; none is ever silently clean.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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

option_setters!(Limits {
    with_max_file_size: max_file_size: u64,
    with_max_bytes: max_bytes: u64,
    with_max_depth: max_depth: u32,
    with_max_members: max_members: u64,
    with_max_time: max_time: Duration,
    with_max_ratio: max_ratio: u64,
});

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

/// The member name of bytes found after a format's logical end.
pub const TRAILING_MEMBER: &str = "trailing";

/// The running account of one top-level item against its [`Limits`].
pub(crate) struct Budget {
    limits: Limits,
    /// Raised by the caller to cancel the item's scan.
    stops: Vec<StopFlag>,
    /// Whether a raised stop was seen: whatever reason the work that saw it
    /// filed, the item is then reported cancelled.
    cancelled: Cell<bool>,
    started: Instant,
    bytes: Cell<u64>,
    members: Cell<u64>,
    /// Members wanted by the caller, when re-reading an item to show some
    /// of its members (see [`Pipeline::members_content`]).
    capture: Option<Capture>,
}

/// Members wanted by the caller during a walk (see
/// [`Pipeline::members_content`]): the names of the members open around
/// the walk's current point, and what was found of each wanted one.
struct Capture {
    /// The members wanted, each by its names from the outermost inwards
    /// joined by [`MEMBER_SEPARATOR`].
    wanted: HashSet<String>,
    /// Names of the members being read, outermost first.
    trail: RefCell<Vec<String>>,
    /// What was found of each wanted member.
    found: RefCell<HashMap<String, MemberCopy>>,
}

/// What reading an item again found of a member asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberCopy {
    /// Its content, read whole.
    Bytes(Vec<u8>),
    /// Two or more members have this path (a tar may hold a name twice):
    /// which one a finding concerns cannot be told.
    Ambiguous,
    /// It was not read whole (a budget, damage, or longer than
    /// [`MAX_CAPTURED_BYTES`]).
    Incomplete,
}

impl Capture {
    /// Enters member `name`; returns its path when it is a wanted one.
    fn enter(&self, name: &str) -> Option<String> {
        let mut trail = self.trail.borrow_mut();
        trail.push(name.to_string());
        let path = trail.join(&MEMBER_SEPARATOR.to_string());
        self.wanted.contains(&path).then_some(path)
    }

    fn leave(&self) {
        self.trail.borrow_mut().pop();
    }

    /// Files what was read of wanted member `path`; a second member of the
    /// same path makes it ambiguous.
    fn file(&self, path: String, copy: MemberCopy) {
        let mut found = self.found.borrow_mut();
        match found.get_mut(&path) {
            Some(seen) => *seen = MemberCopy::Ambiguous,
            None => {
                found.insert(path, copy);
            }
        }
    }
}

/// Most bytes [`Pipeline::members_content`] keeps of one member (64 MiB).
pub const MAX_CAPTURED_BYTES: usize = 64 << 20;

impl Budget {
    /// A fresh budget, starting the clock now, that also runs out when one
    /// of `stops` is raised.
    pub fn new(limits: &Limits, stops: &[StopFlag]) -> Budget {
        Budget {
            limits: limits.clone(),
            stops: stops.to_vec(),
            cancelled: Cell::new(false),
            started: Instant::now(),
            bytes: Cell::new(0),
            members: Cell::new(0),
            capture: None,
        }
    }

    /// A fresh budget that also keeps the content of the members `wanted`
    /// (each by its names joined by [`MEMBER_SEPARATOR`]) as the walk reads
    /// them.
    pub fn capturing(limits: &Limits, wanted: &[String]) -> Budget {
        let mut budget = Budget::new(limits, &[]);
        budget.capture = Some(Capture {
            wanted: wanted.iter().cloned().collect(),
            trail: RefCell::new(Vec::new()),
            found: RefCell::new(HashMap::new()),
        });
        budget
    }

    /// What the walk found of the wanted members (those it never reached
    /// are missing).
    pub fn captured(&self) -> HashMap<String, MemberCopy> {
        self.capture
            .as_ref()
            .map(|c| c.found.take())
            .unwrap_or_default()
    }

    /// Whether a raised stop cut the work on the item short.
    pub fn was_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// The limits being enforced.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn check_time(&self) -> Result<(), Reason> {
        if self.stops.iter().any(StopFlag::is_raised) {
            self.cancelled.set(true);
            return Err(cancelled());
        }
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

/// The reason code of an item whose scan was cancelled.
pub const CANCELLED: &str = "scan.cancelled";

/// The reason of an item whose scan was cancelled part-way.
pub(crate) fn cancelled() -> Reason {
    Reason::new(
        CANCELLED,
        "the scan was cancelled; the rest of the item was not examined",
    )
}

/// Whether `kind` is an archive this module opens.
pub(crate) fn is_supported(kind: Kind) -> bool {
    expander(kind).is_some()
}

/// The reason for a container this build recognises but does not open.
pub(crate) fn unsupported(kind: Kind) -> Reason {
    let detail = match kind {
        Kind::ArchivePart => {
            "a later part of a multi-volume archive: it cannot be read without the other parts; content not examined".to_string()
        }
        _ => format!(
            "{} content is recognised but not opened by this build; content not examined",
            kind.name()
        ),
    };
    Reason::new("container.unsupported", detail)
}

/// Bytes to read before an ISO 9660 image can be recognised.
pub(crate) const ISO_SNIFF_LEN: usize = iso::SIGNATURE_END;

/// Whether opaque bytes are an ISO 9660 image (its signature sits at
/// 32 KiB, past what sniffing reads).
pub(crate) fn is_iso_image(data: &[u8]) -> bool {
    iso::is_iso(data)
}

/// Whether an item with no archive magic at its start still ends with a
/// zip directory (a zip with data prepended: self-extractors, polyglots).
pub(crate) fn has_zip_directory(data: &[u8]) -> bool {
    zip::read_directory(data, 1).is_ok_and(|d| !d.entries.is_empty())
}

/// Whether an archive of `kind` can be read from a stream (zip needs its
/// directory at the end, so it is read from memory).
pub(crate) fn is_streamable(kind: Kind) -> bool {
    expander(kind).is_some_and(|e| e.streamable())
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
    /// A copy of what was delivered, when the caller asked for this member.
    copy: Option<Vec<u8>>,
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
            copy: None,
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
        if let Some(copy) = &mut self.copy {
            let room = MAX_CAPTURED_BYTES.saturating_sub(copy.len());
            copy.extend_from_slice(&buf[..n.min(room)]);
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

/// Checks a member's bytes are held to once read to their end.
#[derive(Default)]
pub(crate) struct Checks<'c> {
    /// CRC-32 the container declares for the member.
    pub crc: Option<u32>,
    /// Size the container declares for the member.
    pub size: Option<u64>,
    /// Compressed bytes consumed so far, for the ratio limit.
    pub compressed: Option<&'c Cell<u64>>,
}

/// One format's way into its members. Every expander hands its members to
/// the same [`Walk`], so budgets, reasons, nesting and evidence paths are
/// the same for all formats; adding a format means one file with one
/// `Expander` and one line in [`expander`].
pub(crate) trait Expander: Sync {
    /// Whether the format can be opened from a stream read once from start
    /// to end (zip and 7z need their directory, at the end, first; such
    /// formats are held in memory and opened by `expand_slice`).
    fn streamable(&self) -> bool {
        false
    }

    /// Opens a container held whole in memory.
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let mut reader = data;
        self.expand_stream(walk, &mut reader);
    }

    /// Opens a container from a stream, consuming what the format needs
    /// (the caller drains any rest). Only called when `streamable`; the
    /// formats that are not say so if it ever is.
    fn expand_stream(&self, walk: &mut Walk<'_>, _reader: &mut dyn Read) {
        walk.reason(Reason::new(
            "container.unsupported",
            "this format is opened from memory only, not from a stream",
        ));
    }
}

/// The expander that opens `kind`, if any does.
pub(crate) fn expander(kind: Kind) -> Option<&'static dyn Expander> {
    Some(match kind {
        Kind::Zip => &zip::ZipExpander,
        Kind::Tar => &tar::TarExpander,
        Kind::Gzip => &stream::Codec::Gzip,
        Kind::Zstd => &stream::Codec::Zstd,
        Kind::Bzip2 => &stream::Codec::Bzip2,
        Kind::Xz => &stream::Codec::Xz,
        Kind::Lzma => &stream::Codec::Lzma,
        Kind::Lzip => &stream::Codec::Lzip,
        Kind::Lz4 => &stream::Codec::Lz4,
        Kind::Zlib => &stream::Codec::Zlib,
        Kind::UnixCompress => &stream::Codec::UnixCompress,
        Kind::Lzop => &stream::Codec::Lzop,
        Kind::Cab => &cab::CabExpander,
        Kind::Ole2 => &ole2::Ole2Expander,
        Kind::Utf16Text => &Utf16Expander,
        Kind::Cpio => &cpio::CpioExpander,
        Kind::Ar => &ar::ArExpander,
        Kind::SevenZip => &sevenz::SevenZipExpander,
        Kind::Mail => &mime::MailExpander,
        Kind::Iso9660 => &iso::IsoExpander,
        Kind::Pdf => &pdf::PdfExpander,
        _ => return None,
    })
}

/// UTF-16 text, re-encoded as UTF-8 (one member `utf8`) so the byte and
/// records signals read it as they read any text.
struct Utf16Expander;

impl Expander for Utf16Expander {
    fn expand_slice(&self, walk: &mut Walk<'_>, data: &[u8]) {
        let Some(units) = crate::sniff::utf16_units(data) else {
            return;
        };
        let text: String = char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        if !data.len().is_multiple_of(2) {
            walk.reason(Reason::new(
                "container.truncated",
                "UTF-16 text with an odd number of bytes",
            ));
        }
        walk.member_bytes("utf8", text.as_bytes());
    }
}

/// The walk into one container: where its members go, the budget they are
/// charged to and how deep they sit. Expanders create members only through
/// it.
pub(crate) struct Walk<'p> {
    pipeline: &'p Pipeline,
    budget: &'p Budget,
    /// Depth of the container being opened (its members are one deeper).
    depth: u32,
    /// The container's own name, for members named after it.
    name: &'p str,
    out: Expanded,
}

impl<'p> Walk<'p> {
    /// The budget members are charged to.
    pub fn budget(&self) -> &'p Budget {
        self.budget
    }

    /// The container's name as the caller gave it (may be empty).
    pub fn name(&self) -> &str {
        self.name
    }

    /// Files a reason on the container.
    pub fn reason(&mut self, reason: Reason) {
        self.out.reasons.push(reason);
    }

    /// Checks the clock for work a container's reader does itself (parsing
    /// a document's parts, already charged as members); `false` (with the
    /// reason filed) when the walk must stop.
    pub fn check_clock(&mut self) -> bool {
        match self.budget.check_time() {
            Ok(()) => true,
            Err(reason) => {
                self.reason(reason);
                false
            }
        }
    }

    /// Charges one member to the budget; `false` (with the reason filed)
    /// when the member limit or time is exhausted and the walk must stop.
    pub fn admit(&mut self) -> bool {
        match self.budget.charge_member() {
            Ok(()) => true,
            Err(reason) => {
                self.reason(reason);
                false
            }
        }
    }

    /// Whether a budget that ends the whole walk (bytes, time) was hit.
    pub fn stopped(&self) -> bool {
        let last = self.out.members.last().map(|m| &m.fingerprints.reasons);
        last.into_iter()
            .flatten()
            .chain(&self.out.reasons)
            .any(|r| {
                r.code == "limits.max_bytes" || r.code == "limits.max_time" || r.code == CANCELLED
            })
    }

    /// Fingerprints one member from `source` (already admitted), held to
    /// `checks` and the budget: a limit or decoder error ends the member and
    /// is filed on it, and decoder panics are contained. Returns how many
    /// bytes the member delivered.
    pub fn member(&mut self, name: &str, source: &mut dyn Read, checks: Checks<'_>) -> u64 {
        let mut reader = MemberReader::new(source, self.budget, name);
        reader.compressed = checks.compressed;
        reader.crc = checks.crc.map(|c| (crc32fast::Hasher::new(), c));
        reader.expected_size = checks.size;
        let capture = self.budget.capture.as_ref();
        let wanted = capture.and_then(|c| c.enter(name));
        if wanted.is_some() {
            reader.copy = Some(Vec::new());
        }
        let pipeline = self.pipeline;
        let budget = self.budget;
        let depth = self.depth + 1;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let erased: &mut dyn Read = &mut reader;
            pipeline.reader_within(Some(Path::new(name)), erased, budget, depth)
        }));
        // Whatever the consumer left unread still counts toward the CRC
        // and size checks: read it so damage past the end of what a
        // decoder needed is seen.
        if reader.stop.is_none() {
            let _ = io::copy(&mut reader, &mut io::sink());
        }
        if let Some(capture) = capture {
            capture.leave();
            if let (Some(path), Some(copy)) = (wanted, reader.copy.take()) {
                let whole = reader.stop.is_none()
                    && matches!(result, Ok(Ok(_)))
                    && copy.len() as u64 == reader.delivered;
                let copy = if whole {
                    MemberCopy::Bytes(copy)
                } else {
                    MemberCopy::Incomplete
                };
                capture.file(path, copy);
            }
        }
        match result {
            Ok(Ok(mut fingerprints)) => {
                fingerprints.reasons.extend(reader.stop.take());
                self.out.members.push(Member {
                    name: name.to_string(),
                    fingerprints,
                });
            }
            Ok(Err(e)) => self.reason(Reason::new(
                "container.corrupt",
                format!("{name}: reading: {e}"),
            )),
            Err(_) => self.reason(Reason::new(
                "decoder.panic",
                format!("{name}: a decoder failed unexpectedly; the member was not examined"),
            )),
        }
        reader.delivered
    }
    /// Admits and fingerprints a member already decoded into memory (a
    /// MIME part, a document's stream). `false` when the walk must stop.
    pub fn member_bytes(&mut self, name: &str, data: &[u8]) -> bool {
        if !self.admit() {
            return false;
        }
        let mut reader = data;
        self.member(name, &mut reader, Checks::default());
        !self.stopped()
    }

    /// Fingerprints a part of a document held in memory (a PDF stream) as
    /// a member that does not count against `max_members`: a document's
    /// own parts are bounded by its size, and bytes and time are still
    /// charged. `false` when the walk must stop.
    pub fn part_bytes(&mut self, name: &str, data: &[u8]) -> bool {
        if let Err(reason) = self.budget.check_time() {
            self.reason(reason);
            return false;
        }
        let mut reader = data;
        self.member(name, &mut reader, Checks::default());
        !self.stopped()
    }

    /// Admits a table a document holds (rendered as CSV) as a member read
    /// by the records signal. `false` when the walk must stop.
    pub fn member_table(&mut self, name: &str, csv: &[u8]) -> bool {
        if !self.admit() {
            return false;
        }
        if let Err(reason) = self.budget.charge_bytes(csv.len() as u64) {
            self.reason(reason);
            return false;
        }
        if let Some(capture) = &self.budget.capture {
            if let Some(path) = capture.enter(name) {
                capture.file(path, MemberCopy::Bytes(csv.to_vec()));
            }
            capture.leave();
        }
        let (pipeline, budget, depth) = (self.pipeline, self.budget, self.depth + 1);
        let result = catch_unwind(AssertUnwindSafe(|| {
            pipeline.table_within(Path::new(name), csv, budget, depth)
        }));
        match result {
            Ok(fingerprints) => self.out.members.push(Member {
                name: name.to_string(),
                fingerprints,
            }),
            Err(_) => self.reason(Reason::new(
                "decoder.panic",
                format!("{name}: reading the table failed unexpectedly; it was not examined"),
            )),
        }
        !self.stopped()
    }

    /// Reads the rest of a stream archive after its end marker, which may
    /// only be zero padding; anything else is reported.
    pub fn expect_padding(&mut self, reader: &mut dyn Read, marker: &str) {
        match trailing_nonzero(reader, self.budget) {
            Ok(0) => {}
            Ok(n) => self.reason(Reason::new(
                "container.unaccounted_bytes",
                format!("{n} non-zero bytes after {marker}"),
            )),
            Err(reason) => self.reason(reason),
        }
    }

    /// Reads one member of `size` bytes from a stream archive (cpio, ar,
    /// tar) when `examine`, then skips its unread rest and `pad` bytes of
    /// padding. `false` when the walk must stop (budget, truncation).
    pub fn stream_member(
        &mut self,
        reader: &mut dyn Read,
        name: &str,
        size: u64,
        pad: u64,
        examine: bool,
    ) -> bool {
        let mut rest = size;
        if examine {
            if !self.admit() {
                return false;
            }
            let mut member = (&mut *reader).take(size);
            let checks = Checks {
                size: Some(size),
                ..Checks::default()
            };
            self.member(name, &mut member, checks);
            rest = member.limit();
            if self.stopped() {
                return false;
            }
        }
        match skip_within(reader, rest.saturating_add(pad), self.budget) {
            Ok(true) => true,
            Ok(false) => {
                self.reason(Reason::new(
                    "container.truncated",
                    format!("{name}: the archive ends inside the member"),
                ));
                false
            }
            Err(reason) => {
                self.reason(reason);
                false
            }
        }
    }
}

impl Pipeline {
    /// Opens a container of `kind` held whole in memory.
    pub(crate) fn expand_slice(
        &self,
        name: &str,
        kind: Kind,
        data: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        let mut walk = self.walk(name, budget, depth);
        if let Some(expander) = expander(kind) {
            expander.expand_slice(&mut walk, data);
        }
        walk.out
    }

    /// Opens a streamable container of `kind` from a stream, consuming
    /// what the format needs (the caller drains any rest).
    pub(crate) fn expand_stream<R: Read>(
        &self,
        name: &str,
        kind: Kind,
        reader: &mut R,
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        let mut walk = self.walk(name, budget, depth);
        // A top-level stream is not inside a member's containment: a
        // reader that panics costs this item the rest of its members,
        // never the process.
        let result = catch_unwind(AssertUnwindSafe(|| match expander(kind) {
            Some(expander) if expander.streamable() => expander.expand_stream(&mut walk, reader),
            _ => {}
        }));
        if result.is_err() {
            walk.reason(Reason::new(
                "decoder.panic",
                format!(
                    "the {} reader failed unexpectedly; the rest of the stream was not examined",
                    kind.name()
                ),
            ));
        }
        walk.out
    }

    /// Examines the bytes after a format's logical end as one member named
    /// `trailing`, opened like any other content.
    pub(crate) fn expand_trailing(
        &self,
        name: &str,
        tail: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        self.expand_named(name, TRAILING_MEMBER, tail, budget, depth)
    }

    /// Examines `bytes` as one member named `member` of item `name`
    /// (bytes after a format's end, text a format holds outside its data).
    pub(crate) fn expand_named(
        &self,
        name: &str,
        member: &str,
        bytes: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Expanded {
        let mut walk = self.walk(name, budget, depth);
        walk.member_bytes(member, bytes);
        walk.out
    }

    fn walk<'p>(&'p self, name: &'p str, budget: &'p Budget, depth: u32) -> Walk<'p> {
        Walk {
            pipeline: self,
            budget,
            depth,
            name,
            out: Expanded::default(),
        }
    }
}

/// Reads past `n` bytes nobody examines (the unread tail of a member cut
/// at `max_file_size`), watching the clock. `Ok(false)` if the stream ended.
pub(super) fn skip_within(
    reader: &mut dyn Read,
    mut n: u64,
    budget: &Budget,
) -> Result<bool, Reason> {
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

/// Reads up to a full buffer; returns how many bytes arrived before EOF.
pub(super) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads a stream to its end and counts its non-zero bytes (what follows
/// a tar's end marker should be zero padding).
fn trailing_nonzero(reader: &mut dyn Read, budget: &Budget) -> Result<u64, Reason> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_stop_runs_the_budget_out_at_the_next_member() {
        let stop = StopFlag::new();
        let budget = Budget::new(&Limits::default(), &[StopFlag::new(), stop.clone()]);
        assert!(budget.charge_member().is_ok());
        assert!(budget.charge_bytes(1 << 20).is_ok());
        assert!(!budget.was_cancelled());
        stop.raise();
        assert_eq!(budget.charge_member().unwrap_err().code, CANCELLED);
        assert_eq!(budget.charge_bytes(1).unwrap_err().code, CANCELLED);
        assert!(budget.was_cancelled());
    }
}
