//! Single-stream compressed files (gzip, zstd, ...): the decompressed
//! content is one member, named after the file without its compression
//! suffix (`logs.tar.gz` -> `logs.tar`).

use std::cell::Cell;
use std::io::{self, BufRead, Read};

use super::{Checks, Counting, Expander, Walk, MEMBER_SEPARATOR};
use crate::report::Reason;

/// A compression format whose decoded stream is the one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// gzip, every member of a multi-member file.
    Gzip,
    /// Zstandard, every frame; windows over 128 MiB are refused, which
    /// bounds the decoder's memory.
    Zstd,
}

impl Codec {
    /// (suffix, replacement) pairs naming the decoded member.
    fn suffixes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Codec::Gzip => &[(".tgz", ".tar"), (".gz", ""), (".gzip", "")],
            Codec::Zstd => &[(".tzst", ".tar"), (".zst", ""), (".zstd", "")],
        }
    }

    /// A decoder reading compressed bytes from `input`.
    fn decoder<'a, B: BufRead + 'a>(self, input: B) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
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
        let counted = Counting {
            inner: io::BufReader::with_capacity(64 * 1024, reader),
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
        let gz = Codec::Gzip.suffixes();
        assert_eq!(compressed_member_name("a/b/logs.tar.gz", gz), "logs.tar");
        assert_eq!(compressed_member_name("x.zip!t.TGZ", gz), "t.tar");
        assert_eq!(compressed_member_name("data", gz), "data.content");
        assert_eq!(compressed_member_name(".gz", gz), ".gz.content");
    }
}
