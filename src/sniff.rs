//! Content kinds: which fingerprinters apply to an item.
//!
//! Magic bytes decide first; the file name's extension only refines text
//! (CSV vs plain) and breaks ties. A kind belongs to a [`Family`], and each
//! family names the deep signal that must run before an item of that family
//! can be called clean.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 8192;

/// The detected content kind of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// Zero bytes.
    Empty,
    /// JPEG (JFIF, EXIF) image.
    Jpeg,
    /// PNG image.
    Png,
    /// GIF image.
    Gif,
    /// WebP image.
    Webp,
    /// Windows bitmap.
    Bmp,
    /// TIFF or BigTIFF: GeoTIFF rasters and TIFF photos.
    Tiff,
    /// ZIP archive (also docx/xlsx/jar).
    Zip,
    /// gzip stream.
    Gzip,
    /// POSIX tar archive.
    Tar,
    /// bzip2 stream.
    Bzip2,
    /// xz stream.
    Xz,
    /// Zstandard stream.
    Zstd,
    /// 7-Zip archive.
    SevenZip,
    /// PDF document.
    Pdf,
    /// GPX track (XML).
    Gpx,
    /// Other XML.
    Xml,
    /// JSON or JSON Lines.
    Json,
    /// Delimited or column-aligned text table (CSV, TSV, station logs).
    Table,
    /// Other text.
    Text,
    /// Anything else.
    Binary,
    /// ESRI ASCII grid (`ncols` header), a raster as text.
    AsciiGrid,
    /// zlib stream (RFC 1950), e.g. `.zz`.
    Zlib,
    /// LZMA "alone" stream (`.lzma`, `xz --format=lzma`).
    Lzma,
    /// lzip stream.
    Lzip,
    /// LZ4 frame (or legacy frame) stream.
    Lz4,
    /// Unix `compress` stream (`.Z`).
    UnixCompress,
    /// lzop stream.
    Lzop,
    /// cpio archive (binary, odc, newc, crc).
    Cpio,
    /// Unix `ar` archive (`.a`, `.deb`).
    Ar,
    /// ISO 9660 disc image.
    Iso9660,
    /// RAR archive (4 or 5).
    Rar,
    /// Microsoft cabinet.
    Cab,
    /// LHA / LZH archive.
    Lha,
    /// xar archive (macOS packages).
    Xar,
    /// RPM package.
    Rpm,
    /// OLE2 compound file (legacy Office: .doc, .xls, .ppt, .msg).
    Ole2,
    /// E-mail message (RFC 5322 / MIME) or mbox mailbox.
    Mail,
    /// A later part of a multi-volume archive (`.7z.002`, `.z01`, `.r00`).
    ArchivePart,
    /// UTF-16 text with a byte-order mark (Windows "Unicode" exports).
    Utf16Text,
    /// NetCDF classic (CDF-1, CDF-2, CDF-5).
    NetCdf,
    /// HDF5 (also NetCDF-4).
    Hdf5,
    /// GRIB edition 1 or 2 (weather-model and radar fields).
    Grib,
    /// JPEG 2000 (jp2 file or raw codestream).
    Jpeg2000,
    /// Erdas Imagine (HFA) raster.
    Hfa,
}

/// Groups of kinds that share a deep fingerprinter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Family {
    /// Photos: the `image` signal (PDQ).
    Image,
    /// Sample grids: the `raster` signal.
    Raster,
    /// Tabular and track data: the `records` signal.
    Telemetry,
    /// Archives and compressed streams: members must be opened.
    Container,
    /// Everything for which the byte signals are the whole story.
    Bytes,
}

impl Family {
    /// The deep signal this family needs, or `None` when byte signals
    /// examine it fully.
    pub fn deep_signal(self) -> Option<&'static str> {
        match self {
            Family::Image => Some("image"),
            Family::Raster => Some("raster"),
            Family::Telemetry => Some("records"),
            Family::Container => Some("container"),
            Family::Bytes => None,
        }
    }
}

// Catalogue codes are positions in this list: only ever append.
const ALL_KINDS: [Kind; 45] = [
    Kind::Empty,
    Kind::Jpeg,
    Kind::Png,
    Kind::Gif,
    Kind::Webp,
    Kind::Bmp,
    Kind::Tiff,
    Kind::Zip,
    Kind::Gzip,
    Kind::Tar,
    Kind::Bzip2,
    Kind::Xz,
    Kind::Zstd,
    Kind::SevenZip,
    Kind::Pdf,
    Kind::Gpx,
    Kind::Xml,
    Kind::Json,
    Kind::Table,
    Kind::Text,
    Kind::Binary,
    Kind::AsciiGrid,
    Kind::Zlib,
    Kind::Lzma,
    Kind::Lzip,
    Kind::Lz4,
    Kind::UnixCompress,
    Kind::Lzop,
    Kind::Cpio,
    Kind::Ar,
    Kind::Iso9660,
    Kind::Rar,
    Kind::Cab,
    Kind::Lha,
    Kind::Xar,
    Kind::Rpm,
    Kind::Ole2,
    Kind::Mail,
    Kind::ArchivePart,
    Kind::Utf16Text,
    Kind::NetCdf,
    Kind::Hdf5,
    Kind::Grib,
    Kind::Jpeg2000,
    Kind::Hfa,
];

impl Kind {
    /// The family whose fingerprinters apply to this kind.
    pub fn family(self) -> Family {
        match self {
            Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Bmp => Family::Image,
            Kind::Tiff
            | Kind::AsciiGrid
            | Kind::NetCdf
            | Kind::Hdf5
            | Kind::Grib
            | Kind::Jpeg2000
            | Kind::Hfa => Family::Raster,
            Kind::Zip
            | Kind::Gzip
            | Kind::Tar
            | Kind::Bzip2
            | Kind::Xz
            | Kind::Zstd
            | Kind::SevenZip
            | Kind::Zlib
            | Kind::Lzma
            | Kind::Lzip
            | Kind::Lz4
            | Kind::UnixCompress
            | Kind::Lzop
            | Kind::Cpio
            | Kind::Ar
            | Kind::Iso9660
            | Kind::Rar
            | Kind::Cab
            | Kind::Lha
            | Kind::Xar
            | Kind::Rpm
            | Kind::Ole2
            | Kind::Mail
            | Kind::ArchivePart
            | Kind::Utf16Text
            | Kind::Pdf => Family::Container,
            Kind::Gpx | Kind::Json | Kind::Table => Family::Telemetry,
            Kind::Empty | Kind::Xml | Kind::Text | Kind::Binary => Family::Bytes,
        }
    }

    /// The one-byte code stored in the index catalogue.
    pub fn code(self) -> u8 {
        ALL_KINDS.iter().position(|k| *k == self).unwrap_or(0) as u8
    }

    /// The kind for a catalogue code, if the code is known.
    pub fn from_code(code: u8) -> Option<Kind> {
        ALL_KINDS.get(code as usize).copied()
    }

    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Empty => "empty",
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Bmp => "bmp",
            Kind::Tiff => "tiff",
            Kind::Zip => "zip",
            Kind::Gzip => "gzip",
            Kind::Tar => "tar",
            Kind::Bzip2 => "bzip2",
            Kind::Xz => "xz",
            Kind::Zstd => "zstd",
            Kind::SevenZip => "seven_zip",
            Kind::Pdf => "pdf",
            Kind::Gpx => "gpx",
            Kind::Xml => "xml",
            Kind::Json => "json",
            Kind::Table => "table",
            Kind::Text => "text",
            Kind::Binary => "binary",
            Kind::AsciiGrid => "ascii_grid",
            Kind::Zlib => "zlib",
            Kind::Lzma => "lzma",
            Kind::Lzip => "lzip",
            Kind::Lz4 => "lz4",
            Kind::UnixCompress => "unix_compress",
            Kind::Lzop => "lzop",
            Kind::Cpio => "cpio",
            Kind::Ar => "ar",
            Kind::Iso9660 => "iso9660",
            Kind::Rar => "rar",
            Kind::Cab => "cab",
            Kind::Lha => "lha",
            Kind::Xar => "xar",
            Kind::Rpm => "rpm",
            Kind::Ole2 => "ole2",
            Kind::Mail => "mail",
            Kind::ArchivePart => "archive_part",
            Kind::Utf16Text => "utf16_text",
            Kind::NetCdf => "netcdf",
            Kind::Hdf5 => "hdf5",
            Kind::Grib => "grib",
            Kind::Jpeg2000 => "jpeg2000",
            Kind::Hfa => "hfa",
        }
    }
}

/// Detects the kind of an item from its first bytes (`head`, up to
/// [`SNIFF_LEN`]) and, for text, its name.
pub fn sniff(head: &[u8], name: Option<&Path>) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if let Some(kind) = sniff_magic(head) {
        return kind;
    }
    let ext = extension(name);
    // A name that claims an archive is taken at its word when no magic
    // says otherwise, so a damaged archive is opened (and found damaged)
    // rather than passed as opaque bytes; tar headers without the ustar
    // magic (v7) are known by their checksum.
    match ext.as_deref() {
        Some("zip") => return Kind::Zip,
        Some("tar") => return Kind::Tar,
        Some("gz" | "tgz" | "gzip") => return Kind::Gzip,
        Some("zst" | "tzst" | "zstd") => return Kind::Zstd,
        Some("bz2" | "tbz" | "tbz2") => return Kind::Bzip2,
        Some("xz" | "txz") => return Kind::Xz,
        Some("lzma") => return Kind::Lzma,
        Some("lz") => return Kind::Lzip,
        Some("lz4") => return Kind::Lz4,
        Some("zz" | "zlib") => return Kind::Zlib,
        Some("7z") => return Kind::SevenZip,
        Some("rar") => return Kind::Rar,
        _ => {}
    }
    if is_archive_part(name) {
        return Kind::ArchivePart;
    }
    if is_tar_header(head) {
        return Kind::Tar;
    }
    if looks_like_utf16(head) {
        return Kind::Utf16Text;
    }
    // Before the text test: a message's parts may be 8-bit or binary (HTTP
    // form uploads are), only its header block must be text.
    if matches!(ext.as_deref(), Some("eml" | "mbox" | "mbx"))
        || looks_like_mail(trim_bom_and_space(head))
    {
        return Kind::Mail;
    }
    if !looks_like_text(head) {
        return Kind::Binary;
    }
    sniff_text(head, ext.as_deref())
}

/// Signatures that a prefix alone decides.
const PREFIX_MAGIC: &[(&[u8], Kind)] = &[
    (b"\xFF\xD8\xFF", Kind::Jpeg),
    (b"\x89PNG\r\n\x1a\n", Kind::Png),
    (b"GIF87a", Kind::Gif),
    (b"GIF89a", Kind::Gif),
    (b"II*\0", Kind::Tiff),
    (b"MM\0*", Kind::Tiff),
    (b"II+\0", Kind::Tiff),
    (b"MM\0+", Kind::Tiff),
    (b"PK\x03\x04", Kind::Zip),
    (b"PK\x05\x06", Kind::Zip),
    (b"PK\x07\x08", Kind::Zip),
    (b"\xFD7zXZ\0", Kind::Xz),
    (b"\x28\xB5\x2F\xFD", Kind::Zstd),
    (b"7z\xBC\xAF\x27\x1C", Kind::SevenZip),
    (b"%PDF-", Kind::Pdf),
    (b"\x04\x22\x4D\x18", Kind::Lz4),
    (b"\x02\x21\x4C\x18", Kind::Lz4),
    (b"\x89LZO\0\r\n\x1a\n", Kind::Lzop),
    (b"070707", Kind::Cpio),
    (b"070701", Kind::Cpio),
    (b"070702", Kind::Cpio),
    (b"!<arch>\n", Kind::Ar),
    (b"Rar!\x1a\x07\x00", Kind::Rar),
    (b"Rar!\x1a\x07\x01\x00", Kind::Rar),
    (b"MSCF\0\0\0\0", Kind::Cab),
    (b"xar!", Kind::Xar),
    (b"\xED\xAB\xEE\xDB", Kind::Rpm),
    (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Kind::Ole2),
    (b"CDF\x01", Kind::NetCdf),
    (b"CDF\x02", Kind::NetCdf),
    (b"CDF\x05", Kind::NetCdf),
    (b"\x00\x00\x00\x0CjP  \r\n\x87\n", Kind::Jpeg2000),
    (b"\xFF\x4F\xFF\x51", Kind::Jpeg2000),
    (b"EHFA_HEADER_TAG", Kind::Hfa),
];

/// HDF5's signature, at offset 0 or a power of two from 512 on (a user
/// block may precede it).
const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";

/// Whether `h` starts with a container or picture signature (used to find
/// where data appended to text begins).
pub(crate) fn has_signature(h: &[u8]) -> bool {
    sniff_magic(h).is_some_and(|k| k.family() != Family::Bytes)
}

fn sniff_magic(h: &[u8]) -> Option<Kind> {
    if let Some(&(_, kind)) = PREFIX_MAGIC.iter().find(|(m, _)| h.starts_with(m)) {
        return Some(kind);
    }
    let starts = |m: &[u8]| h.starts_with(m);
    let hdf5 = [0usize, 512, 1024, 2048, 4096]
        .iter()
        .any(|&at| h.get(at..at + HDF5_MAGIC.len()) == Some(HDF5_MAGIC));
    let kind = if hdf5 {
        Kind::Hdf5
    } else if starts(b"GRIB") && h.len() >= 8 && matches!(h[7], 1 | 2) {
        Kind::Grib
    } else if h.len() >= 12 && &h[..4] == b"RIFF" && &h[8..12] == b"WEBP" {
        Kind::Webp
    } else if starts(b"BM")
        && h.len() >= 26
        && h[14..18].iter().any(|&b| b != 0)
        && h[6..10] == [0; 4]
    {
        Kind::Bmp
    } else if starts(b"\x1f\x8b")
        // Deflate (the only method gzip defines), no reserved flag bits: as
        // far as the header goes.
        && h.get(2).is_none_or(|&m| m == 8)
        && h.get(3).is_none_or(|&f| f & 0xE0 == 0)
    {
        Kind::Gzip
    } else if starts(b"\x1f\x9d")
        // Code width 9 to 16 bits, reserved bits clear.
        && h.get(2).is_none_or(|&f| f & 0x60 == 0 && (9..=16).contains(&(f & 0x1F)))
    {
        Kind::UnixCompress
    } else if starts(b"BZh")
        && h.len() >= 10
        && (b'1'..=b'9').contains(&h[3])
        && (h[4..10] == *b"1AY&SY" || h[4..10] == *b"\x17rE8P")
    {
        Kind::Bzip2
    } else if h.len() >= 262 && &h[257..262] == b"ustar" {
        Kind::Tar
    } else if starts(b"LZIP") && h.len() >= 6 && h[4] <= 1 {
        Kind::Lzip
    } else if (starts(b"\xC7\x71") || starts(b"\x71\xC7")) && h.len() >= 26 {
        Kind::Cpio
    } else if h.len() >= 21 && h[2] == b'-' && h[6] == b'-' && is_lha_method(&h[3..6]) {
        Kind::Lha
    } else if is_zlib_stream(h) {
        Kind::Zlib
    } else if is_lzma_alone(h) {
        Kind::Lzma
    } else {
        return None;
    };
    Some(kind)
}

/// LHA method ids (`-lh5-` and friends) as they appear at offset 2.
fn is_lha_method(m: &[u8]) -> bool {
    matches!(
        m,
        b"lh0" | b"lh1" | b"lh4" | b"lh5" | b"lh6" | b"lh7" | b"lhd" | b"lzs" | b"lz4" | b"lz5"
    )
}

/// A zlib header (deflate, window <= 32 KiB, check bits right, no preset
/// dictionary) whose first bytes also inflate without error: two bytes
/// alone are too weak a signature for opaque binary data.
fn is_zlib_stream(h: &[u8]) -> bool {
    if h.len() < 8 || h[0] & 0x0F != 8 || h[0] >> 4 > 7 || h[1] & 0x20 != 0 {
        return false;
    }
    if (u16::from(h[0]) << 8 | u16::from(h[1])) % 31 != 0 {
        return false;
    }
    let mut out = vec![0u8; 4096];
    let mut inflate = flate2::Decompress::new(true);
    match inflate.decompress(h, &mut out, flate2::FlushDecompress::None) {
        Ok(_) => inflate.total_out() > 0,
        Err(_) => false,
    }
}

/// An LZMA "alone" header: the usual properties byte (lc=3, lp=0, pb=2),
/// a dictionary size that is 2^n or 2^n + 2^(n-1) and an unknown or
/// plausible size.
fn is_lzma_alone(h: &[u8]) -> bool {
    if h.len() < 14 || h[0] != 0x5D {
        return false;
    }
    let dict = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    let size = u64::from_le_bytes([h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12]]);
    let shape = dict != 0 && (dict.is_power_of_two() || (dict >> dict.trailing_zeros()) == 3);
    shape && dict >= 1 << 12 && (size == u64::MAX || size < 1 << 44)
}

/// A later volume of a split archive, known only by its name (`x.7z.002`,
/// `x.zip.002`, `x.z01`, `x.r00`, `x.part2.rar`): it cannot be read alone.
/// First volumes carry their format's magic and are opened (and found cut).
fn is_archive_part(name: Option<&Path>) -> bool {
    let Some(file) = name.and_then(|n| n.file_name()) else {
        return false;
    };
    let lower = file.to_string_lossy().to_ascii_lowercase();
    let mut parts = lower.rsplit('.');
    let (Some(last), Some(prev)) = (parts.next(), parts.next()) else {
        return false;
    };
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let volume =
        |prefix: char| last.len() == 3 && last.starts_with(prefix) && number(&last[1..]).is_some();
    let numbered_after_archive = last.len() == 3
        && number(last).is_some_and(|n| n > 1)
        && matches!(prev, "7z" | "zip" | "rar" | "tar" | "gz" | "xz" | "bz2");
    let rar_part = last == "rar"
        && prev
            .strip_prefix("part")
            .and_then(number)
            .is_some_and(|n| n > 1);
    numbered_after_archive || volume('z') || volume('r') || rar_part
}

/// An RFC 5322 message (header fields up to the first blank line, one of
/// them a field every message has) or an mbox file (`From ` line first).
fn looks_like_mail(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with("From ") {
        first = lines.next().unwrap_or_default();
    }
    let mut fields = 0;
    let mut known = false;
    for line in std::iter::once(first).chain(lines) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) && fields > 0 {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else {
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        fields += 1;
        known |= matches!(
            name.to_ascii_lowercase().as_str(),
            "from"
                | "to"
                | "subject"
                | "date"
                | "message-id"
                | "received"
                | "mime-version"
                | "return-path"
                | "delivered-to"
        );
    }
    fields >= 2 && known
}

/// The code units of UTF-16 text after its byte-order mark (either byte
/// order); `None` without a mark.
pub(crate) fn utf16_units(data: &[u8]) -> Option<impl Iterator<Item = u16> + '_> {
    let big = match data.get(..2) {
        Some([0xFF, 0xFE]) => false,
        Some([0xFE, 0xFF]) => true,
        _ => return None,
    };
    Some(data[2..].chunks_exact(2).map(move |c| {
        if big {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_le_bytes([c[0], c[1]])
        }
    }))
}

/// UTF-16 with a byte-order mark whose first characters decode and are
/// text (letters, digits, punctuation, white space).
fn looks_like_utf16(head: &[u8]) -> bool {
    let Some(units) = utf16_units(head) else {
        return false;
    };
    let mut seen = 0usize;
    for c in char::decode_utf16(units.take(2048)) {
        match c {
            Ok(c) if !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c') => seen += 1,
            // A character cut by the sniff window is fine; others are not.
            Err(_) if seen > 0 => {}
            _ => return false,
        }
    }
    seen >= 2
}

/// Text if there is no NUL and few control bytes (UTF-8 and Latin-1 pass).
fn looks_like_text(head: &[u8]) -> bool {
    let mut control = 0usize;
    for &b in head {
        match b {
            0 => return false,
            b'\t' | b'\n' | b'\r' | 0x0c => {}
            0x01..=0x1f | 0x7f => control += 1,
            _ => {}
        }
    }
    control * 100 <= head.len()
}

fn extension(name: Option<&Path>) -> Option<String> {
    name.and_then(|n| n.extension())
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

fn sniff_text(head: &[u8], ext: Option<&str>) -> Kind {
    let body = trim_bom_and_space(head);
    if body.starts_with(b"<") {
        let window = &body[..body.len().min(1024)];
        return if contains(window, b"<gpx") {
            Kind::Gpx
        } else {
            Kind::Xml
        };
    }
    if is_ascii_grid(body) {
        return Kind::AsciiGrid;
    }
    if (body.starts_with(b"{") || body.starts_with(b"[")) && looks_like_json(body) {
        return Kind::Json;
    }
    match ext {
        Some("csv" | "tsv" | "psv" | "dat" | "tab") => return Kind::Table,
        Some("json" | "geojson" | "jsonl" | "ndjson") if looks_like_json(body) => {
            return Kind::Json
        }
        Some("gpx") => return Kind::Gpx,
        Some("nmea") => return Kind::Table,
        _ => {}
    }
    if looks_tabular(body) {
        Kind::Table
    } else {
        Kind::Text
    }
}

/// Whether text (the start of an item) is JSON or JSON Lines on the
/// evidence of its first bytes: they parse as a JSON value, or as the
/// start of one that the sniff window cut off, or the first line parses as
/// an object or array (JSON Lines). An INI section (`[core]`) or a shell
/// test (`[ -f x ]`) is not.
fn looks_like_json(body: &[u8]) -> bool {
    use serde_json::error::Category;
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => return true,
        Err(e) if e.classify() == Category::Eof => return true,
        Err(_) => {}
    }
    let first_line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    matches!(
        serde_json::from_slice::<serde_json::Value>(first_line),
        Ok(serde_json::Value::Object(_) | serde_json::Value::Array(_))
    )
}

fn trim_bom_and_space(mut s: &[u8]) -> &[u8] {
    if s.starts_with(b"\xEF\xBB\xBF") {
        s = &s[3..];
    }
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    &s[start..]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// At least four complete lines that split into the same number (>= 2) of
/// fields on one of the usual delimiters.
fn looks_tabular(text: &[u8]) -> bool {
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(16)
        .collect();
    // The last line may be cut off by the sniff window.
    let lines = &lines[..lines.len().saturating_sub(1)];
    if lines.len() < 4 {
        return false;
    }
    for delim in [b',', b'\t', b';', b'|'] {
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l.iter().filter(|&&b| b == delim).count())
            .collect();
        let tail = &counts[counts.len() / 2..];
        if tail[0] >= 1 && tail.iter().all(|&c| c == tail[0]) {
            return true;
        }
    }
    false
}

// Format probes this module owns (the readers in `fingerprint` use them
// too, so the dependency runs one way: fingerprint -> sniff).

/// Whether `head` starts with a tar header whose checksum is right (tar
/// archives from before the ustar magic have nothing else to know them by).
pub(crate) fn is_tar_header(head: &[u8]) -> bool {
    head.get(..512)
        .and_then(|b| <&[u8; 512]>::try_from(b).ok())
        .is_some_and(|block| block.iter().any(|&b| b != 0) && tar_checksum_ok(block))
}

/// Whether a header block's checksum field matches its bytes (unsigned or
/// signed sums, as old tars wrote either).
pub(crate) fn tar_checksum_ok(block: &[u8; 512]) -> bool {
    let Ok(stored) = tar_number(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += b as u64;
        signed += b as i8 as i64;
    }
    stored == unsigned || stored as i64 == signed
}

/// A tar header number field: octal text, or GNU base-256 when the first
/// byte's top bit is set.
pub(crate) fn tar_number(field: &[u8]) -> Result<u64, String> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // GNU base-256: the first byte's top bit set; 0xFF means negative.
        if field[0] == 0xFF {
            return Err("negative number field".into());
        }
        let mut v: u64 = (field[0] & 0x7F) as u64;
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(b as u64))
                .ok_or("number field overflows")?;
        }
        return Ok(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let mut v: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!("bad octal digit {:?}", b as char));
        }
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add((b - b'0') as u64))
            .ok_or("number field overflows")?;
    }
    Ok(v)
}

/// Whether text looks like an ESRI ASCII grid header.
pub fn is_ascii_grid(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(64)]).to_ascii_lowercase();
    text.trim_start().starts_with("ncols")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for kind in ALL_KINDS {
            assert_eq!(Kind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(Kind::from_code(200), None);
    }

    #[test]
    fn magic_beats_extension() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff(png, Some(Path::new("a.csv"))), Kind::Png);
        assert_eq!(sniff(b"II*\0\x08\0\0\0", None), Kind::Tiff);
        assert_eq!(sniff(b"", None), Kind::Empty);
        assert_eq!(sniff(b"\0\x01\x02garbage", None), Kind::Binary);
    }

    #[test]
    fn text_kinds() {
        let csv = b"a,b,c\n1,2,3\n4,5,6\n7,8,9\n10,11,12\n";
        assert_eq!(sniff(csv, None), Kind::Table);
        assert_eq!(sniff(b"hello world\n", None), Kind::Text);
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<gpx version=\"1.0\">", None),
            Kind::Gpx
        );
        assert_eq!(sniff(b"[{\"a\": 1}]", None), Kind::Json);
        // Cut off by the sniff window: still JSON.
        assert_eq!(sniff(b"[{\"a\": 1}, {\"a\": ", None), Kind::Json);
        assert_eq!(sniff(b"{\"a\": 1}\n{\"a\": 2}\n", None), Kind::Json);
    }

    #[test]
    fn archive_signatures_and_parts() {
        assert_eq!(sniff(b"Rar!\x1a\x07\x01\x00rest", None), Kind::Rar);
        assert_eq!(sniff(b"!<arch>\ndebian-binary   ", None), Kind::Ar);
        assert_eq!(sniff(b"070701000000", None), Kind::Cpio);
        let part = |n: &str| sniff(b"\x01\x02\x03\x04", Some(Path::new(n)));
        assert_eq!(part("logs.7z.002"), Kind::ArchivePart);
        assert_eq!(part("logs.z01"), Kind::ArchivePart);
        assert_eq!(part("logs.part3.rar"), Kind::Rar);
        assert_eq!(part("logs.r00"), Kind::ArchivePart);
        assert_eq!(part("report.002"), Kind::Binary);
        assert_eq!(part("photo.raw"), Kind::Binary);
    }

    #[test]
    fn scientific_signatures() {
        assert_eq!(sniff(b"CDF\x01\0\0\0\x01", None), Kind::NetCdf);
        assert_eq!(sniff(b"CDF\x02\0\0\0\x01", None), Kind::NetCdf);
        assert_eq!(sniff(b"\x89HDF\r\n\x1a\n\0\0", None), Kind::Hdf5);
        let mut user_block = vec![0u8; 512];
        user_block.extend_from_slice(b"\x89HDF\r\n\x1a\n\0\0\0\0");
        assert_eq!(sniff(&user_block, None), Kind::Hdf5);
        assert_eq!(sniff(b"GRIB\0\0\0\x02\0\0", None), Kind::Grib);
        assert_eq!(sniff(b"GRIB\0\0\x1c\x01", None), Kind::Grib);
        assert_eq!(sniff(b"\xFF\x4F\xFF\x51\0\x2f", None), Kind::Jpeg2000);
        assert_eq!(sniff(b"EHFA_HEADER_TAG\0", None), Kind::Hfa);
    }

    #[test]
    fn two_byte_magics_need_a_plausible_header() {
        assert_eq!(sniff(b"\x1f\x8b\x08\x00rest", None), Kind::Gzip);
        assert_eq!(sniff(b"\x1f\x8b", None), Kind::Gzip);
        // Random bytes that merely start like gzip or compress (seen in
        // noise: a property test's tail ended in 1f 8b cd).
        assert_eq!(sniff(b"\x1f\x8b\xcd", None), Kind::Binary);
        assert_eq!(sniff(b"\x1f\x8b\x08\xff\x00", None), Kind::Binary);
        assert_eq!(sniff(b"\x1f\x9d\x90rest", None), Kind::UnixCompress);
        assert_eq!(sniff(b"\x1f\x9d\x05rest", None), Kind::Binary);
        let noise = b"\xf9,r\xf9d\xa1\xdfy\xe0\xd6T\x84\x1f\x8b\xcd";
        use crate::fingerprint::structure::{tail, Tail};
        assert!(matches!(tail(Kind::Binary, noise), Tail::None));
    }

    #[test]
    fn mail_with_binary_parts() {
        let mut message = b"MIME-Version: 1.0\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\nContent-Disposition: form-data; name=f; filename=x.bin\r\n\r\n".to_vec();
        message.extend((0..=255u8).cycle().take(3000));
        message.extend_from_slice(b"\r\n--b--\r\n");
        assert_eq!(sniff(&message, None), Kind::Mail);
        // Binary that merely holds a colon is not mail.
        assert_eq!(sniff(b"a:b\x00\x01\x02\n", None), Kind::Binary);
    }

    #[test]
    fn mail_headers() {
        let eml = b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\nbody\n";
        assert_eq!(sniff(eml, None), Kind::Mail);
        let mbox =
            b"From a@example.org Mon Jan  1 00:00:00 2026\nFrom: a@example.org\nSubject: x\n\nb\n";
        assert_eq!(sniff(mbox, None), Kind::Mail);
        assert_eq!(sniff(b"Note: this\nIs: not mail\n\n", None), Kind::Text);
    }

    #[test]
    fn bracketed_text_is_not_json() {
        let ini = b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n";
        assert_ne!(sniff(ini, None), Kind::Json);
        let desktop = b"[Desktop Entry]\nName=Files\nExec=nautilus\n";
        assert_eq!(sniff(desktop, Some(Path::new("a.desktop"))), Kind::Text);
        assert_ne!(
            sniff(b"[ -f x ] && echo y\n", Some(Path::new("a.json"))),
            Kind::Json
        );
    }
}
