//! Structural checks that find what decoders pass over. A decoder reads the
//! pixels, samples or rows a signal needs and skips the rest; content can
//! hide in the rest (further frames, compressed metadata, data announced
//! past the end, an archive inside opaque bytes, XML entities that expand
//! to text the file does not literally hold). Each check walks the format's
//! block structure, bounded by the item's length, and names what was not
//! examined so the item is `incomplete` instead of clean.

use crate::reason::Reason;
use crate::sniff::Kind;

/// Findings for one item held in memory.
pub fn check(kind: Kind, data: &[u8]) -> Vec<Reason> {
    let mut out = Vec::new();
    match kind {
        Kind::Png => png(data, &mut out),
        Kind::Gif => gif(data, &mut out),
        Kind::Webp => webp(data, &mut out),
        Kind::Jpeg => jpeg(data, &mut out),
        Kind::Tiff => {
            tiff(data, &mut out);
            // A TIFF's end is its last referenced byte, which is not
            // tracked: an archive appended to it is at least reported.
            embedded_zip(data, &mut out);
        }
        Kind::Xml | Kind::Gpx => xml(data, &mut out),
        // Opaque bytes, and scientific formats whose readers take what
        // their headers point at (bytes after the end, in gaps, in boxes
        // or local-use sections are not read): an archive inside them is
        // at least reported.
        Kind::Binary | Kind::NetCdf | Kind::Hdf5 | Kind::Grib | Kind::Jpeg2000 | Kind::Hfa => {
            embedded_zip(data, &mut out)
        }
        _ => {}
    }
    out
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// PNG: compressed text chunks (`zTXt`, compressed `iTXt`) are never
/// inflated, so their content is unexamined (and is a known
/// decompression-bomb carrier).
fn png(d: &[u8], out: &mut Vec<Reason>) {
    let mut at = 8;
    let mut compressed_text = 0u32;
    while let Some(len) = be32(d, at) {
        let Some(kind) = d.get(at + 4..at + 8) else {
            break;
        };
        let body = at + 8;
        let Some(end) = body.checked_add(len as usize).filter(|&e| e <= d.len()) else {
            break;
        };
        match kind {
            b"zTXt" => compressed_text += 1,
            b"iTXt" => {
                // keyword \0 compression-flag ...
                let chunk = &d[body..end];
                if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                    if chunk.get(nul + 1) == Some(&1) {
                        compressed_text += 1;
                    }
                }
            }
            b"IEND" => break,
            _ => {}
        }
        at = end + 4;
    }
    if compressed_text > 0 {
        out.push(Reason::new(
            "image.metadata_unexamined",
            format!("{compressed_text} compressed text chunks (zTXt/iTXt) were not decompressed"),
        ));
    }
}

/// GIF: only the first frame is hashed; frames that reach outside the
/// logical screen are malformed.
fn gif(d: &[u8], out: &mut Vec<Reason>) {
    let le16 = |at: usize| d.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let (Some(screen_w), Some(screen_h), Some(&flags)) = (le16(6), le16(8), d.get(10)) else {
        return;
    };
    let mut at = 13;
    if flags & 0x80 != 0 {
        at += 3 << ((flags & 7) + 1);
    }
    let mut frames = 0u32;
    let mut outside = 0u32;
    let skip_blocks = |at: usize| gif_skip_blocks(d, at);
    loop {
        match d.get(at) {
            Some(0x2C) => {
                let (Some(x), Some(y), Some(w), Some(h), Some(&f)) = (
                    le16(at + 1),
                    le16(at + 3),
                    le16(at + 5),
                    le16(at + 7),
                    d.get(at + 9),
                ) else {
                    break;
                };
                frames += 1;
                if x as u32 + w as u32 > screen_w as u32 || y as u32 + h as u32 > screen_h as u32 {
                    outside += 1;
                }
                at += 10;
                if f & 0x80 != 0 {
                    at += 3 << ((f & 7) + 1);
                }
                at += 1; // LZW minimum code size
                match skip_blocks(at) {
                    Some(next) => at = next,
                    None => break,
                }
            }
            Some(0x21) => match skip_blocks(at + 2) {
                Some(next) => at = next,
                None => break,
            },
            _ => break,
        }
    }
    if frames > 1 {
        out.push(Reason::new(
            "image.frames_unexamined",
            format!("{frames} frames; only the first was hashed"),
        ));
    }
    if outside > 0 {
        out.push(Reason::new(
            "image.malformed",
            format!("{outside} frames reach outside the {screen_w}x{screen_h} logical screen"),
        ));
    }
}

/// WebP: only the first frame of an animation is hashed.
fn webp(d: &[u8], out: &mut Vec<Reason>) {
    let mut at = 12;
    let mut frames = 0u32;
    while let Some(size) = d
        .get(at + 4..at + 8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    {
        if &d[at..at + 4] == b"ANMF" {
            frames += 1;
        }
        let Some(next) = (at + 8).checked_add(size + size % 2) else {
            break;
        };
        at = next;
    }
    if frames > 1 {
        out.push(Reason::new(
            "image.frames_unexamined",
            format!("{frames} animation frames; only the first was hashed"),
        ));
    }
}

/// JPEG: an EXIF block whose TIFF structure does not hold together.
fn jpeg(d: &[u8], out: &mut Vec<Reason>) {
    let mut at = 2;
    while at + 4 <= d.len() && d[at] == 0xFF {
        let marker = d[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) || marker == 0xFF {
            at += if marker == 0xFF { 1 } else { 2 };
            continue;
        }
        let len = u16::from_be_bytes([d[at + 2], d[at + 3]]) as usize;
        let Some(segment) = d.get(at + 4..(at + 2 + len).max(at + 4)) else {
            break;
        };
        if marker == 0xE1 && segment.starts_with(b"Exif\0\0") {
            if let Err(detail) = exif_ok(&segment[6..]) {
                out.push(Reason::new(
                    "image.metadata_malformed",
                    format!("EXIF block: {detail}"),
                ));
            }
        }
        at += 2 + len;
    }
}

fn exif_ok(t: &[u8]) -> Result<(), String> {
    let big = match t.get(..2) {
        Some(b"II") => false,
        Some(b"MM") => true,
        _ => return Err("no byte-order mark".into()),
    };
    let u16_at = |at: usize| {
        t.get(at..at + 2).map(|b| {
            let a = [b[0], b[1]];
            if big {
                u16::from_be_bytes(a)
            } else {
                u16::from_le_bytes(a)
            }
        })
    };
    let u32_at = |at: usize| {
        t.get(at..at + 4).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        })
    };
    if u16_at(2) != Some(42) {
        return Err("bad TIFF magic".into());
    }
    let ifd = u32_at(4).unwrap_or(u32::MAX) as usize;
    let count = u16_at(ifd).ok_or("first directory out of bounds")? as usize;
    if ifd + 2 + 12 * count > t.len() {
        return Err("first directory runs past the block".into());
    }
    Ok(())
}

/// TIFF: strips or tiles announced past the end of the file, and pages
/// that are not reduced-resolution copies or masks of the first (only the
/// first page is examined).
fn tiff(d: &[u8], out: &mut Vec<Reason>) {
    let Some(t) = Tiff::new(d) else {
        return;
    };
    let mut next = t.first_ifd();
    let mut seen = Vec::new();
    let mut pages = 0u32;
    let mut past_end = false;
    while let Some(ifd) = next.filter(|&o| o != 0) {
        if seen.contains(&ifd) || seen.len() >= 256 {
            break;
        }
        seen.push(ifd);
        let Some(entries) = t.entries(ifd) else {
            break;
        };
        let mut subfile = 0u64;
        let (mut offsets, mut counts) = (Vec::new(), Vec::new());
        // Chunk tables matter for the first image only, and are read once
        // each: an IFD repeating a million-value tag must not cost its
        // count times the number of entries.
        let first = seen.len() == 1;
        for e in &entries {
            match e.tag {
                254 => subfile = t.values(e, 1).first().copied().unwrap_or(0),
                273 | 324 if first && offsets.is_empty() => offsets = t.values(e, 1 << 20),
                279 | 325 if first && counts.is_empty() => counts = t.values(e, 1 << 20),
                _ => {}
            }
        }
        if seen.len() == 1 || subfile & 0b101 == 0 {
            pages += 1;
        }
        if seen.len() == 1 {
            past_end = offsets
                .iter()
                .zip(&counts)
                .any(|(&o, &c)| o.saturating_add(c) > d.len() as u64);
        }
        next = t.next_ifd(ifd, entries.len());
    }
    if past_end {
        out.push(Reason::new(
            "raster.malformed",
            "strip or tile byte counts reach past the end of the file",
        ));
    }
    if pages > 1 {
        out.push(Reason::new(
            "image.frames_unexamined",
            format!("{pages} pages; only the first was examined"),
        ));
    }
}

struct Entry {
    tag: u16,
    kind: u16,
    count: u64,
    /// Where the value (or its offset) is stored.
    at: usize,
}

struct Tiff<'a> {
    d: &'a [u8],
    big_endian: bool,
    big_tiff: bool,
}

impl<'a> Tiff<'a> {
    fn new(d: &'a [u8]) -> Option<Tiff<'a>> {
        let big_endian = match d.get(..2)? {
            b"II" => false,
            b"MM" => true,
            _ => return None,
        };
        let t = Tiff {
            d,
            big_endian,
            big_tiff: false,
        };
        let big_tiff = match t.uint(2, 2)? {
            42 => false,
            43 => true,
            _ => return None,
        };
        Some(Tiff { big_tiff, ..t })
    }

    fn uint(&self, at: usize, width: usize) -> Option<u64> {
        let b = self.d.get(at..at.checked_add(width)?)?;
        let mut v = 0u64;
        for i in 0..width {
            let byte = if self.big_endian {
                b[i]
            } else {
                b[width - 1 - i]
            };
            v = (v << 8) | byte as u64;
        }
        Some(v)
    }

    fn offset_width(&self) -> usize {
        if self.big_tiff {
            8
        } else {
            4
        }
    }

    fn first_ifd(&self) -> Option<usize> {
        let at = if self.big_tiff { 8 } else { 4 };
        usize::try_from(self.uint(at, self.offset_width())?).ok()
    }

    fn entries(&self, ifd: usize) -> Option<Vec<Entry>> {
        let (count_width, entry_len) = if self.big_tiff { (8, 20) } else { (2, 12) };
        let count = self.uint(ifd, count_width)? as usize;
        let first = ifd + count_width;
        if first.checked_add(count.checked_mul(entry_len)?)? > self.d.len() {
            return None;
        }
        let w = self.offset_width();
        Some(
            (0..count)
                .filter_map(|i| {
                    let e = first + i * entry_len;
                    Some(Entry {
                        tag: self.uint(e, 2)? as u16,
                        kind: self.uint(e + 2, 2)? as u16,
                        count: self.uint(e + 4, w)?,
                        at: e + 4 + w,
                    })
                })
                .collect(),
        )
    }

    fn next_ifd(&self, ifd: usize, entries: usize) -> Option<usize> {
        let (count_width, entry_len) = if self.big_tiff { (8, 20) } else { (2, 12) };
        let at = ifd + count_width + entries * entry_len;
        usize::try_from(self.uint(at, self.offset_width())?).ok()
    }

    /// Unsigned integer values of an entry (SHORT, LONG, LONG8), at most
    /// `max` of them.
    fn values(&self, e: &Entry, max: u64) -> Vec<u64> {
        let width = match e.kind {
            3 => 2,
            4 | 13 => 4,
            16 | 18 => 8,
            _ => return Vec::new(),
        };
        let n = e.count.min(max) as usize;
        let inline = (e.count as usize).saturating_mul(width) <= self.offset_width();
        let base = if inline {
            e.at
        } else {
            match self
                .uint(e.at, self.offset_width())
                .and_then(|o| usize::try_from(o).ok())
            {
                Some(o) => o,
                None => return Vec::new(),
            }
        };
        (0..n)
            .map_while(|i| self.uint(base + i * width, width))
            .collect()
    }
}

/// XML (and GPX): entity declarations are never expanded, so the text they
/// stand for was not examined (and entity tricks are how XML bombs and XXE
/// work).
fn xml(d: &[u8], out: &mut Vec<Reason>) {
    let head = &d[..d.len().min(64 * 1024)];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"<!DOCTYPE") && has(b"<!ENTITY") {
        out.push(Reason::new(
            "xml.entities_unexpanded",
            "the document declares entities; they were not expanded (no DTD processing), so the text they stand for was not examined",
        ));
    }
}

const ZIP_LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";

/// Whether `h` (from a local-header signature on) looks like a real zip
/// member header: a known method and a printable name. `None` when `h` ends
/// before that can be told.
fn zip_header_plausible(h: &[u8]) -> Option<bool> {
    if h.len() < 30 {
        return None;
    }
    let method = u16::from_le_bytes([h[8], h[9]]);
    let name_len = u16::from_le_bytes([h[26], h[27]]) as usize;
    if !matches!(method, 0 | 8 | 9 | 12 | 14 | 93 | 95 | 99) || !(1..=1024).contains(&name_len) {
        return Some(false);
    }
    let name = h.get(30..30 + name_len)?;
    Some(name.iter().all(|&b| (0x20..0x7F).contains(&b) || b >= 0x80))
}

fn embedded_zip_reason(at: u64) -> Reason {
    Reason::new(
        "container.embedded",
        format!(
            "a zip member header at offset {at} inside unrecognised content; it was not examined"
        ),
    )
}

/// Opaque bytes that hold a zip member header after their start: an archive
/// embedded in something else (its members were not examined).
fn embedded_zip(d: &[u8], out: &mut Vec<Reason>) {
    let found = memchr::memmem::find_iter(d, ZIP_LOCAL_SIG)
        .find(|&at| at > 0 && zip_header_plausible(&d[at..]) == Some(true));
    if let Some(at) = found {
        out.push(embedded_zip_reason(at as u64));
    }
}

/// The same check on opaque content read as a stream (items too large to
/// map): every byte read through it is searched. A header cut by a read
/// boundary, whose plausibility cannot be told from the bytes at hand, is
/// reported (fail closed).
pub(crate) struct EmbeddedZipScan<R> {
    inner: R,
    /// Stream offset of the next byte read.
    offset: u64,
    /// The last three bytes read, for signatures across reads.
    last: Vec<u8>,
    found: Option<u64>,
}

impl<R> EmbeddedZipScan<R> {
    /// Scans what `inner` yields.
    pub fn new(inner: R) -> Self {
        EmbeddedZipScan {
            inner,
            offset: 0,
            last: Vec::with_capacity(6),
            found: None,
        }
    }

    /// The stream being scanned, to read past the scan.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The finding, once the stream has been read.
    pub fn finding(&self) -> Option<Reason> {
        self.found.map(embedded_zip_reason)
    }

    /// Searches the next bytes of the stream (what a read would yield).
    pub fn scan(&mut self, data: &[u8]) {
        if self.found.is_some() {
            return;
        }
        // Across the previous read's end.
        let mut joined = std::mem::take(&mut self.last);
        let before = joined.len();
        joined.extend_from_slice(&data[..data.len().min(3)]);
        if let Some(i) = memchr::memmem::find(&joined, ZIP_LOCAL_SIG).filter(|&i| i < before) {
            let at = self.offset - before as u64 + i as u64;
            if at > 0 {
                self.found = Some(at);
            }
        }
        if self.found.is_none() {
            let hit = memchr::memmem::find_iter(data, ZIP_LOCAL_SIG).find(|&i| {
                self.offset + i as u64 > 0 && zip_header_plausible(&data[i..]) != Some(false)
            });
            self.found = hit.map(|i| self.offset + i as u64);
        }
        // Keep the last three bytes of everything read so far.
        if data.len() >= 3 {
            joined.clear();
            joined.extend_from_slice(&data[data.len() - 3..]);
        } else {
            joined.drain(..joined.len().saturating_sub(3));
        }
        self.last = joined;
        self.offset += data.len() as u64;
    }
}

impl<R: std::io::Read> std::io::Read for EmbeddedZipScan<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.found.is_none() && n > 0 {
            self.scan(&buf[..n]);
        }
        Ok(n)
    }
}

/// Where content after an item's own end begins.
pub enum Tail {
    /// Nothing follows the item's end (or only padding).
    None,
    /// Bytes from this offset on follow the item's end: a member of
    /// their own.
    At(usize),
    /// The format has an end but it could not be found: whatever follows
    /// it was not examined as content of its own.
    Unlocated(Reason),
}

/// Finds what follows an item's logical end: for formats with a defined
/// end ([`logical_end`]), the bytes after it; for text, everything from
/// the line holding the first byte that text does not contain (NUL or a
/// control character other than tab, line breaks, form feed, escape and
/// the DOS end-of-file mark), so an archive appended to a log or to prose
/// is examined as one.
pub fn tail(kind: Kind, d: &[u8]) -> Tail {
    match kind {
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Bmp | Kind::Webp | Kind::Pdf => {
            match logical_end(kind, d) {
                Some(end) if end >= d.len() || is_padding(&d[end..]) => Tail::None,
                Some(end) => Tail::At(end),
                None => Tail::Unlocated(Reason::new(
                    "container.unaccounted_bytes",
                    format!(
                        "the end of the {} structure could not be found; bytes after it were not examined as content of their own",
                        kind.name()
                    ),
                )),
            }
        }
        // Text followed by an archive within the first bytes sniffs as
        // binary: the same split applies when an archive's signature is
        // where the text stops.
        Kind::Binary => {
            let Some(at) = first_binary_byte(d) else {
                return Tail::None;
            };
            [at, at.saturating_sub(2)]
                .into_iter()
                .find(|&i| i > 0 && crate::sniff::has_signature(&d[i..d.len().min(i + 64)]))
                .map_or(Tail::None, Tail::At)
        }
        kind if is_text_kind(kind) => {
            let binary = first_binary_byte(d);
            let Some(at) = binary else {
                return Tail::None;
            };
            // An appended archive's signature starts at the binary byte (or
            // two bytes before it: `PK\x03\x04`); otherwise the line that
            // holds it is where the text ends.
            let signature = [at, at.saturating_sub(2)]
                .into_iter()
                .find(|&i| i > 0 && crate::sniff::has_signature(&d[i..d.len().min(i + 64)]));
            let line = d[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            match signature {
                Some(i) => Tail::At(i),
                None if line > 0 => Tail::At(line),
                None => Tail::None,
            }
        }
        _ => Tail::None,
    }
}

/// Whether a kind is text whose end is the first binary byte ([`tail`]).
pub fn is_text_kind(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Text | Kind::Table | Kind::Json | Kind::Xml | Kind::Gpx | Kind::AsciiGrid
    )
}

/// Whether a byte does not occur in text (see [`tail`]).
fn is_binary_byte(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0E..=0x19 | 0x1C..=0x1F | 0x7F)
}

/// Where the first byte that does not occur in text is. Blocks of 64 bytes
/// are tested whole (a loop without early exit, which the compiler turns
/// into vector compares) and only a block that holds one is searched.
fn first_binary_byte(d: &[u8]) -> Option<usize> {
    const BLOCK: usize = 64;
    let mut blocks = d.chunks_exact(BLOCK);
    for (i, block) in blocks.by_ref().enumerate() {
        if block.iter().fold(false, |any, &b| any | is_binary_byte(b)) {
            return block
                .iter()
                .position(|&b| is_binary_byte(b))
                .map(|j| i * BLOCK + j);
        }
    }
    let rest = blocks.remainder();
    rest.iter()
        .position(|&b| is_binary_byte(b))
        .map(|j| d.len() - rest.len() + j)
}

/// Notes where the first binary byte passes in a stream of text too long
/// to hold whole.
pub struct BinaryInTextScan<R> {
    inner: R,
    offset: u64,
    first: Option<u64>,
}

impl<R: std::io::Read> BinaryInTextScan<R> {
    /// A scan over `inner`.
    pub fn new(inner: R) -> Self {
        BinaryInTextScan {
            inner,
            offset: 0,
            first: None,
        }
    }

    /// The offset of the first binary byte read, if any.
    pub fn first_binary(&self) -> Option<u64> {
        self.first
    }
}

impl<R: std::io::Read> std::io::Read for BinaryInTextScan<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.first.is_none() {
            if let Some(i) = first_binary_byte(&buf[..n]) {
                self.first = Some(self.offset + i as u64);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// Where a format with a defined end (JPEG EOI, PNG IEND, GIF trailer,
/// BMP and RIFF sizes, PDF's last `%%EOF`) says its content ends, when the
/// structure can be walked that far. Bytes after it are not part of the
/// item as its decoder sees it: they are examined as a member of their
/// own (polyglots, appended archives).
pub fn logical_end(kind: Kind, d: &[u8]) -> Option<usize> {
    let end = match kind {
        Kind::Jpeg => jpeg_end(d)?,
        Kind::Png => png_end(d)?,
        Kind::Gif => gif_end(d)?,
        Kind::Bmp => bmp_end(d)?,
        Kind::Webp => {
            let size = d
                .get(4..8)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
            size.checked_add(8 + size % 2)?
        }
        Kind::Pdf => {
            let eof = memchr::memmem::rfind(d, b"%%EOF")? + 5;
            eof + d[eof..]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
                .count()
        }
        _ => return None,
    };
    // A declared size past the data: nothing follows the item.
    Some(end.min(d.len()))
}

/// After the EOI marker: segments up to each SOS, then the entropy-coded
/// data up to the next marker that is not a restart or a stuffed byte
/// (progressive files have several scans).
fn jpeg_end(d: &[u8]) -> Option<usize> {
    let mut at = 2;
    loop {
        if *d.get(at)? != 0xFF {
            return None;
        }
        let marker = *d.get(at + 1)?;
        match marker {
            0xD9 => return Some(at + 2),
            0xFF => at += 1,
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let len = u16::from_be_bytes([*d.get(at + 2)?, *d.get(at + 3)?]) as usize;
                at += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data: 0xFF is followed by 0 (stuffing)
                    // or a restart marker inside it.
                    loop {
                        let ff = at + memchr::memchr(0xFF, d.get(at..)?)?;
                        match *d.get(ff + 1)? {
                            0x00 | 0xD0..=0xD7 | 0xFF => at = ff + 1,
                            _ => {
                                at = ff;
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// After an uncompressed bitmap's pixel rows (the header's file size is
/// optional for them and often 0), else the declared file size.
fn bmp_end(d: &[u8]) -> Option<usize> {
    let le32 = |at: usize| {
        d.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let declared = le32(2)? as usize;
    let offset = le32(10)? as usize;
    let header = le32(14)?;
    if header >= 40 {
        let width = le32(18)? as i32;
        let height = le32(22)? as i32;
        let bpp = u16::from_le_bytes([*d.get(28)?, *d.get(29)?]) as u64;
        let compression = le32(30)?;
        if compression == 0 || compression == 3 {
            let row = (u64::from(width.unsigned_abs()) * bpp).div_ceil(32) * 4;
            let end =
                (offset as u64).checked_add(row.checked_mul(u64::from(height.unsigned_abs()))?)?;
            return usize::try_from(end).ok();
        }
    }
    (declared >= 26).then_some(declared)
}

/// After the IEND chunk's CRC.
fn png_end(d: &[u8]) -> Option<usize> {
    let mut at = 8;
    loop {
        let len = be32(d, at)? as usize;
        let kind = d.get(at + 4..at + 8)?;
        let next = at.checked_add(12)?.checked_add(len)?;
        if kind == b"IEND" {
            return Some(next);
        }
        at = next;
    }
}

/// Skips a GIF's data sub-blocks from `at`; the position after their
/// terminator, or `None` past the end.
fn gif_skip_blocks(d: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let n = *d.get(at)? as usize;
        at += 1 + n;
        if n == 0 {
            return Some(at);
        }
    }
}

/// After the GIF trailer byte (0x3B).
fn gif_end(d: &[u8]) -> Option<usize> {
    let flags = *d.get(10)?;
    let mut at = 13;
    if flags & 0x80 != 0 {
        at += 3 << ((flags & 7) + 1);
    }
    let skip_blocks = |at: usize| gif_skip_blocks(d, at);
    loop {
        // Many writers leave the trailer out: the data ending cleanly at a
        // block boundary is the end.
        let Some(&block) = d.get(at) else {
            return Some(d.len());
        };
        match block {
            0x3B => return Some(at + 1),
            0x2C => {
                let f = *d.get(at + 9)?;
                at += 10;
                if f & 0x80 != 0 {
                    at += 3 << ((f & 7) + 1);
                }
                at = skip_blocks(at + 1)?;
            }
            0x21 => at = skip_blocks(at + 2)?,
            _ => return None,
        }
    }
}

/// Whether bytes after a logical end are only padding (zeros, white
/// space), which many writers add and which holds nothing.
pub fn is_padding(tail: &[u8]) -> bool {
    tail.iter()
        .all(|b| matches!(b, 0 | b' ' | b'\t' | b'\r' | b'\n' | 0xFF))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-wise search finds what a byte-by-byte search finds: at
    /// every position in and around a block, for every kind of byte.
    #[test]
    fn first_binary_byte_equals_the_plain_search() {
        let text: Vec<u8> = b"2024-01-01T00:00:00Z,ST001,12.5,\tok\r\n"
            .iter()
            .copied()
            .cycle()
            .take(300)
            .collect();
        assert_eq!(first_binary_byte(&text), None);
        for b in 0..=255u8 {
            for at in [0, 1, 62, 63, 64, 65, 127, 128, 200, 255, 256, 299] {
                let mut d = text.clone();
                d[at] = b;
                for len in [at + 1, 256, 300] {
                    let d = &d[..len];
                    let plain = d.iter().position(|&c| is_binary_byte(c));
                    assert_eq!(first_binary_byte(d), plain, "byte {b:#x} at {at}, length {len}");
                }
            }
        }
    }
}
