//! Single-stream compressed files (gzip, zstd, bzip2, xz, lzma, lzip, lz4,
//! zlib, Unix compress, lzop): the decompressed
//! content is one member, named after the file without its compression
//! suffix (`logs.tar.gz` -> `logs.tar`).

use std::cell::Cell;
use std::io::{self, BufRead, Read};

use super::{Checks, Counting, Expander, Walk, MEMBER_SEPARATOR};
use crate::reason::Reason;

/// Memory a decoder may use for its dictionary and tables (xz, lzma).
pub(crate) const DECODER_MEMORY_KIB: u32 = 256 * 1024;

/// A compression format whose decoded stream is the one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// gzip, every member of a multi-member file.
    Gzip,
    /// Zstandard, every frame; windows over 128 MiB are refused, which
    /// bounds the decoder's memory.
    Zstd,
    /// bzip2, every stream of a concatenated (pbzip2) file.
    Bzip2,
    /// xz, every stream; blocks needing more than 256 MiB are refused.
    Xz,
    /// LZMA "alone" (`.lzma`).
    Lzma,
    /// lzip, every member.
    Lzip,
    /// LZ4 frames and legacy frames.
    Lz4,
    /// zlib (RFC 1950).
    Zlib,
    /// Unix `compress` (LZW).
    UnixCompress,
    /// lzop (LZO1X blocks).
    Lzop,
}

impl Codec {
    /// (suffix, replacement) pairs naming the decoded member.
    fn suffixes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Codec::Gzip => &[(".tgz", ".tar"), (".gz", ""), (".gzip", "")],
            Codec::Zstd => &[(".tzst", ".tar"), (".zst", ""), (".zstd", "")],
            Codec::Bzip2 => &[
                (".tbz2", ".tar"),
                (".tbz", ".tar"),
                (".bz2", ""),
                (".bz", ""),
            ],
            Codec::Xz => &[(".txz", ".tar"), (".xz", "")],
            Codec::Lzma => &[(".tlz", ".tar"), (".lzma", "")],
            Codec::Lzip => &[(".tlz", ".tar"), (".lz", "")],
            Codec::Lz4 => &[(".tlz4", ".tar"), (".lz4", "")],
            Codec::Zlib => &[(".zz", ""), (".zlib", "")],
            Codec::UnixCompress => &[(".taz", ".tar"), (".tz", ".tar"), (".z", "")],
            Codec::Lzop => &[(".tzo", ".tar"), (".lzo", "")],
        }
    }

    /// A decoder reading compressed bytes from `input`.
    fn decoder<'a, B: BufRead + 'a>(self, input: B) -> io::Result<Box<dyn Read + 'a>> {
        use lzma_rust2::{LzipReader, LzmaReader, XzReader};
        Ok(match self {
            Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
            Codec::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
            Codec::Xz => Box::new(XzReader::new_mem_limit(input, true, DECODER_MEMORY_KIB)),
            Codec::Lzma => Box::new(LzmaReader::new_mem_limit(input, DECODER_MEMORY_KIB, None)?),
            Codec::Lzip => Box::new(LzipReader::new(input)),
            Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
            Codec::Zlib => Box::new(flate2::bufread::ZlibDecoder::new(input)),
            Codec::UnixCompress => Box::new(super::lzw::UnixCompressDecoder::new(input)),
            Codec::Lzop => Box::new(super::lzop::LzopDecoder::new(input)),
        })
    }
}

impl Expander for Codec {
    fn streamable(&self) -> bool {
        true
    }

    fn expand_stream(&self, walk: &mut Walk<'_>, reader: &mut dyn Read) {
        if !walk.admit() {
            return;
        }
        let inner = compressed_member_name(walk.name(), self.suffixes());
        let count = Cell::new(0);
        let mut buffered = io::BufReader::with_capacity(64 * 1024, reader);
        {
            let counted = Counting {
                inner: &mut buffered,
                count: &count,
            };
            let mut decoder = match self.decoder(counted) {
                Ok(decoder) => decoder,
                Err(e) => {
                    walk.reason(Reason::new(
                        "container.corrupt",
                        format!("{inner}: cannot start the decoder: {e}"),
                    ));
                    return;
                }
            };
            let checks = Checks {
                compressed: Some(&count),
                ..Checks::default()
            };
            walk.member(&inner, &mut decoder, checks);
        }
        // Formats that hold one stream (zlib, lzma) end where the stream
        // ends; whatever follows is examined as content of its own.
        if walk.stopped() {
            return;
        }
        let more = buffered.fill_buf().map(|b| !b.is_empty()).unwrap_or(false);
        if more && walk.admit() {
            walk.member(super::TRAILING_MEMBER, &mut buffered, Checks::default());
        }
    }
}

/// The name given to a compressed file's content: its own name with the
/// first matching (suffix, replacement) applied, case-insensitively
/// (`logs.tar.gz` -> `logs.tar`, `t.tgz` -> `t.tar`), else `<name>.content`;
/// a stream without a name of its own (standard input, `-`) gives
/// `decompressed`.
fn compressed_member_name(name: &str, suffixes: &[(&str, &str)]) -> String {
    let base = name
        .rsplit(['/', '\\', MEMBER_SEPARATOR])
        .next()
        .unwrap_or(name);
    if base.is_empty() || base == "-" {
        return "decompressed".to_string();
    }
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
        let gz = Codec::Gzip.suffixes();
        assert_eq!(compressed_member_name("a/b/logs.tar.gz", gz), "logs.tar");
        assert_eq!(compressed_member_name("x.zip!t.TGZ", gz), "t.tar");
        assert_eq!(compressed_member_name("data", gz), "data.content");
        assert_eq!(compressed_member_name(".gz", gz), ".gz.content");
        assert_eq!(compressed_member_name("-", gz), "decompressed");
        assert_eq!(compressed_member_name("x.tar!-", gz), "decompressed");
    }
}
