//! How bytes become fingerprints. One [`Pipeline`] serves both directions:
//! the index writer stores what it computes for protected items, the scanner
//! looks up what it computes for outgoing ones.
//!
//! Fingerprinters are pure: bytes in, fingerprints out. Every item gets the
//! byte signals (`exact`, `chunks`); pictures, rasters and telemetry tables
//! get their deep signal by kind family (see [`crate::sniff::Family`]), and
//! archives are opened into members that go through the same pipeline
//! (the `container` module). Kinds without a deep fingerprinter carry the reason code
//! `signal.unavailable.<signal>` so they can never be called clean.

pub mod bytes;
pub mod chunker;
internal_mod!(container);
pub mod image;
mod params;
pub mod raster;
pub mod records;
internal_mod!(structure);

use std::collections::HashMap;
use std::io::{self, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use serde::Serialize;

pub use bytes::{ByteSignals, ChunkFp, ChunkHash, CHUNK_HASH_LEN};
pub use chunker::Chunker;
pub(crate) use container::cancelled;
pub use container::{Limits, Member, MemberCopy, CANCELLED, MAX_CAPTURED_BYTES, MEMBER_SEPARATOR};
pub use params::{FingerprintParams, ParamDifference};

use crate::error::Result;
use crate::progress::StopFlag;
use crate::reason::Reason;
use crate::sniff::{self, Family, Kind, SNIFF_LEN};
use crate::source::{FileContent, MmapChoice};
use container::Budget;

/// Everything computed for one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fingerprints {
    /// Detected content kind.
    pub kind: Kind,
    /// Content length in bytes.
    pub size: u64,
    /// BLAKE3-256 of the whole content.
    #[serde(serialize_with = "digest_hex")]
    pub digest: [u8; 32],
    /// Content-defined chunks in order.
    pub chunks: Vec<ChunkFp>,
    /// The image signal, for pictures that decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<image::ImageFp>,
    /// The raster signal, for rasters that decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raster: Option<raster::RasterFp>,
    /// The records signal, for tables that parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<records::RecordsFp>,
    /// Archive members examined, in archive order, each fingerprinted like a
    /// file (empty for items that are not archives).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// Why the item was not fully fingerprinted; empty when it was.
    pub reasons: Vec<Reason>,
}

fn digest_hex<S: serde::Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&bytes::hex(d))
}

impl Fingerprints {
    /// Whether every signal that applies to this kind ran to the end, in
    /// this item and in every archive member inside it.
    pub fn is_complete(&self) -> bool {
        self.reasons.is_empty() && self.members.iter().all(|m| m.fingerprints.is_complete())
    }

    /// Calls `f` with every archive member at any depth and its full name
    /// relative to this item (`dir/inner.zip!file.csv`).
    pub fn visit_members(&self, f: &mut dyn FnMut(&str, &Fingerprints)) {
        fn walk(prefix: &str, fp: &Fingerprints, f: &mut dyn FnMut(&str, &Fingerprints)) {
            for m in &fp.members {
                let name = if prefix.is_empty() {
                    m.name.clone()
                } else {
                    format!("{prefix}{MEMBER_SEPARATOR}{}", m.name)
                };
                f(&name, &m.fingerprints);
                walk(&name, &m.fingerprints, f);
            }
        }
        walk("", self, f)
    }

    /// Bytes in chunks that can match (all but trivial chunks).
    pub fn matchable_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .filter(|c| !c.trivial)
            .map(|c| c.len as u64)
            .sum()
    }
}

/// The fingerprinters for one parameter set, ready to run on any number of
/// items from any number of threads.
#[derive(Clone, Debug)]
pub struct Pipeline {
    params: FingerprintParams,
    chunker: Chunker,
    protected: bool,
    /// Which raster window anchors to keep: what an index stores, or
    /// every informative block (optionally only those an index may hold).
    raster_anchors: raster::AnchorChoice,
    limits: Limits,
    /// Flags that cancel an item's fingerprinting part-way when raised.
    stops: Vec<StopFlag>,
}

impl Pipeline {
    /// Builds the pipeline after validating `params`.
    pub fn new(params: FingerprintParams) -> Result<Pipeline> {
        params.validate()?;
        let chunker = Chunker::new(&params);
        Ok(Pipeline {
            params,
            chunker,
            protected: false,
            raster_anchors: raster::AnchorChoice::Every(None),
            limits: Limits::default(),
            stops: Vec::new(),
        })
    }

    /// The same pipeline for protected items: pictures get the one-side
    /// crops the index stores instead of the turned copies a query looks
    /// up, and rasters the cover of anchors an index stores instead of every
    /// block a query looks up.
    pub fn for_protected(mut self) -> Pipeline {
        self.protected = true;
        self.raster_anchors = raster::AnchorChoice::Stored;
        self
    }

    /// The same (outgoing) pipeline keeping only the raster blocks
    /// `filter` says an index may hold: without one, an outgoing raster
    /// keeps every informative block, up to
    /// a bounded number a band (past it the
    /// raster is incomplete).
    pub fn with_anchor_filter(
        mut self,
        filter: std::sync::Arc<dyn raster::AnchorFilter>,
    ) -> Pipeline {
        if !self.protected {
            self.raster_anchors = raster::AnchorChoice::Every(Some(filter));
        }
        self
    }

    /// The same pipeline with other budgets for archives.
    pub fn with_limits(mut self, limits: Limits) -> Pipeline {
        self.limits = limits;
        self
    }

    /// The same pipeline, also cancelled by `stop`: once it is raised, work
    /// on an item stops at the next archive member or stream read, and the
    /// item carries the reason `scan.cancelled` (it was not fully
    /// examined).
    pub fn with_stop(mut self, stop: StopFlag) -> Pipeline {
        self.stops.push(stop);
        self
    }

    /// Whether one of the pipeline's stop flags is raised.
    pub(crate) fn stopped(&self) -> bool {
        self.stops.iter().any(StopFlag::is_raised)
    }

    /// The budgets archives are opened within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The parameters this pipeline fingerprints with.
    pub fn params(&self) -> &FingerprintParams {
        &self.params
    }

    /// Fingerprints content held in memory; `name` only helps sniffing.
    pub fn fingerprint_bytes(&self, name: Option<&Path>, data: &[u8]) -> Fingerprints {
        let budget = Budget::new(&self.limits, &self.stops);
        let mut fp = self.bytes_within(name, data, &budget, 0);
        note_cancelled(&mut fp, &budget, false);
        fp
    }

    /// The content of some members of an item held in memory, read again
    /// the way fingerprinting reads them (same readers, same limits, one
    /// walk): each of `wanted` is a member's path inside the item as
    /// reports name it (`dir/a.tar!logs/b.csv`, what follows the item's own
    /// path and the first [`MEMBER_SEPARATOR`]). Members the walk does not
    /// reach are missing from the result (also those after a reader fails
    /// on the item); a path two members share is [`MemberCopy::Ambiguous`].
    pub fn members_content(
        &self,
        name: Option<&Path>,
        data: &[u8],
        wanted: &[String],
    ) -> HashMap<String, MemberCopy> {
        let budget = Budget::capturing(&self.limits, wanted);
        // As a scan contains a reader that fails on the item: what was
        // captured before stands, nothing else is reached.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            self.bytes_within(name, data, &budget, 0)
        }));
        budget.captured()
    }

    /// [`fingerprint_bytes`](Self::fingerprint_bytes) for an item `depth`
    /// archives deep, charging `budget`.
    fn bytes_within(
        &self,
        name: Option<&Path>,
        data: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Fingerprints {
        let signals = bytes::from_slice(&self.chunker, self.params.trivial_period_max, data);
        let kind = sniff::sniff(&data[..data.len().min(SNIFF_LEN)], name);
        self.finish(name, kind, signals, Some(data), budget, depth)
    }

    /// Fingerprints a table rendered from a document (a sheet, a docx
    /// table) as the records signal's input: its kind is known, not sniffed.
    pub(crate) fn table_within(
        &self,
        name: &Path,
        csv: &[u8],
        budget: &Budget,
        depth: u32,
    ) -> Fingerprints {
        let signals = bytes::from_slice(&self.chunker, self.params.trivial_period_max, csv);
        self.finish(Some(name), Kind::Table, signals, Some(csv), budget, depth)
    }

    /// Fingerprints a stream. Byte signals run in bounded memory; kinds
    /// whose deep signal parses the whole item (pictures, rasters) are
    /// buffered up to [`MAX_BUFFERED_DEEP`] bytes, beyond which the item is
    /// `incomplete` (`limits.deep_bytes`). The result equals
    /// [`fingerprint_bytes`](Self::fingerprint_bytes) on the same bytes; an
    /// I/O error part-way is returned as such (the item was not examined).
    pub fn fingerprint_reader<R: Read>(
        &self,
        name: Option<&Path>,
        reader: R,
    ) -> io::Result<Fingerprints> {
        let budget = Budget::new(&self.limits, &self.stops);
        if self.stops.is_empty() {
            return self.reader_within(name, reader, &budget, 0);
        }
        let mut stoppable = Stoppable {
            inner: reader,
            stops: &self.stops,
            cut: false,
        };
        let mut fp = self.reader_within(name, &mut stoppable, &budget, 0)?;
        note_cancelled(&mut fp, &budget, stoppable.cut);
        Ok(fp)
    }

    /// [`fingerprint_reader`](Self::fingerprint_reader) for an item `depth`
    /// archives deep, charging `budget`.
    pub(crate) fn reader_within<R: Read>(
        &self,
        name: Option<&Path>,
        mut reader: R,
        budget: &Budget,
        depth: u32,
    ) -> io::Result<Fingerprints> {
        let mut head = Vec::with_capacity(SNIFF_LEN);
        (&mut reader)
            .take(SNIFF_LEN as u64)
            .read_to_end(&mut head)?;
        let mut kind = sniff::sniff(&head, name);
        if kind == Kind::Binary && head.len() == SNIFF_LEN {
            // An ISO 9660 image is known by a signature at 32 KiB.
            (&mut reader)
                .take(container::ISO_SNIFF_LEN as u64 - head.len() as u64)
                .read_to_end(&mut head)?;
            if container::is_iso_image(&head) {
                kind = Kind::Iso9660;
            }
        }
        let trivial = self.params.trivial_period_max;
        if container::is_streamable(kind) && depth < budget.limits().max_depth {
            let stream = io::Cursor::new(head).chain(reader);
            return self.stream_container(name, kind, stream, budget, depth);
        }
        if matches!(kind, Kind::Table | Kind::Text) {
            (&mut reader)
                .take(MAX_BUFFERED_SMALL + 1 - head.len().min(MAX_BUFFERED_SMALL as usize) as u64)
                .read_to_end(&mut head)?;
            if head.len() as u64 <= MAX_BUFFERED_SMALL {
                return Ok(self.bytes_within(name, &head, budget, depth));
            }
            let mut grid_unread = None;
            if raster::xyz::may_be(&head) {
                // Maybe an XYZ grid: a raster, which the raster reader
                // needs whole; held like other deep kinds.
                (&mut reader)
                    .take(MAX_BUFFERED_DEEP + 1 - head.len() as u64)
                    .read_to_end(&mut head)?;
                if head.len() as u64 <= MAX_BUFFERED_DEEP {
                    return Ok(self.bytes_within(name, &head, budget, depth));
                }
                // The longer start may show it is no grid; if it still
                // may be one, the raster signal did not run on it.
                grid_unread = raster::xyz::may_be(&head).then(|| Reason::new(
                    "limits.deep_bytes",
                    format!(
                        "text longer than {MAX_BUFFERED_DEEP} bytes that may be an XYZ grid: the raster signal needs it whole and did not run"
                    ),
                ));
            }
            let stream = io::Cursor::new(head).chain(reader);
            let mut fp = if kind == Kind::Table {
                self.table_stream(name, stream, budget, depth)?
            } else {
                self.bytes_stream(name, kind, stream, budget, depth)?
            };
            fp.reasons.extend(grid_unread);
            return Ok(fp);
        }
        if !needs_whole_item(kind) {
            // Small opaque items are held whole, as mapped files are, so
            // the checks that need all of them run (a zip with data
            // before it).
            let mut whole = head;
            (&mut reader)
                .take(MAX_BUFFERED_SMALL + 1 - whole.len().min(MAX_BUFFERED_SMALL as usize) as u64)
                .read_to_end(&mut whole)?;
            if whole.len() as u64 <= MAX_BUFFERED_SMALL {
                return Ok(self.bytes_within(name, &whole, budget, depth));
            }
            let stream = io::Cursor::new(whole).chain(reader);
            return self.bytes_stream(name, kind, stream, budget, depth);
        }
        let mut whole = head;
        (&mut reader)
            .take(MAX_BUFFERED_DEEP + 1 - whole.len() as u64)
            .read_to_end(&mut whole)?;
        if whole.len() as u64 <= MAX_BUFFERED_DEEP {
            return Ok(self.bytes_within(name, &whole, budget, depth));
        }
        let signals =
            bytes::from_reader(&self.chunker, trivial, io::Cursor::new(whole).chain(reader))?;
        let mut fp = self.finish(name, kind, signals, None, budget, depth);
        fp.reasons = vec![Reason::new(
            "limits.deep_bytes",
            format!(
                "stream longer than {MAX_BUFFERED_DEEP} bytes: the {} signal needs the whole item in memory; only byte signals ran",
                kind.family().deep_signal().unwrap_or("deep")
            ),
        )];
        Ok(fp)
    }

    /// Fingerprints an item too long to hold whole whose deep signal (if
    /// any) does not run on it, by its byte signals alone in bounded memory.
    /// Opaque content gets the embedded-archive check a mapped item gets in
    /// `structure::check`, on the bytes as they stream past; text gets the
    /// search for where binary data begins.
    fn bytes_stream<R: Read>(
        &self,
        name: Option<&Path>,
        kind: Kind,
        stream: R,
        budget: &Budget,
        depth: u32,
    ) -> io::Result<Fingerprints> {
        let mut scan = structure::EmbeddedZipScan::new(structure::BinaryInTextScan::new(stream));
        let source: &mut dyn Read = if kind == Kind::Binary {
            &mut scan
        } else {
            scan.get_mut()
        };
        let signals = bytes::from_reader(&self.chunker, self.params.trivial_period_max, source)?;
        let binary_at = scan.get_mut().first_binary();
        let mut fp = self.finish(name, kind, signals, None, budget, depth);
        fp.reasons.extend(scan.finding());
        if let Some(at) = binary_at.filter(|_| structure::is_text_kind(kind)) {
            fp.reasons.push(Reason::new(
                "container.unaccounted_bytes",
                format!(
                    "binary data at byte {at} of text too long to hold whole ({MAX_BUFFERED_SMALL} bytes); it was not examined as content of its own"
                ),
            ));
        }
        Ok(fp)
    }

    /// Fingerprints a table too long to hold whole in one pass, in bounded
    /// memory: the records parser reads the stream while every byte it
    /// reads also feeds the byte signals and the search for where binary
    /// data begins. Equals [`bytes_within`](Self::bytes_within) on the same
    /// bytes, except that binary data inside the text is a reason
    /// (`container.unaccounted_bytes`) instead of a member of its own. Not
    /// for what may be an XYZ grid unless it is too long to hold (its raster
    /// signal needs it whole).
    fn table_stream<R: Read>(
        &self,
        name: Option<&Path>,
        reader: R,
        budget: &Budget,
        depth: u32,
    ) -> io::Result<Fingerprints> {
        let mut signals = bytes::StreamSignals::new(&self.chunker, self.params.trivial_period_max);
        let mut text = structure::BinaryInTextScan::new(reader);
        let mut tee = Tee {
            inner: &mut text,
            sink: &mut signals,
        };
        // A parser that panics on hostile input costs the item its
        // records, never its byte signals or the process.
        let parsed = catch_unwind(AssertUnwindSafe(|| records::table_from_reader(&mut tee)));
        io::copy(&mut tee, &mut io::sink())?;
        let (records, cut) = match parsed {
            Ok(read) => {
                let (records, cut) = read?;
                (Some(records), cut)
            }
            Err(_) => (
                None,
                Some(Reason::new(
                    "decoder.panic",
                    "the records parser failed unexpectedly on this content; only byte signals ran",
                )),
            ),
        };
        let binary_at = text.first_binary();
        let mut fp = self.finish_with(
            name,
            Kind::Table,
            signals.finish(),
            None,
            records,
            budget,
            depth,
        );
        fp.reasons.extend(cut);
        if let Some(at) = binary_at {
            fp.reasons.push(Reason::new(
                "container.unaccounted_bytes",
                format!(
                    "binary data at byte {at} of text too long to hold whole ({MAX_BUFFERED_SMALL} bytes); it was not examined as content of its own"
                ),
            ));
        }
        Ok(fp)
    }

    /// Fingerprints a tar or gzip stream in one pass: the archive parser
    /// reads the stream while every byte it reads also feeds the byte
    /// signals; bytes after the archive's end are read for them too.
    fn stream_container<R: Read>(
        &self,
        name: Option<&Path>,
        kind: Kind,
        reader: R,
        budget: &Budget,
        depth: u32,
    ) -> io::Result<Fingerprints> {
        let mut signals = bytes::StreamSignals::new(&self.chunker, self.params.trivial_period_max);
        let mut tee = Tee {
            inner: reader,
            sink: &mut signals,
        };
        let shown = display_name(name);
        let expanded = self.expand_stream(&shown, kind, &mut tee, budget, depth);
        io::copy(&mut tee, &mut io::sink())?;
        let signals = signals.finish();
        let mut fp = self.finish(name, kind, signals, None, budget, depth);
        fp.members = expanded.members;
        fp.reasons.extend(expanded.reasons);
        Ok(fp)
    }

    /// Fingerprints a file, mapped, read or streamed as `mmap` allows.
    pub fn fingerprint_file(&self, path: &Path, mmap: MmapChoice) -> io::Result<Fingerprints> {
        match FileContent::open(path, mmap)? {
            FileContent::Stream(mut file) => {
                if mmap == MmapChoice::Auto {
                    if let Some(fp) = self.opaque_file_in_windows(path, &mut file)? {
                        return Ok(fp);
                    }
                }
                // A zip keeps its directory at its end, so a zip too large
                // to buffer is mapped whole (when mapping is allowed): its
                // members are read in place. Touched pages count as
                // resident memory but are the page cache's to reclaim.
                if mmap == MmapChoice::Auto && starts_like_zip(&mut file, path)? {
                    if let Ok(map) = crate::source::mmap::Mapping::of_file(&file) {
                        return Ok(self.fingerprint_bytes(Some(path), &map));
                    }
                }
                let mut fp = self.fingerprint_reader(Some(path), file)?;
                if is_envi_raw(fp.kind) && raster::envi::header_beside(path).is_some() {
                    // An ENVI raw file too large to buffer is read again,
                    // mapped (or read whole when mapping is off and it is
                    // within the sample budget).
                    let file = std::fs::File::open(path)?;
                    match crate::source::mmap::Mapping::of_file(&file) {
                        Ok(map) if mmap == MmapChoice::Auto => {
                            self.envi_beside(&mut fp, path, &map)
                        }
                        _ if file.metadata()?.len() > MAX_RASTER_SAMPLES * 8 => {
                            let e = raster::GridError::TooLarge(file.metadata()?.len() / 8);
                            fp.reasons.push(Reason::new(e.code(), e.detail()));
                        }
                        _ => self.envi_beside(&mut fp, path, &std::fs::read(path)?),
                    }
                }
                Ok(fp)
            }
            content => {
                let data = content.as_slice().unwrap_or_default();
                let mut fp = self.fingerprint_bytes(Some(path), data);
                self.envi_beside(&mut fp, path, data);
                Ok(fp)
            }
        }
    }

    /// A file too large to map whole whose content is opaque (no format
    /// recognised, the common case for huge files), fingerprinted by
    /// mapping it a window at a time: no copy out of the page cache, all of
    /// the pool's threads at work, memory at one window. The result equals
    /// [`fingerprint_reader`](Self::fingerprint_reader)'s on the same file.
    /// `None` (the file rewound) for anything else, which is streamed.
    fn opaque_file_in_windows(
        &self,
        path: &Path,
        file: &mut std::fs::File,
    ) -> io::Result<Option<Fingerprints>> {
        use std::io::{Seek, SeekFrom};
        let len = file.metadata()?.len();
        let mut head = Vec::with_capacity(container::ISO_SNIFF_LEN);
        (&mut *file)
            .take(container::ISO_SNIFF_LEN as u64)
            .read_to_end(&mut head)?;
        file.seek(SeekFrom::Start(0))?;
        let kind = sniff::sniff(&head[..head.len().min(SNIFF_LEN)], Some(path));
        // An ENVI raw file with its header beside it is a raster: read as
        // before.
        if kind != Kind::Binary
            || container::is_iso_image(&head)
            || len <= MAX_BUFFERED_SMALL
            || raster::envi::header_beside(path).is_some()
        {
            return Ok(None);
        }
        let budget = Budget::new(&self.limits, &self.stops);
        let mut scan = structure::EmbeddedZipScan::new(io::empty());
        let cut = std::cell::Cell::new(false);
        let signals = match bytes::from_file_windows(
            &self.chunker,
            self.params.trivial_period_max,
            file,
            len,
            bytes::FILE_WINDOW,
            &mut |fresh| scan.scan(fresh),
            &|| {
                let stop = self.stops.iter().any(StopFlag::is_raised);
                cut.set(cut.get() || stop);
                stop
            },
        )? {
            Some(signals) => signals,
            // Not mappable here: streamed as before.
            None => return Ok(None),
        };
        let mut fp = self.finish(Some(path), kind, signals, None, &budget, 0);
        fp.reasons.extend(scan.finding());
        note_cancelled(&mut fp, &budget, cut.get());
        Ok(Some(fp))
    }

    /// Decodes a raw file on disk as an ENVI raster when its header lies
    /// beside it (see [`raster::envi`]).
    fn envi_beside(&self, fp: &mut Fingerprints, path: &Path, data: &[u8]) {
        if !is_envi_raw(fp.kind) || fp.raster.is_some() {
            return;
        }
        let Some((header_path, text)) = raster::envi::header_beside(path) else {
            return;
        };
        let decoded = raster::envi::parse_header(&text)
            .and_then(|h| raster::envi::read(data, &h, raster::MAX_IN_MEMORY_SAMPLES));
        match decoded {
            Ok((grid, trailing)) => {
                let mut r = raster::fingerprint_grid(&grid, &self.params, &self.raster_anchors);
                r.source = Some(format!("ENVI header {}", header_path.display()));
                if !r.unexamined.is_empty() {
                    fp.reasons.push(Reason::new(
                        "raster.unsupported.envi",
                        format!("not examined: {}", r.unexamined.join(", ")),
                    ));
                }
                fp.raster = Some(r);
                if trailing > 0 {
                    fp.reasons.push(Reason::new(
                        "raster.unsupported.envi",
                        format!(
                            "{trailing} bytes beside the samples {} declares (before its offset or after its bands) were not read as samples",
                            header_path.display()
                        ),
                    ));
                }
            }
            Err(e) => fp.reasons.push(Reason::new(e.code(), e.detail())),
        }
    }

    /// Runs the deep fingerprinter of the kind's family on `data` (absent
    /// for streamed items whose kind needs none) and assembles the result.
    fn finish(
        &self,
        name: Option<&Path>,
        kind: Kind,
        signals: ByteSignals,
        data: Option<&[u8]>,
        budget: &Budget,
        depth: u32,
    ) -> Fingerprints {
        self.finish_with(name, kind, signals, data, None, budget, depth)
    }

    /// [`finish`](Self::finish) for an item whose records were already read
    /// from its stream (`streamed_records`).
    #[allow(clippy::too_many_arguments)]
    fn finish_with(
        &self,
        name: Option<&Path>,
        kind: Kind,
        signals: ByteSignals,
        data: Option<&[u8]>,
        streamed_records: Option<records::RecordsFp>,
        budget: &Budget,
        depth: u32,
    ) -> Fingerprints {
        let mut fp = Fingerprints {
            kind,
            size: signals.size,
            digest: signals.digest,
            chunks: signals.chunks,
            image: None,
            raster: None,
            records: streamed_records,
            members: Vec::new(),
            reasons: Vec::new(),
        };
        // A decoder that panics on hostile input costs this item its deep
        // signals, never the process or other items.
        let deep = catch_unwind(AssertUnwindSafe(|| {
            self.deep_signals(&mut fp, name, data, budget, depth)
        }));
        if deep.is_err() {
            fp.image = None;
            fp.raster = None;
            fp.records = None;
            fp.members.clear();
            fp.reasons.push(Reason::new(
                "decoder.panic",
                "a decoder failed unexpectedly on this content; only byte signals ran",
            ));
        }
        fp
    }

    /// Fills in the deep signals of `fp` (whose kind and byte signals are
    /// set) from `data`; `data` is absent for streamed items.
    fn deep_signals(
        &self,
        fp: &mut Fingerprints,
        name: Option<&Path>,
        data: Option<&[u8]>,
        budget: &Budget,
        depth: u32,
    ) {
        let kind = fp.kind;
        let reasons = &mut fp.reasons;
        // A TIFF is a raster; one without GeoTIFF tags and with 8-bit
        // samples is also a picture, so both signals run on it and either
        // may answer (a picture need not decode as a sample grid).
        let photo_tiff = kind == Kind::Tiff && data.is_some_and(image::tiff_is_photo);
        // A 16-bit PNG (an elevation model exported as PNG) is also a
        // raster: both signals run on it.
        let raster_png = kind == Kind::Png && data.is_some_and(raster::png16::is_png16);
        // Text that starts like an XYZ grid is tried as a raster; text that
        // turns out not to be a regular grid (scattered points) stays text.
        let xyz_text =
            matches!(kind, Kind::Text | Kind::Table) && data.is_some_and(raster::xyz::looks_like);
        let family = kind.family();
        match data {
            Some(d) if family == Family::Image || photo_tiff => {
                match image::fingerprint(d, kind, &self.params, self.protected) {
                    Ok(image) => fp.image = Some(image),
                    Err(e) => reasons.push(Reason::new(e.code(), e.detail())),
                }
            }
            _ => {}
        }
        // A NetCDF / HDF5 station series (1-D variables along one
        // dimension) is a table for the records signal; a grid in the same
        // file is still a raster. The file is opened once for both.
        // Whether the file already gave a reason for what it holds.
        let mut series_failed = false;
        let scientific = match (kind, data) {
            (Kind::NetCdf | Kind::Hdf5, Some(d)) => {
                let raster::Scientific {
                    series,
                    raster,
                    unread,
                    texts,
                } = raster::scientific(
                    d,
                    kind,
                    &self.params,
                    &self.raster_anchors,
                    MAX_RASTER_SAMPLES,
                );
                // Long text outside the data (attributes, scalar strings)
                // is examined as members `text/<name>`.
                if !texts.is_empty() && depth >= budget.limits().max_depth {
                    reasons.push(Reason::new(
                        "limits.max_depth",
                        format!(
                            "content nested {depth} deep; its text attributes were not examined"
                        ),
                    ));
                } else {
                    let shown = display_name(name);
                    for (text_name, text) in &texts {
                        let expanded = self.expand_named(
                            &shown,
                            &format!("text/{text_name}"),
                            text.as_bytes(),
                            budget,
                            depth,
                        );
                        fp.members.extend(expanded.members);
                        reasons.extend(expanded.reasons);
                    }
                }
                match series {
                    Ok(table) => {
                        if let Some(table) = table {
                            fp.records = Some(records::fingerprint_rows(
                                &table.rows,
                                &table.describe(kind.name()),
                            ));
                        }
                        if !unread.is_empty() {
                            series_failed = true;
                            reasons.push(Reason::new(
                                format!("raster.unsupported.{}", kind.name()),
                                format!(
                                    "variables neither the grid nor the series read: {}",
                                    unread.join(", ")
                                ),
                            ));
                        }
                    }
                    // One failure to open is one reason (the raster's).
                    Err(e) if raster.as_ref().err() == Some(&e) => {}
                    Err(e) => {
                        reasons.push(Reason::new(e.code(), e.detail()));
                        series_failed = true;
                    }
                }
                Some(raster)
            }
            _ => None,
        };
        let series = fp.records.is_some();
        match data {
            Some(d) if xyz_text => match raster::xyz::read(d, raster::MAX_IN_MEMORY_SAMPLES) {
                Ok(xyz) => {
                    let raster =
                        raster::fingerprint_grid(&xyz.grid, &self.params, &self.raster_anchors);
                    if !raster.unexamined.is_empty() {
                        reasons.push(Reason::new(
                            "raster.unsupported.xyz",
                            format!("not examined: {}", raster.unexamined.join(", ")),
                        ));
                    }
                    fp.raster = Some(raster);
                    if let Some(rest) = xyz.rest_unread {
                        reasons.push(Reason::new(
                            "raster.decode_failed",
                            format!(
                                "an XYZ grid read for {} rows; the rest is not a regular grid ({rest})",
                                xyz.grid.height
                            ),
                        ));
                    }
                }
                // Fewer than two regular rows: not a grid, and as text it
                // is fully examined.
                Err(raster::GridError::Malformed(_)) => {}
                Err(e) => reasons.push(Reason::new(e.code(), e.detail())),
            },
            Some(d) if family == Family::Raster || raster_png => {
                let raster = scientific.unwrap_or_else(|| {
                    raster::fingerprint(
                        d,
                        kind,
                        &self.params,
                        &self.raster_anchors,
                        MAX_RASTER_SAMPLES,
                    )
                });
                match raster {
                    Ok(raster) => {
                        if !raster.unexamined.is_empty() {
                            reasons.push(Reason::new(
                                format!("raster.unsupported.{}", kind.name()),
                                format!(
                                    "parts of the raster were not examined: {}",
                                    raster.unexamined.join(", ")
                                ),
                            ));
                        }
                        fp.raster = Some(raster);
                    }
                    // A series file with no grid in it is fully read (or
                    // its series already gave the reason).
                    Err(raster::GridError::UnsupportedFormat(_)) if series || series_failed => {}
                    Err(e) if !((photo_tiff || raster_png) && fp.image.is_some()) => {
                        reasons.push(Reason::new(e.code(), e.detail()))
                    }
                    Err(_) => {}
                }
            }
            _ => {}
        }
        match data {
            Some(d) if family == Family::Telemetry => match records::fingerprint(kind, d) {
                Ok((records, cut)) => {
                    fp.records = Some(records);
                    reasons.extend(cut);
                }
                Err(e) => reasons.push(Reason::new(e.code(), e.detail())),
            },
            _ => {}
        }
        let mut handled = match family {
            Family::Image | Family::Raster => data.is_some(),
            Family::Telemetry => data.is_some() || fp.records.is_some(),
            Family::Bytes => true,
            Family::Container => false,
        };
        // Opaque bytes that end in a zip directory are a zip with data
        // prepended (self-extractors, polyglots).
        if let Some(d) = data {
            if kind == Kind::Binary && container::has_zip_directory(d) {
                fp.kind = Kind::Zip;
            } else if kind == Kind::Binary && container::is_iso_image(d) {
                fp.kind = Kind::Iso9660;
            }
        }
        let kind = fp.kind;
        if let Some(d) = data {
            reasons.extend(structure::check(kind, d));
            // Bytes after the format's own end (an archive appended to a
            // picture or to text, a second image) are a member of their own.
            match structure::tail(kind, d) {
                structure::Tail::None => {}
                // A damaged picture already says so; otherwise the lost
                // end is the reason.
                structure::Tail::Unlocated(reason) if reasons.is_empty() => reasons.push(reason),
                structure::Tail::Unlocated(_) => {}
                structure::Tail::At(_) if depth >= budget.limits().max_depth => {
                    reasons.push(Reason::new(
                        "limits.max_depth",
                        format!(
                            "content nested {depth} deep (limit {}); the bytes after this item's end were not examined",
                            budget.limits().max_depth
                        ),
                    ))
                }
                structure::Tail::At(end) => {
                    let shown = display_name(name);
                    let expanded = self.expand_trailing(&shown, &d[end..], budget, depth);
                    fp.members.extend(expanded.members);
                    reasons.extend(expanded.reasons);
                }
            }
        }
        if container::is_supported(kind) {
            // Streamed tar and gzip are opened by `stream_container`.
            handled = data.is_some() || container::is_streamable(kind);
            if depth >= budget.limits().max_depth {
                reasons.push(Reason::new(
                    "limits.max_depth",
                    format!(
                        "archive nested {depth} deep (limit {}); its members were not examined",
                        budget.limits().max_depth
                    ),
                ));
            } else if let Some(d) = data {
                let expanded = self.expand_slice(&display_name(name), kind, d, budget, depth);
                fp.members.extend(expanded.members);
                reasons.extend(expanded.reasons);
            }
        }
        if !handled {
            if family == Family::Container {
                reasons.push(container::unsupported(kind));
            } else if let Some(signal) = family.deep_signal() {
                reasons.push(Reason::signal_unavailable(signal, kind));
            }
        }
    }
}

/// Whether a file starts with a zip member header or is named `.zip`; the
/// file is left at its start.
fn starts_like_zip(file: &mut std::fs::File, path: &Path) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut head = [0u8; 4];
    let n = file.read(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    Ok(named || (n == 4 && &head == b"PK\x03\x04"))
}

/// The wyhash family's mixing step: the 128-bit product of two words folded
/// to 64 bits. The fast, non-cryptographic hashes of small pieces (telemetry
/// fields and records) are built from it.
pub(crate) fn fold_multiply(a: u64, b: u64) -> u64 {
    let m = (a as u128) * (b as u128);
    (m as u64) ^ ((m >> 64) as u64)
}

/// An item's name for messages and derived member names.
fn display_name(name: Option<&Path>) -> String {
    name.map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Files `scan.cancelled` on a top-level item when a raised stop cut its
/// work short (seen by the budget, or the stream `cut`), unless it is
/// there already: deeper code may have filed what it saw under another
/// reason (a truncated member, an unexamined part).
fn note_cancelled(fp: &mut Fingerprints, budget: &Budget, cut: bool) {
    if (cut || budget.was_cancelled()) && !fp.reasons.iter().any(|r| r.code == CANCELLED) {
        fp.reasons.push(container::cancelled());
    }
}

/// A reader that ends early, noting it, once a stop flag is raised.
struct Stoppable<'s, R> {
    inner: R,
    stops: &'s [StopFlag],
    /// Whether it ended because of a stop (the rest was not read).
    cut: bool,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stops.iter().any(StopFlag::is_raised) {
            self.cut = true;
            return Ok(0);
        }
        self.inner.read(buf)
    }
}

/// Feeds every byte an archive parser reads into the byte signals.
struct Tee<'s, 'c, R> {
    inner: R,
    sink: &'s mut bytes::StreamSignals<'c>,
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.update(&buf[..n]);
        Ok(n)
    }
}

/// Largest raster fingerprinted (width x height x bands samples, 256 Mi);
/// larger ones are `incomplete` (`limits.raster_samples`). Decoding streams
/// one block of rows at a time; what grows with the raster is the list of
/// window anchors (about one 24-byte anchor per 625 samples on the
/// protected side; on the outgoing side, the blocks an index may hold).
pub const MAX_RASTER_SAMPLES: u64 = 256 << 20;

/// Whether a file of `kind` may be the raw samples of an ENVI raster (raw
/// samples sniff as opaque bytes, or as text when they happen to be
/// printable).
fn is_envi_raw(kind: Kind) -> bool {
    matches!(kind, Kind::Binary | Kind::Text)
}

/// Bytes of a stream held whole although no deep signal needs it, so the
/// structural checks on whole items apply (16 MiB); longer streams are
/// examined as they pass.
pub const MAX_BUFFERED_SMALL: u64 = 16 << 20;

/// Bytes of a stream buffered for a deep fingerprinter that parses whole
/// items (256 MiB).
pub const MAX_BUFFERED_DEEP: u64 = 256 << 20;

/// Whether the deep signal for `kind` needs the whole item in memory.
fn needs_whole_item(kind: Kind) -> bool {
    container::expander(kind).is_some_and(|e| !e.streamable())
        || matches!(
            kind.family(),
            Family::Image | Family::Raster | Family::Telemetry
        )
}
