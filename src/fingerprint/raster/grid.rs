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
    /// The decoder rejected the data or its layout.
    Malformed(String),
    /// A compression or sample layout the decoder does not support.
    Unsupported(String),
}

impl GridError {
    /// The stable reason code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            GridError::TooLarge(_) => "limits.raster_samples",
            GridError::Malformed(_) => "raster.decode_failed",
            GridError::Unsupported(_) => "raster.unsupported",
        }
    }

    /// A human-readable detail.
    pub fn detail(&self) -> String {
        match self {
            GridError::TooLarge(n) => format!("{n} samples exceed the raster sample budget"),
            GridError::Malformed(m) => format!("cannot decode raster: {m}"),
            GridError::Unsupported(m) => format!("raster not supported: {m}"),
        }
    }
}

const TAG_PIXEL_SCALE: u16 = 33550;
const TAG_TIE_POINT: u16 = 33922;
const TAG_GEO_KEYS: u16 = 34735;
const TAG_GDAL_NODATA: u16 = 42113;

/// Decodes the first (full-resolution) image of a TIFF.
pub fn decode_tiff(data: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    use tiff::decoder::{Decoder, DecodingResult, Limits};
    use tiff::tags::Tag;
    let malformed = |e: tiff::TiffError| match e {
        tiff::TiffError::UnsupportedError(u) => GridError::Unsupported(u.to_string()),
        other => GridError::Malformed(other.to_string()),
    };
    let mut decoder = Decoder::new(Cursor::new(data)).map_err(malformed)?;
    let (w, h) = decoder.dimensions().map_err(malformed)?;
    let bands: u16 = decoder
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .map_err(malformed)?
        .unwrap_or(1);
    let samples = w as u64 * h as u64 * bands.max(1) as u64;
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
        .map_err(malformed)?
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
    let budget = (max_samples.saturating_mul(8)).min(usize::MAX as u64) as usize;
    let mut decoder = decoder.with_limits({
        let mut l = Limits::default();
        l.decoding_buffer_size = budget;
        l.intermediate_buffer_size = budget;
        l
    });
    let mut result = DecodingResult::U8(Vec::new());
    decoder
        .read_image_to_buffer(&mut result)
        .map_err(malformed)?;
    let (values, sample_type): (Vec<f64>, &str) = match result {
        DecodingResult::U8(v) => (v.into_iter().map(f64::from).collect(), "u8"),
        DecodingResult::I8(v) => (v.into_iter().map(f64::from).collect(), "i8"),
        DecodingResult::U16(v) => (v.into_iter().map(f64::from).collect(), "u16"),
        DecodingResult::I16(v) => (v.into_iter().map(f64::from).collect(), "i16"),
        DecodingResult::U32(v) => (v.into_iter().map(f64::from).collect(), "u32"),
        DecodingResult::I32(v) => (v.into_iter().map(f64::from).collect(), "i32"),
        DecodingResult::F32(v) => (v.into_iter().map(f64::from).collect(), "f32"),
        DecodingResult::F64(v) => (v, "f64"),
        DecodingResult::F16(v) => (v.into_iter().map(f64::from).collect(), "f16"),
        DecodingResult::U64(_) | DecodingResult::I64(_) => {
            return Err(GridError::Unsupported("64-bit integer samples".into()));
        }
    };
    let (width, height, nb) = (w as usize, h as usize, bands as usize);
    if values.len() < width * height * nb {
        return Err(GridError::Malformed(format!(
            "decoded {} samples, expected {}",
            values.len(),
            width * height * nb
        )));
    }
    let plane = width * height;
    let bands = if nb == 1 {
        let mut values = values;
        values.truncate(plane);
        vec![values]
    } else {
        (0..nb)
            .map(|b| {
                if planar {
                    values[b * plane..(b + 1) * plane].to_vec()
                } else {
                    values
                        .iter()
                        .skip(b)
                        .step_by(nb)
                        .take(plane)
                        .copied()
                        .collect()
                }
            })
            .collect()
    };
    Ok(Grid {
        width,
        height,
        bands,
        sample_type: sample_type.to_string(),
        geo,
    })
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

/// Whether text looks like an ESRI ASCII grid header.
pub fn is_ascii_grid(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(64)]).to_ascii_lowercase();
    text.trim_start().starts_with("ncols")
}

/// Parses an ESRI ASCII grid (what GDAL's AAIGrid writes).
pub fn decode_ascii_grid(data: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let text = std::str::from_utf8(data).map_err(|_| GridError::Malformed("not UTF-8".into()))?;
    let mut tokens = text.split_ascii_whitespace().peekable();
    let mut header = std::collections::HashMap::new();
    while let Some(tok) = tokens.peek() {
        if tok.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            let key = tokens.next().unwrap_or_default().to_ascii_lowercase();
            let value = tokens
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| GridError::Malformed(format!("header {key} has no number")))?;
            header.insert(key, value);
        } else {
            break;
        }
    }
    let get = |k: &str| header.get(k).copied();
    let (Some(ncols), Some(nrows)) = (get("ncols"), get("nrows")) else {
        return Err(GridError::Malformed("ncols/nrows missing".into()));
    };
    let (width, height) = (ncols as usize, nrows as usize);
    let samples = width as u64 * height as u64;
    if samples > max_samples {
        return Err(GridError::TooLarge(samples));
    }
    let mut values = Vec::with_capacity(samples as usize);
    for tok in tokens.take(samples as usize + 1) {
        values.push(
            tok.parse::<f64>()
                .map_err(|_| GridError::Malformed(format!("not a number: {tok:.20}")))?,
        );
    }
    if values.len() != samples as usize {
        return Err(GridError::Malformed(format!(
            "{} values for a {width}x{height} grid",
            values.len()
        )));
    }
    let cell = get("cellsize");
    let corner = get("xllcorner")
        .or(get("xllcenter"))
        .zip(get("yllcorner").or(get("yllcenter")));
    Ok(Grid {
        width,
        height,
        bands: vec![values],
        sample_type: "ascii".into(),
        geo: GeoInfo {
            pixel_scale: cell.map(|c| vec![c, c, 0.0]),
            tie_point: corner.map(|(x, y)| vec![0.0, nrows, 0.0, x, y, 0.0]),
            epsg: None,
            nodata: get("nodata_value"),
        },
    })
}
