//! HTTP bodies with their `Content-Encoding`s undone before they are
//! scanned: gzip, deflate (zlib or raw) and brotli here; zstd, xz and
//! compress are left to the scanner, which knows them by their magic
//! numbers. A decoded body must end exactly where its encoded stream ends.

use std::io::{self, Read};

use crate::icap::Encoding;

/// A body with its HTTP Content-Encodings undone, the last applied first.
/// Decoding stops at zstd, xz or compress, which the scanner opens by
/// itself, when that is the first encoding applied; an encoding applied
/// under one of them (`br, zstd`) would reach the scanner still encoded,
/// without a magic number to find it by, so such a body is an error.
pub fn decoded<'a>(
    body: Box<dyn Read + Send + 'a>,
    encodings: &[Encoding],
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut body = body;
    for (at, encoding) in encodings.iter().enumerate().rev() {
        body = match encoding {
            Encoding::Gzip => Box::new(EndsWithInput::new(flate2::bufread::MultiGzDecoder::new(
                io::BufReader::new(body),
            ))),
            Encoding::Brotli => Box::new(EndsWithInput::new(
                brotli_decompressor::Decompressor::new(body, 64 * 1024),
            )),
            Encoding::Deflate => {
                // zlib as the standard says, or the raw deflate some
                // servers send: the first two bytes tell.
                let mut buffered = io::BufReader::new(body);
                let head = io::BufRead::fill_buf(&mut buffered)?;
                let zlib = head.len() >= 2
                    && head[0] & 0x0F == 8
                    && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                if zlib {
                    Box::new(EndsWithInput::new(flate2::bufread::ZlibDecoder::new(
                        buffered,
                    )))
                } else {
                    Box::new(EndsWithInput::new(flate2::bufread::DeflateDecoder::new(
                        buffered,
                    )))
                }
            }
            Encoding::Sniffed if encodings[..at].iter().all(|e| *e == Encoding::Sniffed) => {
                return starting_with_magic(body)
            }
            Encoding::Sniffed => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "an encoding applied under zstd, xz or compress is not decoded",
                ))
            }
        };
    }
    Ok(body)
}

/// Magic numbers the scanner knows zstd, xz and compress streams by, at
/// their first byte.
const SNIFFED_MAGICS: [&[u8]; 3] = [b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"\x1f\x9d"];

/// A body left for the scanner to open by its magic number, which must
/// then be at its first byte: a zstd stream may begin with a skippable
/// frame, which the scanner would not see past (the body would be read as
/// opaque bytes, and a receiving server's decoder skips the frame).
fn starting_with_magic<'a>(
    body: Box<dyn Read + Send + 'a>,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut body = body;
    let mut head = Vec::with_capacity(6);
    (&mut body).take(6).read_to_end(&mut head)?;
    if !SNIFFED_MAGICS.iter().any(|m| head.starts_with(m)) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a zstd, xz or compress body that does not start with its magic number is not decoded",
        ));
    }
    Ok(Box::new(io::Cursor::new(head).chain(body)))
}

/// A decoder whose input must end where its stream ends. Deflate, zlib and
/// brotli streams carry their own end, and decoders stop there: bytes sent
/// after it would never be examined. Once the decoder has ended, one more
/// read of its input must find nothing, or the body is an error (blocked).
/// A failure is final: every later read fails too (a decoder may report
/// its own failure only once).
struct EndsWithInput<D> {
    decoder: D,
    failed: Option<(io::ErrorKind, String)>,
}

impl<D> EndsWithInput<D> {
    fn new(decoder: D) -> Self {
        EndsWithInput {
            decoder,
            failed: None,
        }
    }
}

/// A decoder's input, for [`EndsWithInput`]'s last look.
trait DecoderInput {
    /// The input, past what the decoder has taken (the decoders used here
    /// keep nothing unconsumed of it, or fail themselves when they do).
    fn input(&mut self) -> &mut dyn Read;
}

impl<R: io::BufRead> DecoderInput for flate2::bufread::MultiGzDecoder<R> {
    fn input(&mut self) -> &mut dyn Read {
        self.get_mut()
    }
}

impl<R: io::BufRead> DecoderInput for flate2::bufread::ZlibDecoder<R> {
    fn input(&mut self) -> &mut dyn Read {
        self.get_mut()
    }
}

impl<R: io::BufRead> DecoderInput for flate2::bufread::DeflateDecoder<R> {
    fn input(&mut self) -> &mut dyn Read {
        self.get_mut()
    }
}

impl<R: Read> DecoderInput for brotli_decompressor::Decompressor<R> {
    fn input(&mut self) -> &mut dyn Read {
        self.get_mut()
    }
}

impl<D: Read + DecoderInput> EndsWithInput<D> {
    fn read_checked(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        if n == 0 && !buf.is_empty() {
            // Asked again: brotli's decoder tells of input it holds unused
            // only on the second ask after its end.
            let mut probe = [0u8; 1];
            if self.decoder.read(&mut probe)? != 0 || self.decoder.input().read(&mut probe)? != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bytes follow the end of the encoded stream",
                ));
            }
        }
        Ok(n)
    }
}

impl<D: Read + DecoderInput> Read for EndsWithInput<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, why)) = &self.failed {
            return Err(io::Error::new(*kind, why.clone()));
        }
        self.read_checked(buf).inspect_err(|e| {
            // Interrupted reads may be retried; anything else is final.
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed = Some((e.kind(), e.to_string()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decode_all(body: &[u8], encodings: &[Encoding]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoded(Box::new(body), encodings)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn empty_brotli() -> u8 {
        (0u8..=255)
            .find(|&b| decode_all(&[b], &[Encoding::Brotli]).is_ok_and(|out| out.is_empty()))
            .unwrap()
    }

    #[test]
    fn nothing_may_follow_an_encoded_stream() {
        use flate2::write::{DeflateEncoder, ZlibEncoder};
        let text = b"all quiet at the waterhole".repeat(50);
        let level = flate2::Compression::default();
        let mut deflate = DeflateEncoder::new(Vec::new(), level);
        deflate.write_all(&text).unwrap();
        let mut zlib = ZlibEncoder::new(Vec::new(), level);
        zlib.write_all(&text).unwrap();
        for (stream, encoding, plain) in [
            (deflate.finish().unwrap(), Encoding::Deflate, &text[..]),
            (zlib.finish().unwrap(), Encoding::Deflate, &text[..]),
            (gzip(&text), Encoding::Gzip, &text[..]),
            (vec![empty_brotli()], Encoding::Brotli, &[][..]),
        ] {
            assert_eq!(decode_all(&stream, &[encoding]).unwrap(), plain);
            // One byte after the end, or far more than any decoder buffers.
            for trailer in [1, 3 << 20] {
                let mut body = stream.clone();
                body.extend(std::iter::repeat_n(7u8, trailer));
                let result = decode_all(&body, &[encoding]);
                assert!(result.is_err(), "{encoding:?} + {trailer} bytes");
                // And it stays an error however often it is read.
                let mut reader = decoded(Box::new(&body[..]), &[encoding]).unwrap();
                let mut sink = Vec::new();
                assert!(reader.read_to_end(&mut sink).is_err());
                assert!(reader.read(&mut [0u8; 64]).is_err(), "{encoding:?}");
            }
        }
    }

    #[test]
    fn layers_under_a_sniffed_encoding_are_refused_layers_over_it_decoded() {
        // A zstd body beginning with a skippable frame: not left to the
        // scanner, which knows zstd by its first bytes only.
        let skippable = b"\x50\x2a\x4d\x18\x00\x00\x00\x00(\xb5/\xfd";
        assert!(decode_all(skippable, &[Encoding::Sniffed]).is_err());
        // gzip over zstd: the gzip is undone, the zstd left to the scanner.
        let inner = b"(\xb5/\xfd pretend zstd";
        assert_eq!(
            decode_all(&gzip(inner), &[Encoding::Sniffed, Encoding::Gzip]).unwrap(),
            inner
        );
        // br under zstd: the scanner would find the zstd, then opaque brotli.
        assert!(decode_all(inner, &[Encoding::Brotli, Encoding::Sniffed]).is_err());
        assert_eq!(
            decode_all(inner, &[Encoding::Sniffed, Encoding::Sniffed]).unwrap(),
            inner
        );
    }
}
