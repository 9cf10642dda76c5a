//! 16-bit PNGs as rasters: what `gdal_translate -of PNG` writes for an
//! elevation model. Gray (and gray with alpha) gives one band, RGB three;
//! a grayscale `tRNS` value (GDAL's NoData) is the NoData marker. The
//! image signal still reads the same file as a picture.

use std::io::Cursor;

use super::grid::{GeoInfo, Grid, GridError};

/// Whether a PNG's header says 16-bit samples (IHDR bit depth).
pub fn is_png16(data: &[u8]) -> bool {
    data.len() > 25 && &data[12..16] == b"IHDR" && data[24] == 16
}

/// Decodes a 16-bit PNG's samples (checksums enforced), within
/// `max_samples`.
pub fn read(data: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let malformed = |e: png::DecodingError| GridError::Malformed(format!("png: {e}"));
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(data),
        png::Limits {
            bytes: (max_samples * 2).min(usize::MAX as u64) as usize,
        },
    );
    decoder.ignore_checksums(false);
    let mut reader = decoder.read_info().map_err(malformed)?;
    let info = reader.info();
    // Rows are read as 2 bytes a sample: any other depth is not this
    // reader's (callers check `is_png16` first; this keeps it safe alone).
    if info.bit_depth != png::BitDepth::Sixteen {
        return Err(GridError::Unsupported(format!(
            "{:?}-bit PNG: only 16-bit PNGs are rasters",
            info.bit_depth as u8
        )));
    }
    let (w, h) = info.size();
    let channels = match info.color_type {
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => 1,
        png::ColorType::Rgb | png::ColorType::Rgba => 3,
        png::ColorType::Indexed => {
            return Err(GridError::Unsupported("indexed PNG".into()));
        }
    };
    let stride = match info.color_type {
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgba => 4,
        _ => channels,
    };
    let nodata = match (info.color_type, info.trns.as_deref()) {
        (png::ColorType::Grayscale, Some([hi, lo, ..])) => {
            Some(f64::from(u16::from_be_bytes([*hi, *lo])))
        }
        _ => None,
    };
    let total = u64::from(w) * u64::from(h) * channels as u64;
    if total > max_samples {
        return Err(GridError::TooLarge(total));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| GridError::Malformed("png: output size overflows".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(malformed)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let mut bands = vec![Vec::with_capacity(width * height); channels];
    for r in 0..height {
        let row = &buf[r * frame.line_size..r * frame.line_size + width * stride * 2];
        for px in row.chunks_exact(stride * 2) {
            for (c, band) in bands.iter_mut().enumerate() {
                let v = f64::from(u16::from_be_bytes([px[2 * c], px[2 * c + 1]]));
                band.push(if nodata == Some(v) { f64::NAN } else { v });
            }
        }
    }
    Ok(Grid {
        width,
        height,
        bands,
        sample_type: "u16".into(),
        geo: GeoInfo::default(),
    })
}
