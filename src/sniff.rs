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
}

/// Groups of kinds that share a deep fingerprinter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
const ALL_KINDS: [Kind; 22] = [
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
];

impl Kind {
    /// The family whose fingerprinters apply to this kind.
    pub fn family(self) -> Family {
        match self {
            Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp | Kind::Bmp => Family::Image,
            Kind::Tiff | Kind::AsciiGrid => Family::Raster,
            Kind::Zip
            | Kind::Gzip
            | Kind::Tar
            | Kind::Bzip2
            | Kind::Xz
            | Kind::Zstd
            | Kind::SevenZip => Family::Container,
            Kind::Gpx | Kind::Json | Kind::Table => Family::Telemetry,
            Kind::Empty | Kind::Pdf | Kind::Xml | Kind::Text | Kind::Binary => Family::Bytes,
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
        _ => {}
    }
    if crate::fingerprint::container::is_tar_header(head) {
        return Kind::Tar;
    }
    if !looks_like_text(head) {
        return Kind::Binary;
    }
    sniff_text(head, ext.as_deref())
}

fn sniff_magic(h: &[u8]) -> Option<Kind> {
    let starts = |m: &[u8]| h.starts_with(m);
    let kind = if starts(b"\xFF\xD8\xFF") {
        Kind::Jpeg
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Kind::Png
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Kind::Gif
    } else if h.len() >= 12 && &h[..4] == b"RIFF" && &h[8..12] == b"WEBP" {
        Kind::Webp
    } else if starts(b"BM")
        && h.len() >= 26
        && h[14..18].iter().any(|&b| b != 0)
        && h[6..10] == [0; 4]
    {
        Kind::Bmp
    } else if starts(b"II*\0") || starts(b"MM\0*") || starts(b"II+\0") || starts(b"MM\0+") {
        Kind::Tiff
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        Kind::Zip
    } else if starts(b"\x1f\x8b") {
        Kind::Gzip
    } else if starts(b"BZh") {
        Kind::Bzip2
    } else if starts(b"\xFD7zXZ\0") {
        Kind::Xz
    } else if starts(b"\x28\xB5\x2F\xFD") {
        Kind::Zstd
    } else if starts(b"7z\xBC\xAF\x27\x1C") {
        Kind::SevenZip
    } else if starts(b"%PDF-") {
        Kind::Pdf
    } else if h.len() >= 262 && &h[257..262] == b"ustar" {
        Kind::Tar
    } else {
        return None;
    };
    Some(kind)
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
    if crate::fingerprint::raster::grid::is_ascii_grid(body) {
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
