//! Photo decoding to the luma plane PDQ needs, within limits.
//!
//! Dimensions are read from the header and checked before any pixel buffer
//! is allocated. JPEGs take a fast path: only the luma plane is decoded,
//! then averaged down by 2, 4 or 8 (keeping at least
//! [`ImageLimits::fast_jpeg_min_side`] pixels on the longer side), which is
//! all PDQ's 64x64 sampling needs. PNGs are decoded with checksums on.
//! Other formats, and JPEGs the fast path refuses, go through the `image`
//! crate at full size.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::pdq::luma;
use crate::sniff::Kind;

/// Limits for decoding one picture.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageLimits {
    /// Largest width x height decoded (default 100 megapixels); larger
    /// pictures are `incomplete` with `limits.image_pixels`.
    pub max_pixels: u64,
    /// Largest allocation a decoder may make (default 512 MiB).
    pub max_alloc: u64,
    /// Reduced-scale JPEG decoding keeps at least this many pixels on the
    /// longer side (default 256); 0 turns the fast path off.
    pub fast_jpeg_min_side: u16,
}

option_setters!(ImageLimits {
    with_max_pixels: max_pixels: u64,
    with_max_alloc: max_alloc: u64,
    with_fast_jpeg_min_side: fast_jpeg_min_side: u16,
});

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_pixels: 100_000_000,
            max_alloc: 512 << 20,
            fast_jpeg_min_side: 256,
        }
    }
}

/// Why a picture could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Declared dimensions exceed [`ImageLimits::max_pixels`].
    TooLarge {
        /// Declared width.
        width: u64,
        /// Declared height.
        height: u64,
    },
    /// The decoder rejected the data (truncated, corrupt, unsupported).
    Malformed(String),
    /// The decoder panicked; caught and contained.
    Panicked(String),
}

impl DecodeError {
    /// The stable reason code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "limits.image_pixels",
            DecodeError::Malformed(_) => "image.decode_failed",
            DecodeError::Panicked(_) => "image.decoder_panic",
        }
    }

    /// A human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            DecodeError::TooLarge { width, height } => {
                format!("declared size {width}x{height} exceeds the pixel limit")
            }
            DecodeError::Malformed(m) => format!("cannot decode picture: {m}"),
            DecodeError::Panicked(m) => format!("picture decoder crashed (contained): {m}"),
        }
    }
}

/// A decoded luma plane.
#[derive(Clone, Debug, PartialEq)]
pub struct LumaImage {
    /// Height in pixels.
    pub rows: usize,
    /// Width in pixels.
    pub cols: usize,
    /// Row-major luma values, 0.0..=255.0.
    pub data: Vec<f32>,
    /// Full-size width and height from the header.
    pub full_size: (u32, u32),
    /// Decoded at 1/`scale` of full size (1 = full).
    pub scale: u32,
}

/// Decodes a picture of `kind` to luma.
pub fn decode_luma(
    data: &[u8],
    kind: Kind,
    limits: &ImageLimits,
) -> Result<LumaImage, DecodeError> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if kind == Kind::Jpeg {
            jpeg_has_end(data)?;
        }
        if kind == Kind::Jpeg && limits.fast_jpeg_min_side > 0 {
            if let Some(image) = decode_jpeg_luma(data, limits)? {
                return Ok(image);
            }
        }
        if kind == Kind::Png {
            return decode_png(data, limits);
        }
        decode_full(data, kind, limits)
    }));
    result.unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(DecodeError::Panicked(msg))
    })
}

/// JPEG decoders fill missing data with grey; a picture cut short must be
/// reported instead. Walks the marker segments to the first start-of-scan
/// (skipping APP segments, which may hold a thumbnail with its own
/// end-of-image marker) and requires an end-of-image marker after it.
fn jpeg_has_end(data: &[u8]) -> Result<(), DecodeError> {
    let truncated = || DecodeError::Malformed("JPEG is truncated (no end-of-image marker)".into());
    let mut pos = 2;
    loop {
        let marker = data.get(pos..pos + 2).ok_or_else(truncated)?;
        if marker[0] != 0xFF {
            return Err(DecodeError::Malformed("JPEG marker expected".into()));
        }
        if marker[1] == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        let len = data.get(pos + 2..pos + 4).ok_or_else(truncated)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        if marker[1] == 0xDA {
            pos += 2 + len;
            break;
        }
        pos += 2 + len;
    }
    let scan = data.get(pos..).ok_or_else(truncated)?;
    if scan.windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

fn check_size(width: u64, height: u64, limits: &ImageLimits) -> Result<(), DecodeError> {
    if width.saturating_mul(height) > limits.max_pixels {
        return Err(DecodeError::TooLarge { width, height });
    }
    Ok(())
}

/// The fast path: only the luma (Y) plane is decoded (JPEG's Y is PDQ's
/// 0.299/0.587/0.114 luma, so no colour work is needed), then averaged
/// down in f x f blocks while the longer side stays at least
/// `fast_jpeg_min_side`. `Ok(None)` hands over to the full decoder.
fn decode_jpeg_luma(data: &[u8], limits: &ImageLimits) -> Result<Option<LumaImage>, DecodeError> {
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(Cursor::new(data), options);
    if decoder.decode_headers().is_err() {
        return Ok(None);
    }
    let Some(info) = decoder.info() else {
        return Ok(None);
    };
    let (w, h) = (info.width as usize, info.height as usize);
    check_size(w as u64, h as u64, limits)?;
    if decoder.output_colorspace() != Some(ColorSpace::Luma) {
        return Ok(None);
    }
    let Ok(pixels) = decoder.decode() else {
        return Ok(None);
    };
    if pixels.len() < w * h || w == 0 || h == 0 {
        return Ok(None);
    }
    let (longer, shorter) = (w.max(h), w.min(h));
    let min_side = limits.fast_jpeg_min_side as usize;
    // The shorter side too stays hashable: a banner 20 pixels high is not
    // averaged down to nothing (it hashes as its full decode would).
    let mut f = 1;
    while f < 8 && longer / (2 * f) >= min_side && shorter / (2 * f) >= super::pdq::MIN_HASHABLE_DIM
    {
        f *= 2;
    }
    let (rows, cols) = (h / f, w / f);
    let mut out = vec![0f32; rows * cols];
    let scale = 1.0 / (f * f) as f32;
    // Block sums in integers (at most 64 x 255, exact in an f32, so the
    // same values as summing in floating point), one row of blocks at a
    // time.
    let add_row: fn(&mut [u32], &[u8]) = match f {
        2 => add_blocks::<2>,
        4 => add_blocks::<4>,
        8 => add_blocks::<8>,
        _ => add_blocks::<1>,
    };
    let mut sums = vec![0u32; cols];
    for (r, dst) in out.chunks_exact_mut(cols).enumerate() {
        sums.fill(0);
        for dr in 0..f {
            let start = (r * f + dr) * w;
            add_row(&mut sums, &pixels[start..start + cols * f]);
        }
        for (d, &s) in dst.iter_mut().zip(&sums) {
            *d = s as f32 * scale;
        }
    }
    Ok(Some(LumaImage {
        rows,
        cols,
        data: out,
        full_size: (w as u32, h as u32),
        scale: f as u32,
    }))
}

/// Adds each run of `F` bytes of `src` to its entry of `sums`.
fn add_blocks<const F: usize>(sums: &mut [u32], src: &[u8]) {
    for (s, block) in sums.iter_mut().zip(src.chunks_exact(F)) {
        *s += block.iter().map(|&v| u32::from(v)).sum::<u32>();
    }
}

/// PNG through the `png` crate with CRC and Adler-32 checks on: a damaged
/// PNG is reported, not decoded to guessed pixels. The first frame of an
/// APNG is used.
fn decode_png(data: &[u8], limits: &ImageLimits) -> Result<LumaImage, DecodeError> {
    let malformed = |e: png::DecodingError| DecodeError::Malformed(e.to_string());
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(data),
        png::Limits {
            bytes: limits.max_alloc as usize,
        },
    );
    decoder.ignore_checksums(false);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(malformed)?;
    let (w, h) = reader.info().size();
    check_size(w as u64, h as u64, limits)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DecodeError::Malformed("PNG output size overflows".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(malformed)?;
    let (rows, cols) = (frame.height as usize, frame.width as usize);
    let line = frame.line_size;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(DecodeError::Malformed("unexpanded palette".into())),
    };
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let row = &buf[r * line..r * line + cols * channels];
        for p in row.chunks_exact(channels) {
            out.push(if channels < 3 {
                p[0] as f32
            } else {
                luma(p[0], p[1], p[2])
            });
        }
    }
    Ok(LumaImage {
        rows,
        cols,
        data: out,
        full_size: (w, h),
        scale: 1,
    })
}

fn decode_full(data: &[u8], kind: Kind, limits: &ImageLimits) -> Result<LumaImage, DecodeError> {
    use image::ImageDecoder;
    let malformed = |e: &dyn std::fmt::Display| DecodeError::Malformed(e.to_string());
    let mut reader = image::ImageReader::new(Cursor::new(data));
    match kind {
        // The sniffer knows (the image crate's guesser misses BigTIFF).
        Kind::Tiff => reader.set_format(image::ImageFormat::Tiff),
        Kind::Jpeg => reader.set_format(image::ImageFormat::Jpeg),
        _ => reader = reader.with_guessed_format().map_err(|e| malformed(&e))?,
    }
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(image_limits);
    let decoder = reader.into_decoder().map_err(|e| malformed(&e))?;
    let (w, h) = decoder.dimensions();
    check_size(w as u64, h as u64, limits)?;
    let image = image::DynamicImage::from_decoder(decoder).map_err(|e| malformed(&e))?;
    let rgb = image.into_rgb8();
    let data = rgb.pixels().map(|p| luma(p[0], p[1], p[2])).collect();
    Ok(LumaImage {
        rows: h as usize,
        cols: w as usize,
        data,
        full_size: (w, h),
        scale: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::image::pdq::MIN_HASHABLE_DIM;

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                (x * 7 % 256) as u8,
                (y * 3 % 256) as u8,
                ((x + y) % 256) as u8,
            ])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&picture)
            .unwrap();
        out
    }

    /// Pictures narrower than the reduction factor decode (they once made
    /// the averaging panic), and the fast path leaves a picture hashable
    /// exactly when the full decode does (a banner is not averaged down to
    /// an unhashable strip).
    #[test]
    fn narrow_jpegs_decode_and_stay_hashable() {
        let limits = ImageLimits::default();
        let full_limits = ImageLimits {
            fast_jpeg_min_side: 0,
            ..limits.clone()
        };
        let hashable = |p: &LumaImage| p.rows >= MIN_HASHABLE_DIM && p.cols >= MIN_HASHABLE_DIM;
        for (w, h) in [
            (1, 600),
            (600, 1),
            (3, 2100),
            (20, 4000),
            (4000, 20),
            (7, 9),
            (1920, 1080),
        ] {
            let data = jpeg(w, h);
            let fast = decode_luma(&data, Kind::Jpeg, &limits)
                .unwrap_or_else(|e| panic!("{w}x{h}: {}", e.detail()));
            let full = decode_luma(&data, Kind::Jpeg, &full_limits).unwrap();
            assert_eq!(
                hashable(&fast),
                hashable(&full),
                "{w}x{h}: {}x{}",
                fast.cols,
                fast.rows
            );
        }
    }
}
