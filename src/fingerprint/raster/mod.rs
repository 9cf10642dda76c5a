//! The `raster` signal: sample-level fingerprints of GeoTIFFs and ASCII
//! grids that survive re-encoding, retiling, type widening, windows and
//! band subsets, plus a perceptual hash per band for lossy and resampled
//! copies.
//!
//! Every sample becomes its numeric value in one canonical 64-bit form
//! (f64 bits, so a UInt16 200 and a Float32 200.0 agree; -0 is 0; NaN and
//! NoData are one marker). From that:
//! * a digest per band and for the whole raster (identical samples in any
//!   container, compression, tiling or type);
//! * window anchors (module `anchors`): a cover of sample blocks (a grid in
//!   informative content), so that any window of at least 32 x 32 samples
//!   (with the default parameters) cut out at any offset holds a stored
//!   anchor, which the outgoing side finds by looking up every block
//!   position and which locates the window by band, row and column; about
//!   one anchor per 625 samples is stored instead of every row;
//! * per band, a PDQ hash of the band stretched to 8 bits (2nd to 98th
//!   percentile) and averaged down to at most 512 samples a side.

internal_mod!(anchors);
internal_mod!(envi);
internal_mod!(grib);
internal_mod!(grid);
internal_mod!(hdf5);
internal_mod!(hfa);
internal_mod!(jpeg2000);
internal_mod!(netcdf);
internal_mod!(png16);
internal_mod!(sci);
internal_mod!(xyz);

use serde::{Serialize, Serializer};

use super::image::pdq::{self, Pdq};
use super::FingerprintParams;
use crate::sniff::Kind;
pub use anchors::{Anchor, AnchorChoice, AnchorFilter};
use anchors::{AnchorShape, BandAnchors};
use grid::RowSink;
pub use grid::{GeoInfo, Grid, GridError, RasterHeader};

/// The canonical form of NaN and NoData samples.
pub const CANONICAL_NODATA: u64 = 0x7FF8_0000_0000_0000;
/// Samples a decoder that holds the whole raster in memory may decode
/// (NetCDF, HDF5, GRIB, JPEG 2000, Imagine, ENVI, XYZ, 16-bit PNG): about
/// 1 GiB at peak. TIFFs and ASCII grids stream rows and have the larger
/// budget their caller gives.
pub const MAX_IN_MEMORY_SAMPLES: u64 = 64 << 20;
/// Longest side of the downsampled band a perceptual hash is taken from.
const PERCEPTUAL_SIDE: usize = 512;

/// One band's fingerprints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BandFp {
    /// Band (0-based).
    pub band: u16,
    /// Digest of the band's canonical samples.
    #[serde(serialize_with = "hex32")]
    pub digest: [u8; 32],
    /// PDQ of the stretched band.
    #[serde(serialize_with = "pdq_hex")]
    pub pdq: Pdq,
}

fn hex32<S: Serializer>(d: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::fingerprint::bytes::hex(d))
}

fn pdq_hex<S: Serializer>(p: &Pdq, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Pdq", 2)?;
    st.serialize_field("hash", &p.hash.to_hex())?;
    st.serialize_field("quality", &p.quality)?;
    st.end()
}

/// The raster signal's fingerprint of one raster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RasterFp {
    /// Samples per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// The stored sample type (`u16`, `f32`, `ascii`, ...).
    pub sample_type: String,
    /// Georeferencing tags.
    pub geo: GeoInfo,
    /// Digest of all bands' canonical samples.
    #[serde(serialize_with = "hex32")]
    pub digest: [u8; 32],
    /// Per-band digests and perceptual hashes.
    pub bands: Vec<BandFp>,
    /// Window anchors of every band (count shown in reports).
    #[serde(rename = "window_anchors", serialize_with = "count")]
    pub anchors: Vec<Anchor>,
    /// Where the samples came from inside a multi-variable file (a NetCDF
    /// variable), when that matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Other grids in the same file that were not decoded (fail closed:
    /// the item is `incomplete` while this is not empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unexamined: Vec<String>,
}

fn count<S: Serializer>(v: &[Anchor], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(v.len() as u64)
}

/// Canonical 64-bit form of a sample value.
#[inline]
pub fn canonical(v: f64, nodata: Option<f64>) -> u64 {
    if v.is_nan() || nodata.is_some_and(|n| n == v) {
        CANONICAL_NODATA
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// Decodes a raster of `kind` (TIFF or ASCII grid) and fingerprints it,
/// streaming rows so memory holds one block of rows, not the raster;
/// `anchors` says which window anchors to keep (the protected or the
/// outgoing side's).
pub fn fingerprint(
    data: &[u8],
    kind: Kind,
    params: &FingerprintParams,
    anchors: &AnchorChoice,
    max_samples: u64,
) -> Result<RasterFp, GridError> {
    let mut builder = RasterBuilder::new(params, anchors);
    let streamed = max_samples;
    let max_samples = max_samples.min(MAX_IN_MEMORY_SAMPLES);
    let header = match kind {
        Kind::AsciiGrid => grid::read_ascii_rows(data, streamed, &mut builder)?,
        Kind::Tiff => grid::read_tiff_rows(data, streamed, &mut builder)?,
        Kind::NetCdf | Kind::Hdf5 => {
            return scientific(data, kind, params, anchors, max_samples).raster;
        }
        Kind::Grib => {
            let g = grib::read(data, max_samples)?;
            let mut fp = fingerprint_grid(&g.grid, params, anchors);
            fp.source = Some(g.fields.join(", "));
            fp.unexamined.extend(g.skipped);
            return Ok(fp);
        }
        Kind::Hfa => {
            let h = hfa::read(data, max_samples)?;
            let mut fp = fingerprint_grid(&h.grid, params, anchors);
            fp.source = Some(format!("layers {}", h.layers.join(", ")));
            fp.unexamined.extend(h.skipped);
            return Ok(fp);
        }
        Kind::Jpeg2000 => {
            let grid = jpeg2000::read(data, max_samples)?;
            return Ok(fingerprint_grid(&grid, params, anchors));
        }
        Kind::Png => {
            let grid = png16::read(data, max_samples)?;
            return Ok(fingerprint_grid(&grid, params, anchors));
        }
        other => return Err(GridError::UnsupportedFormat(other)),
    };
    Ok(builder.finish(&header))
}

/// What a self-describing scientific file (NetCDF classic, NetCDF-4,
/// HDF5) holds, read once.
pub(crate) struct Scientific {
    /// Its series table for the records signal (`None` when it has none).
    pub series: Result<Option<sci::Series>, GridError>,
    /// The fingerprint of its raster.
    pub raster: Result<RasterFp, GridError>,
    /// Variables neither of them read (found by the `sci` module).
    pub unread: Vec<String>,
    /// Text outside the data long enough to examine as members (see
    /// the `sci` module).
    pub texts: Vec<(String, String)>,
}

impl Scientific {
    fn failed(e: GridError) -> Self {
        Scientific {
            series: Err(e.clone()),
            raster: Err(e),
            unread: Vec::new(),
            texts: Vec::new(),
        }
    }
}

/// A NetCDF or HDF5 file opened for its variables.
fn sci_file(
    data: &[u8],
    kind: Kind,
    max_samples: u64,
) -> Result<Box<dyn sci::SciFile + '_>, GridError> {
    Ok(match kind {
        Kind::NetCdf => Box::new(netcdf::ClassicFile::parse(data)?),
        Kind::Hdf5 => Box::new(hdf5::Hdf5File::open(data, max_samples)?),
        other => return Err(GridError::UnsupportedFormat(other)),
    })
}

/// Opens a NetCDF or HDF5 file once and reads its series, its raster and
/// its text (module `sci`).
pub(crate) fn scientific(
    data: &[u8],
    kind: Kind,
    params: &FingerprintParams,
    anchors: &AnchorChoice,
    max_samples: u64,
) -> Scientific {
    let max_samples = max_samples.min(MAX_IN_MEMORY_SAMPLES);
    let file = match sci_file(data, kind, max_samples) {
        Ok(f) => f,
        Err(e) => return Scientific::failed(e),
    };
    let series = sci::series(file.as_ref());
    let raster = sci::raster(file.as_ref(), kind, max_samples);
    let read = raster
        .as_ref()
        .map(|r| r.variables.clone())
        .unwrap_or_default();
    let unread = sci::unread(
        file.as_ref(),
        &read,
        series.as_ref().ok().and_then(Option::as_ref),
    );
    let raster = raster.map(|r| {
        let mut fp = fingerprint_grid(&r.grid, params, anchors);
        fp.source = Some(format!("variables {}", r.variables.join(", ")));
        fp.unexamined.extend(r.skipped);
        fp
    });
    let texts = file
        .texts()
        .into_iter()
        .filter(|(_, t)| t.len() >= sci::MIN_TEXT_MEMBER)
        .collect();
    Scientific {
        series,
        raster,
        unread,
        texts,
    }
}

/// Fingerprints a grid held in memory (the same result as streaming it).
pub fn fingerprint_grid(
    grid: &Grid,
    params: &FingerprintParams,
    anchors: &AnchorChoice,
) -> RasterFp {
    let header = RasterHeader {
        width: grid.width,
        height: grid.height,
        bands: grid.bands.len(),
        sample_type: grid.sample_type.clone(),
        geo: grid.geo.clone(),
    };
    let mut builder = RasterBuilder::new(params, anchors);
    builder.header(&header);
    for (b, samples) in grid.bands.iter().enumerate() {
        for (r, row) in samples.chunks_exact(grid.width.max(1)).enumerate() {
            builder.row(b, r, row);
        }
    }
    builder.finish(&header)
}

/// Running state of one band: its digest, and block sums for the
/// perceptual hash.
struct BandState {
    hasher: blake3::Hasher,
    sums: Vec<f64>,
    counts: Vec<u32>,
}

/// Builds a [`RasterFp`] from rows as they are decoded.
struct RasterBuilder {
    seed: u64,
    choice: AnchorChoice,
    anchor_block: usize,
    anchor_window: usize,
    width: usize,
    height: usize,
    nodata: Option<f64>,
    factor: usize,
    block_rows: usize,
    block_cols: usize,
    bands: Vec<BandState>,
    shape: Option<AnchorShape>,
    /// Anchor selection of the bands whose rows are arriving (created at a
    /// band's first row, finished at its last, so bands sent one after
    /// another hold one at a time).
    selecting: Vec<Option<BandAnchors>>,
    state_bytes: usize,
    anchors: Vec<Anchor>,
    unexamined: Vec<String>,
    canon: Vec<u64>,
    bytes: Vec<u8>,
}

impl RasterBuilder {
    fn new(params: &FingerprintParams, choice: &AnchorChoice) -> Self {
        RasterBuilder {
            seed: params.gear_seed,
            choice: choice.clone(),
            anchor_block: params.raster_anchor_block as usize,
            anchor_window: params.raster_anchor_window as usize,
            width: 0,
            height: 0,
            nodata: None,
            factor: 1,
            block_rows: 0,
            block_cols: 0,
            bands: Vec::new(),
            shape: None,
            selecting: Vec::new(),
            state_bytes: 0,
            anchors: Vec::new(),
            unexamined: Vec::new(),
            canon: Vec::new(),
            bytes: Vec::new(),
        }
    }

    fn finish(mut self, header: &RasterHeader) -> RasterFp {
        for (b, band) in self.selecting.iter_mut().enumerate() {
            // Rows that never came (a decoder that stopped early fails the
            // raster before this; kept so nothing is silently partial).
            if band.take().is_some() {
                self.unexamined
                    .push(format!("band {b}: rows missing for window anchors"));
            }
        }
        let mut whole = blake3::Hasher::new();
        whole.update(b"pugmark raster v1");
        for v in [
            header.width as u64,
            header.height as u64,
            header.bands as u64,
        ] {
            whole.update(&v.to_le_bytes());
        }
        let mut bands = Vec::with_capacity(self.bands.len());
        for (b, state) in self.bands.into_iter().enumerate() {
            let digest = *state.hasher.finalize().as_bytes();
            whole.update(&digest);
            let means: Vec<f64> = state
                .sums
                .iter()
                .zip(&state.counts)
                .map(|(s, &n)| if n > 0 { s / n as f64 } else { f64::NAN })
                .collect();
            bands.push(BandFp {
                band: b as u16,
                digest,
                pdq: stretched_pdq(&means, self.block_rows, self.block_cols),
            });
        }
        RasterFp {
            width: header.width as u32,
            height: header.height as u32,
            sample_type: header.sample_type.clone(),
            geo: header.geo.clone(),
            digest: *whole.finalize().as_bytes(),
            bands,
            anchors: self.anchors,
            source: None,
            unexamined: self.unexamined,
        }
    }

    /// Feeds a band's row to its anchor selection, starting the selection
    /// at the band's first row (within the memory budget) and finishing it
    /// at the last.
    fn select_anchors(&mut self, band: usize, r: usize) {
        let Some(shape) = self.shape else {
            return;
        };
        if r == 0 {
            let need = shape.state_bytes(self.width);
            if self.state_bytes + need > anchors::ANCHOR_STATE_BUDGET {
                self.unexamined.push(format!(
                    "band {band}: window anchors skipped (too many interleaved bands this wide)"
                ));
                return;
            }
            self.state_bytes += need;
            self.selecting[band] = Some(BandAnchors::new(
                band as u16,
                self.width,
                self.height,
                shape,
                self.seed,
                self.choice.clone(),
            ));
        }
        let Some(selection) = self.selecting[band].as_mut() else {
            return;
        };
        if selection.rows_seen() != r {
            self.selecting[band] = None;
            self.unexamined
                .push(format!("band {band}: rows out of order for window anchors"));
            return;
        }
        selection.push_row(&self.canon);
        if r + 1 == self.height {
            if let Some(done) = self.selecting[band].take() {
                let (anchors, incomplete) = done.finish();
                self.anchors.extend(anchors);
                if let Some(why) = incomplete {
                    self.unexamined.push(format!(
                        "band {band}: {why} ({} anchors at most), not all windows covered",
                        anchors::max_anchors(self.width, self.height)
                    ));
                }
                self.state_bytes -= shape.state_bytes(self.width);
            }
        }
    }
}

impl grid::RowSink for RasterBuilder {
    fn header(&mut self, h: &RasterHeader) {
        self.width = h.width;
        self.height = h.height;
        self.nodata = h.geo.nodata;
        self.shape = AnchorShape::new(h.height, h.width, self.anchor_block, self.anchor_window);
        self.selecting = (0..h.bands).map(|_| None).collect();
        self.factor = h.width.max(h.height).div_ceil(PERCEPTUAL_SIDE).max(1);
        self.block_rows = h.height / self.factor;
        self.block_cols = h.width / self.factor;
        let blocks = self.block_rows * self.block_cols;
        self.bands = (0..h.bands)
            .map(|_| {
                let mut hasher = blake3::Hasher::new();
                hasher.update(b"pugmark raster band v1");
                hasher.update(&(h.width as u64).to_le_bytes());
                hasher.update(&(h.height as u64).to_le_bytes());
                BandState {
                    hasher,
                    sums: vec![0.0; blocks],
                    counts: vec![0; blocks],
                }
            })
            .collect();
    }

    fn row(&mut self, band: usize, r: usize, values: &[f64]) {
        let nodata = self.nodata;
        self.canon.clear();
        self.canon
            .extend(values.iter().map(|&v| canonical(v, nodata)));
        self.bytes.clear();
        for v in &self.canon {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bands[band].hasher.update(&self.bytes);
        self.select_anchors(band, r);
        let state = &mut self.bands[band];
        let br = r / self.factor;
        if br < self.block_rows {
            let line = br * self.block_cols;
            let used = values.len().min(self.block_cols * self.factor);
            let blocks = values[..used].chunks(self.factor);
            let sums = state.sums[line..].iter_mut();
            let counts = state.counts[line..].iter_mut();
            for ((block, sum), count) in blocks.zip(sums).zip(counts) {
                for &v in block {
                    if v.is_finite() && nodata != Some(v) {
                        *sum += v;
                        *count += 1;
                    }
                }
            }
        }
    }
}

/// PDQ of a band's block means (at most [`PERCEPTUAL_SIDE`] a side)
/// stretched from their 2nd..98th percentile to 0..255; blocks without a
/// valid sample are 0.
fn stretched_pdq(means: &[f64], rows: usize, cols: usize) -> Pdq {
    let mut valid: Vec<f64> = means.iter().copied().filter(|v| v.is_finite()).collect();
    if valid.len() < 2 || rows < pdq::MIN_HASHABLE_DIM || cols < pdq::MIN_HASHABLE_DIM {
        return Pdq {
            hash: pdq::PdqHash::default(),
            quality: 0,
        };
    }
    let n = valid.len();
    let lo = *valid.select_nth_unstable_by(n * 2 / 100, f64::total_cmp).1;
    let hi = *valid.select_nth_unstable_by(n * 98 / 100, f64::total_cmp).1;
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut luma: Vec<f32> = means
        .iter()
        .map(|&m| {
            if m.is_finite() {
                ((m - lo) / span * 255.0).clamp(0.0, 255.0) as f32
            } else {
                0.0
            }
        })
        .collect();
    pdq::pdq_from_luma(&mut luma, rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_values_agree_across_types() {
        assert_eq!(
            canonical(f64::from(200u16), None),
            canonical(200.0f32 as f64, None)
        );
        assert_eq!(canonical(-0.0, None), canonical(0.0, None));
        assert_eq!(canonical(f64::NAN, None), CANONICAL_NODATA);
        assert_eq!(canonical(65535.0, Some(65535.0)), CANONICAL_NODATA);
    }
}

/// A small copy of a raster for people to look at (the evidence report):
/// every `step`-th sample of every `step`-th row of each band.
#[derive(Clone, Debug, PartialEq)]
pub struct RasterPreview {
    /// Samples per row of the raster itself.
    pub width: usize,
    /// Rows of the raster itself.
    pub height: usize,
    /// Raster samples per preview sample, along both axes.
    pub step: usize,
    /// Samples per row of the preview.
    pub cols: usize,
    /// Rows of the preview.
    pub rows: usize,
    /// Preview planes, each `cols * rows` values, row-major.
    pub bands: Vec<Vec<f64>>,
    /// The raster's NoData value, if it declares one.
    pub nodata: Option<f64>,
}

/// Collects every `step`-th sample of every `step`-th row.
struct PreviewSink {
    side: usize,
    preview: Option<RasterPreview>,
}

impl RowSink for PreviewSink {
    fn header(&mut self, h: &RasterHeader) {
        let step = h.width.max(h.height).div_ceil(self.side).max(1);
        let (cols, rows) = (h.width.div_ceil(step), h.height.div_ceil(step));
        self.preview = Some(RasterPreview {
            width: h.width,
            height: h.height,
            step,
            cols,
            rows,
            bands: vec![vec![f64::NAN; cols * rows]; h.bands],
            nodata: h.geo.nodata,
        });
    }

    fn row(&mut self, band: usize, row: usize, values: &[f64]) {
        let Some(p) = &mut self.preview else {
            return;
        };
        if !row.is_multiple_of(p.step) || band >= p.bands.len() || row / p.step >= p.rows {
            return;
        }
        let out = &mut p.bands[band][row / p.step * p.cols..][..p.cols];
        for (o, v) in out.iter_mut().zip(values.iter().step_by(p.step)) {
            *o = *v;
        }
    }
}

/// A preview of the raster in `data` (of `kind`), at most `side` samples
/// along its longer axis, read with the same readers as [`fingerprint`]
/// and within `max_samples`.
pub fn preview(
    data: &[u8],
    kind: Kind,
    max_samples: u64,
    side: usize,
) -> Result<RasterPreview, GridError> {
    let mut sink = PreviewSink {
        side: side.max(1),
        preview: None,
    };
    let max_samples = max_samples.min(MAX_IN_MEMORY_SAMPLES);
    let grid = match kind {
        Kind::Tiff => {
            grid::read_tiff_rows(data, max_samples, &mut sink)?;
            None
        }
        Kind::AsciiGrid => {
            grid::read_ascii_rows(data, max_samples, &mut sink)?;
            None
        }
        Kind::NetCdf | Kind::Hdf5 => {
            let file = sci_file(data, kind, max_samples)?;
            Some(sci::raster(file.as_ref(), kind, max_samples)?.grid)
        }
        Kind::Grib => Some(grib::read(data, max_samples)?.grid),
        Kind::Hfa => Some(hfa::read(data, max_samples)?.grid),
        Kind::Jpeg2000 => Some(jpeg2000::read(data, max_samples)?),
        Kind::Png => Some(png16::read(data, max_samples)?),
        Kind::Text | Kind::Table if xyz::looks_like(data) => {
            Some(xyz::read(data, max_samples)?.grid)
        }
        other => return Err(GridError::UnsupportedFormat(other)),
    };
    if let Some(grid) = grid {
        sink.header(&RasterHeader {
            width: grid.width,
            height: grid.height,
            bands: grid.bands.len(),
            sample_type: grid.sample_type.clone(),
            geo: grid.geo.clone(),
        });
        for (b, plane) in grid.bands.iter().enumerate() {
            for (r, row) in plane.chunks(grid.width.max(1)).enumerate() {
                sink.row(b, r, row);
            }
        }
    }
    sink.preview
        .ok_or_else(|| GridError::Malformed("the raster has no header".into()))
}

/// The rows of a NetCDF or HDF5 station series (1-D variables along one
/// dimension), as the records signal reads them; `None` when the file
/// holds none.
pub fn series_rows(data: &[u8], kind: Kind) -> Option<Vec<Vec<String>>> {
    let file = sci_file(data, kind, MAX_IN_MEMORY_SAMPLES).ok()?;
    sci::series(file.as_ref()).ok().flatten().map(|s| s.rows)
}
