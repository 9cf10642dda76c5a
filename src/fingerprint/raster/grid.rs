//! Decoding rasters to a [`Grid`] of canonical sample values: GeoTIFF (any
//! layout the `tiff` crate reads) and ESRI ASCII grids.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// Georeferencing read from the file, shown in fingerprints and evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoInfo {
    /// GeoTIFF ModelPixelScale (x, y, z), or the ASCII grid's cell size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_scale: Option<Vec<f64>>,
    /// GeoTIFF ModelTiepoint (i, j, k, x, y, z), or the ASCII grid's
    /// lower-left corner as (0, nrows, 0, x, y, 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tie_point: Option<Vec<f64>>,
    /// The GeoKey directory's EPSG code (projected, else geographic), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsg: Option<u32>,
    /// The NoData value (GDAL_NODATA tag or NODATA_value line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodata: Option<f64>,
}

/// A decoded raster: `bands` planes of `height` rows of `width` samples,
/// each held as its numeric value (f64 holds every u8..i32 and f32 value
/// exactly).
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Planes, each `width * height` values, row-major.
    pub bands: Vec<Vec<f64>>,
    /// The stored sample type, e.g. `u16`, `f32`, `ascii`.
    pub sample_type: String,
    /// Georeferencing.
    pub geo: GeoInfo,
}

/// Why a raster could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GridError {
    /// width x height x bands exceeds the sample budget.
    TooLarge(u64),
    /// A series table of this many cells exceeds the table budget.
    SeriesTooLarge(u64),
    /// The decoder rejected the data or its layout.
    Malformed(String),
    /// A compression or sample layout the decoder does not support.
    Unsupported(String),
    /// A raster format this build recognises but does not decode.
    UnsupportedFormat(crate::sniff::Kind),
}

impl GridError {
    /// The stable reason code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            GridError::TooLarge(_) => "limits.raster_samples",
            GridError::SeriesTooLarge(_) => "limits.series_cells",
            GridError::Malformed(_) => "raster.decode_failed",
            GridError::Unsupported(_) => "raster.unsupported",
            GridError::UnsupportedFormat(kind) => match kind {
                crate::sniff::Kind::NetCdf => "raster.unsupported.netcdf",
                crate::sniff::Kind::Hdf5 => "raster.unsupported.hdf5",
                crate::sniff::Kind::Grib => "raster.unsupported.grib",
                crate::sniff::Kind::Jpeg2000 => "raster.unsupported.jpeg2000",
                crate::sniff::Kind::Hfa => "raster.unsupported.hfa",
                _ => "raster.unsupported",
            },
        }
    }

    /// A human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            GridError::TooLarge(n) => format!("{n} samples exceed the raster sample budget"),
            GridError::SeriesTooLarge(n) => {
                format!("a series table of {n} cells exceeds the table budget")
            }
            GridError::Malformed(m) => format!("cannot decode raster: {m}"),
            GridError::Unsupported(m) => format!("raster not supported: {m}"),
            GridError::UnsupportedFormat(kind) => format!(
                "{} is a raster format this build recognises but does not decode; its samples were not examined",
                kind.name()
            ),
        }
    }
}

const TAG_PIXEL_SCALE: u16 = 33550;
const TAG_TIE_POINT: u16 = 33922;
const TAG_GEO_KEYS: u16 = 34735;
const TAG_GDAL_NODATA: u16 = 42113;

/// The shape and metadata of a raster, known before its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct RasterHeader {
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bands.
    pub bands: usize,
    /// The stored sample type, e.g. `u16`, `f32`, `ascii`.
    pub sample_type: String,
    /// Georeferencing.
    pub geo: GeoInfo,
}

/// Receives a raster row by row: `header` once, then `row(band, row,
/// values)` with each band's rows in order (bands may interleave).
pub trait RowSink {
    /// The raster's shape, before any row.
    fn header(&mut self, header: &RasterHeader);
    /// One row of one band.
    fn row(&mut self, band: usize, row: usize, values: &[f64]);
}

/// Collects rows into a [`Grid`] (whole-grid decoding, for tests).
#[cfg(any(test, feature = "internals"))]
struct GridSink(Option<Grid>);

#[cfg(any(test, feature = "internals"))]
impl RowSink for GridSink {
    fn header(&mut self, h: &RasterHeader) {
        self.0 = Some(Grid {
            width: h.width,
            height: h.height,
            bands: vec![vec![0.0; h.width * h.height]; h.bands],
            sample_type: h.sample_type.clone(),
            geo: h.geo.clone(),
        });
    }

    fn row(&mut self, band: usize, row: usize, values: &[f64]) {
        if let Some(g) = &mut self.0 {
            let w = g.width;
            g.bands[band][row * w..(row + 1) * w].copy_from_slice(values);
        }
    }
}

/// Decodes the first (full-resolution) image of a TIFF whole (tests and
/// benchmarks; the pipeline streams rows).
#[cfg(any(test, feature = "internals"))]
pub fn decode_tiff(data: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let mut sink = GridSink(None);
    read_tiff_rows(data, max_samples, &mut sink)?;
    sink.0
        .ok_or_else(|| GridError::Malformed("no image".into()))
}

fn tiff_error(e: tiff::TiffError) -> GridError {
    match e {
        tiff::TiffError::UnsupportedError(u) => GridError::Unsupported(u.to_string()),
        other => GridError::Malformed(other.to_string()),
    }
}

/// Converts a decoded chunk to f64 values (every supported type is exact).
/// One decoded strip or tile, kept in its native sample type (converting
/// a whole chunk to f64 would take eight times a byte raster's memory).
struct Chunk(tiff::decoder::DecodingResult);

impl Chunk {
    fn new(result: tiff::decoder::DecodingResult) -> Result<Chunk, GridError> {
        use tiff::decoder::DecodingResult as D;
        if matches!(result, D::U64(_) | D::I64(_)) {
            return Err(GridError::Unsupported("64-bit integer samples".into()));
        }
        Ok(Chunk(result))
    }

    fn sample_type(&self) -> &'static str {
        use tiff::decoder::DecodingResult as D;
        match &self.0 {
            D::U8(_) => "u8",
            D::I8(_) => "i8",
            D::U16(_) => "u16",
            D::I16(_) => "i16",
            D::U32(_) => "u32",
            D::I32(_) => "i32",
            D::F32(_) => "f32",
            D::F64(_) => "f64",
            D::F16(_) => "f16",
            D::U64(_) | D::I64(_) => "i64",
        }
    }

    fn len(&self) -> usize {
        use tiff::decoder::DecodingResult as D;
        match &self.0 {
            D::U8(v) => v.len(),
            D::I8(v) => v.len(),
            D::U16(v) => v.len(),
            D::I16(v) => v.len(),
            D::U32(v) => v.len(),
            D::I32(v) => v.len(),
            D::F32(v) => v.len(),
            D::F64(v) => v.len(),
            D::F16(v) => v.len(),
            D::U64(v) => v.len(),
            D::I64(v) => v.len(),
        }
    }

    /// Fills `out[k]` with sample `start + k * step` as f64 (the caller
    /// checked the chunk holds them).
    fn copy_to(&self, start: usize, step: usize, out: &mut [f64]) {
        fn spread<T: Copy>(
            v: &[T],
            start: usize,
            step: usize,
            out: &mut [f64],
            f: impl Fn(T) -> f64,
        ) {
            for (k, o) in out.iter_mut().enumerate() {
                *o = f(v[start + k * step]);
            }
        }
        use tiff::decoder::DecodingResult as D;
        match &self.0 {
            D::U8(v) => spread(v, start, step, out, f64::from),
            D::I8(v) => spread(v, start, step, out, f64::from),
            D::U16(v) => spread(v, start, step, out, f64::from),
            D::I16(v) => spread(v, start, step, out, f64::from),
            D::U32(v) => spread(v, start, step, out, f64::from),
            D::I32(v) => spread(v, start, step, out, f64::from),
            D::F32(v) => spread(v, start, step, out, f64::from),
            D::F64(v) => spread(v, start, step, out, |x| x),
            D::F16(v) => spread(v, start, step, out, f64::from),
            D::U64(_) | D::I64(_) => out.fill(f64::NAN),
        }
    }
}

/// Samples of one block of rows assembled (as f64) from a row of tiles:
/// 256 MiB. Strips need no block: their rows go to the sink straight from
/// the decoded chunk, whose size the `tiff` crate bounds (256 MiB).
const MAX_TIFF_BLOCK_SAMPLES: u64 = 32 << 20;

/// Streams the first (full-resolution) image of a TIFF to `sink` one strip
/// or one row of tiles at a time, so memory holds one block of rows, not
/// the raster. Strips and tiles, chunky and planar layouts, and everything
/// the `tiff` crate decompresses are supported.
pub fn read_tiff_rows(
    data: &[u8],
    max_samples: u64,
    sink: &mut dyn RowSink,
) -> Result<RasterHeader, GridError> {
    use tiff::decoder::{ChunkType, Decoder, Limits};
    use tiff::tags::Tag;
    let mut decoder = Decoder::new(Cursor::new(data)).map_err(tiff_error)?;
    let (w, h) = decoder.dimensions().map_err(tiff_error)?;
    let bands: u16 = decoder
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .map_err(tiff_error)?
        .unwrap_or(1);
    let samples = (w as u64)
        .checked_mul(h as u64)
        .and_then(|n| n.checked_mul(bands.max(1) as u64))
        .unwrap_or(u64::MAX);
    if samples > max_samples {
        return Err(GridError::TooLarge(samples));
    }
    if w == 0 || h == 0 || bands == 0 {
        return Err(GridError::Malformed(format!(
            "empty raster {w}x{h}x{bands}"
        )));
    }
    let planar = decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(tiff_error)?
        == Some(2);
    let geo = GeoInfo {
        pixel_scale: f64_vec(&mut decoder, TAG_PIXEL_SCALE),
        tie_point: f64_vec(&mut decoder, TAG_TIE_POINT),
        epsg: geo_epsg(&mut decoder),
        nodata: decoder
            .find_tag(Tag::Unknown(TAG_GDAL_NODATA))
            .ok()
            .flatten()
            .and_then(|v| v.into_string().ok())
            .and_then(|s| s.trim_matches(char::from(0)).trim().parse().ok()),
    };
    let mut decoder = decoder.with_limits(Limits::default());
    let (width, height, nb) = (w as usize, h as usize, bands as usize);
    let (cw, ch) = decoder.chunk_dimensions();
    let (cw, ch) = (cw.max(1) as usize, ch.max(1) as usize);
    let across = match decoder.get_chunk_type() {
        ChunkType::Strip => 1,
        ChunkType::Tile => width.div_ceil(cw),
    };
    let down = height.div_ceil(ch);
    let total = match decoder.get_chunk_type() {
        ChunkType::Strip => decoder.strip_count().map_err(tiff_error)? as usize,
        ChunkType::Tile => decoder.tile_count().map_err(tiff_error)? as usize,
    };
    let planes = if planar { nb } else { 1 };
    let per_chunk = if planar { 1 } else { nb };
    // Working memory is bounded whatever the header says: one decoded chunk
    // in its native type, one row, and for tiles one block of rows spanning
    // the width. Tiles laid out wider than that allows are refused rather
    // than assembled in gigabytes.
    let tiled = matches!(decoder.get_chunk_type(), ChunkType::Tile);
    let block_samples = (ch.min(height) as u64 * width as u64).saturating_mul(per_chunk as u64);
    if tiled && block_samples > MAX_TIFF_BLOCK_SAMPLES {
        return Err(GridError::Unsupported(format!(
            "tiles {ch} rows high across a raster {width} wide: a row of tiles takes more working memory than a raster item may use ({MAX_TIFF_BLOCK_SAMPLES} samples)"
        )));
    }
    if total < across * down * planes {
        return Err(GridError::Malformed(format!(
            "{total} chunks for a {width}x{height}x{nb} raster"
        )));
    }
    let mut header = RasterHeader {
        width,
        height,
        bands: nb,
        sample_type: String::new(),
        geo,
    };
    let mut announced = false;
    let mut block: Vec<f64> = Vec::new();
    // Sized after the first chunk decodes: nothing is allocated from the
    // header's numbers alone (a 450-byte file claiming 16384 x 16384 f64
    // samples in one strip fails at its data, not after a 2 GB fill).
    let mut row: Vec<f64> = Vec::new();
    for plane in 0..planes {
        for cr in 0..down {
            let rows_here = ch.min(height - cr * ch);
            block.clear();
            for cc in 0..across {
                let index = (plane * across * down + cr * across + cc) as u32;
                let chunk = Chunk::new(decoder.read_chunk(index).map_err(tiff_error)?)?;
                if !announced {
                    header.sample_type = chunk.sample_type().to_string();
                    sink.header(&header);
                    announced = true;
                    row.resize(width, 0.0);
                }
                let (dw, dh) = decoder.chunk_data_dimensions(index);
                let (dw, dh) = (dw as usize, dh as usize);
                let x0 = cc * cw;
                if dh < rows_here || x0 + dw > width || chunk.len() < dw * dh * per_chunk {
                    return Err(GridError::Malformed(format!(
                        "chunk {index} has {dw}x{dh} samples"
                    )));
                }
                if !tiled {
                    // A strip spans the width: rows go out as they are.
                    for r in 0..rows_here {
                        for b in 0..per_chunk {
                            chunk.copy_to(r * dw * per_chunk + b, per_chunk, &mut row);
                            sink.row(if planar { plane } else { b }, cr * ch + r, &row);
                        }
                    }
                    continue;
                }
                if block.is_empty() {
                    block.resize(rows_here * width * per_chunk, 0.0);
                }
                for r in 0..rows_here {
                    let at = (r * width + x0) * per_chunk;
                    chunk.copy_to(r * dw * per_chunk, 1, &mut block[at..at + dw * per_chunk]);
                }
            }
            if !tiled {
                continue;
            }
            for r in 0..rows_here {
                let src = &block[r * width * per_chunk..(r + 1) * width * per_chunk];
                for b in 0..per_chunk {
                    for (x, v) in row.iter_mut().enumerate() {
                        *v = src[x * per_chunk + b];
                    }
                    sink.row(if planar { plane } else { b }, cr * ch + r, &row);
                }
            }
        }
    }
    Ok(header)
}

fn f64_vec<R: std::io::Read + std::io::Seek>(
    d: &mut tiff::decoder::Decoder<R>,
    tag: u16,
) -> Option<Vec<f64>> {
    d.find_tag(tiff::tags::Tag::Unknown(tag))
        .ok()
        .flatten()?
        .into_f64_vec()
        .ok()
}

/// ProjectedCSTypeGeoKey (3072), else GeographicTypeGeoKey (2048).
fn geo_epsg<R: std::io::Read + std::io::Seek>(d: &mut tiff::decoder::Decoder<R>) -> Option<u32> {
    let keys = d
        .find_tag(tiff::tags::Tag::Unknown(TAG_GEO_KEYS))
        .ok()
        .flatten()?
        .into_u16_vec()
        .ok()?;
    let mut found = None;
    for entry in keys.chunks_exact(4).skip(1) {
        let (id, location, value) = (entry[0], entry[1], entry[3]);
        if location == 0 && (id == 3072 || (id == 2048 && found.is_none())) && value != 32767 {
            found = Some(value as u32);
        }
    }
    found
}

/// Parses an ESRI ASCII grid (what GDAL's AAIGrid writes) whole (tests).
#[cfg(any(test, feature = "internals"))]
pub fn decode_ascii_grid(data: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let mut sink = GridSink(None);
    read_ascii_rows(data, max_samples, &mut sink)?;
    sink.0.ok_or_else(|| GridError::Malformed("no grid".into()))
}

/// Streams an ESRI ASCII grid to `sink` row by row.
pub fn read_ascii_rows(
    data: &[u8],
    max_samples: u64,
    sink: &mut dyn RowSink,
) -> Result<RasterHeader, GridError> {
    let text = std::str::from_utf8(data).map_err(|_| GridError::Malformed("not UTF-8".into()))?;
    let mut tokens = text.split_ascii_whitespace().peekable();
    let mut fields = std::collections::HashMap::new();
    while let Some(tok) = tokens.peek() {
        if tok.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            let key = tokens.next().unwrap_or_default().to_ascii_lowercase();
            let value = tokens
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| GridError::Malformed(format!("header {key} has no number")))?;
            fields.insert(key, value);
        } else {
            break;
        }
    }
    let get = |k: &str| fields.get(k).copied();
    let (Some(ncols), Some(nrows)) = (get("ncols"), get("nrows")) else {
        return Err(GridError::Malformed("ncols/nrows missing".into()));
    };
    if !(ncols >= 1.0 && nrows >= 1.0) || ncols.fract() != 0.0 || nrows.fract() != 0.0 {
        return Err(GridError::Malformed(format!("bad size {ncols}x{nrows}")));
    }
    // Compared as f64 first: a size past any budget must not wrap to a
    // small product (2^32 x 2^32 is 0 in u64).
    if ncols * nrows > max_samples as f64 {
        return Err(GridError::TooLarge(
            (ncols * nrows).min(u64::MAX as f64) as u64
        ));
    }
    let (width, height) = (ncols as usize, nrows as usize);
    let samples = width as u64 * height as u64;
    if samples > max_samples {
        return Err(GridError::TooLarge(samples));
    }
    let cell = get("cellsize");
    let corner = get("xllcorner")
        .or(get("xllcenter"))
        .zip(get("yllcorner").or(get("yllcenter")));
    let header = RasterHeader {
        width,
        height,
        bands: 1,
        sample_type: "ascii".into(),
        geo: GeoInfo {
            pixel_scale: cell.map(|c| vec![c, c, 0.0]),
            tie_point: corner.map(|(x, y)| vec![0.0, nrows, 0.0, x, y, 0.0]),
            epsg: None,
            nodata: get("nodata_value"),
        },
    };
    sink.header(&header);
    let mut row = Vec::with_capacity(width);
    for r in 0..height {
        row.clear();
        for _ in 0..width {
            let tok = tokens
                .next()
                .ok_or_else(|| GridError::Malformed(format!("grid ends in row {r} of {height}")))?;
            row.push(
                tok.parse::<f64>()
                    .map_err(|_| GridError::Malformed(format!("not a number: {tok:.20}")))?,
            );
        }
        sink.row(0, r, &row);
    }
    if tokens.next().is_some() {
        return Err(GridError::Malformed("values after the last row".into()));
    }
    Ok(header)
}
