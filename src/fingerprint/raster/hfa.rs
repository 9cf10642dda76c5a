//! Erdas Imagine (`.img`, HFA) rasters, read by our own code: the entry
//! tree from the file header, every `Eimg_Layer` under the root a band,
//! its `RasterDMS` block list, blocks stored raw or with Imagine's
//! run-length/reduced-precision compression, `Eimg_NonInitializedValue`
//! as NoData. Entry layouts are taken from the file's own dictionary only
//! when it declares them as GDAL and Imagine write them; any other layout,
//! and data kept outside the file (`.ige` spill files), is reported.
//! Entry walks are loop-safe and every offset is checked.

use super::grid::{GeoInfo, Grid, GridError};

/// The dictionary declarations this reader's fixed layouts rely on.
const LAYER_DECL: &str = "{1:lwidth,1:lheight,1:e3:thematic,athematic,fft of real-valued data,layerType,1:e13:u1,u2,u4,u8,s8,u16,s16,u32,s32,f32,f64,c64,c128,pixelType,1:lblockWidth,1:lblockHeight,}Eimg_Layer,";
const BLOCK_DECL: &str = "{1:sfileCode,1:Loffset,1:lsize,1:e2:false,true,logvalid,1:e2:no compression,ESRI GRID compression,compressionType,}Edms_VirtualBlockInfo,";
const STATE_DECL: &str = "{1:lnumvirtualblocks,1:lnumobjectsperblock,1:lnextobjectnum,1:e2:no compression,RLC compression,compressionType,0:poEdms_VirtualBlockInfo,blockinfo,";
/// Samples in one block at most.
const MAX_BLOCK_SAMPLES: usize = 1 << 20;
/// Entries visited at most (real files have tens to a few thousand).
const MAX_ENTRIES: usize = 100_000;

fn malformed(detail: impl Into<String>) -> GridError {
    GridError::Malformed(format!("hfa: {}", detail.into()))
}

/// Little-endian reads with bounds checks.
struct Bytes<'d>(&'d [u8]);

impl<'d> Bytes<'d> {
    fn at(&self, offset: usize, len: usize) -> Result<&'d [u8], GridError> {
        offset
            .checked_add(len)
            .and_then(|end| self.0.get(offset..end))
            .ok_or_else(|| malformed(format!("{len} bytes at {offset} run past the end")))
    }

    fn u32(&self, offset: usize) -> Result<usize, GridError> {
        let b = self.at(offset, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn u16(&self, offset: usize) -> Result<usize, GridError> {
        let b = self.at(offset, 2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
}

/// An entry of the tree.
struct Entry {
    next: usize,
    child: usize,
    data: usize,
    size: usize,
    name: String,
    kind: String,
}

fn entry(b: &Bytes<'_>, at: usize) -> Result<Entry, GridError> {
    let text = |off: usize, len: usize| -> Result<String, GridError> {
        let raw = b.at(at + off, len)?;
        let end = raw.iter().position(|&c| c == 0).unwrap_or(len);
        Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
    };
    Ok(Entry {
        next: b.u32(at)?,
        child: b.u32(at + 12)?,
        data: b.u32(at + 16)?,
        size: b.u32(at + 20)?,
        name: text(24, 64)?,
        kind: text(88, 32)?,
    })
}

/// The children of the entry whose first child is at `first`.
fn children(b: &Bytes<'_>, first: usize, seen: &mut usize) -> Result<Vec<Entry>, GridError> {
    let mut out = Vec::new();
    let mut at = first;
    let mut visited = std::collections::HashSet::new();
    while at != 0 {
        *seen += 1;
        if *seen > MAX_ENTRIES || !visited.insert(at) {
            return Err(malformed("the entry tree loops or is too large"));
        }
        let e = entry(b, at)?;
        at = e.next;
        out.push(e);
    }
    Ok(out)
}

/// Pixel types in the dictionary's order: bits per sample and name.
const PIXEL_TYPES: [(usize, &str); 13] = [
    (1, "u1"),
    (2, "u2"),
    (4, "u4"),
    (8, "u8"),
    (8, "s8"),
    (16, "u16"),
    (16, "s16"),
    (32, "u32"),
    (32, "s32"),
    (32, "f32"),
    (64, "f64"),
    (64, "c64"),
    (128, "c128"),
];

/// Sample `i` of pixel type `t` from a raw little-endian block.
fn raw_sample(block: &[u8], t: usize, i: usize) -> f64 {
    let bits = PIXEL_TYPES[t].0;
    if bits < 8 {
        let bit = i * bits;
        let byte = block.get(bit / 8).copied().unwrap_or(0);
        return f64::from((byte >> (bit % 8)) & ((1u8 << bits) - 1));
    }
    let n = bits / 8;
    let Some(b) = block.get(i * n..i * n + n) else {
        return f64::NAN;
    };
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(b);
    match t {
        3 => f64::from(b[0]),
        4 => f64::from(b[0] as i8),
        5 => f64::from(u16::from_le_bytes([w[0], w[1]])),
        6 => f64::from(i16::from_le_bytes([w[0], w[1]])),
        7 => f64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        8 => f64::from(i32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        9 => f64::from(f32::from_le_bytes([w[0], w[1], w[2], w[3]])),
        _ => f64::from_le_bytes(w),
    }
}

/// A 32-bit integer decoded by the run-length scheme, as a sample of
/// pixel type `t` (f32 samples are the integer's bits).
fn from_integer(v: i32, t: usize) -> f64 {
    match t {
        3 => f64::from(v as u8),
        4 => f64::from(v as i8),
        5 => f64::from(v as u16),
        6 => f64::from(v as i16),
        7 => f64::from(v as u32),
        9 => f64::from(f32::from_bits(v as u32)),
        0..=2 => f64::from(v & ((1 << PIXEL_TYPES[t].0) - 1)),
        _ => f64::from(v),
    }
}

/// Reads `bits`-wide values (1, 2, 4 bits LSB first; 8, 16, 32 bits
/// big-endian) one after another from `data`.
struct Packed<'d> {
    data: &'d [u8],
    bit: usize,
    bits: usize,
}

impl Packed<'_> {
    fn next(&mut self) -> Result<i32, GridError> {
        let short = || malformed("compressed block cut short");
        let v = match self.bits {
            0 => 0,
            1 | 2 | 4 => {
                let byte = *self.data.get(self.bit / 8).ok_or_else(short)?;
                i32::from((byte >> (self.bit % 8)) & ((1u8 << self.bits) - 1))
            }
            8 | 16 | 32 => {
                let n = self.bits / 8;
                let b = self
                    .data
                    .get(self.bit / 8..self.bit / 8 + n)
                    .ok_or_else(short)?;
                b.iter().fold(0u32, |a, &x| a << 8 | u32::from(x)) as i32
            }
            n => {
                return Err(GridError::Unsupported(format!(
                    "HFA {n}-bit compressed values"
                )))
            }
        };
        self.bit += self.bits;
        Ok(v)
    }
}

/// Decodes one compressed block into `pixels` samples of type `t`.
fn uncompress(c: &[u8], pixels: usize, t: usize) -> Result<Vec<f64>, GridError> {
    if c.len() < 13 || PIXEL_TYPES[t].0 > 32 {
        return Err(malformed("compressed block header"));
    }
    let word = |o: usize| u32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]]);
    let (min, runs, offset, bits) = (
        word(0) as i32,
        word(4),
        word(8) as usize,
        usize::from(c[12]),
    );
    let mut out = Vec::with_capacity(pixels);
    if runs == u32::MAX {
        // Reduced precision only: every value in turn.
        let mut values = Packed {
            data: &c[13..],
            bit: 0,
            bits,
        };
        for _ in 0..pixels {
            out.push(from_integer(values.next()?.wrapping_add(min), t));
        }
        return Ok(out);
    }
    let mut values = Packed {
        data: c
            .get(offset..)
            .ok_or_else(|| malformed("run values past the block"))?,
        bit: 0,
        bits,
    };
    let mut at = 13;
    for _ in 0..runs {
        let first = *c.get(at).ok_or_else(|| malformed("run counts cut short"))?;
        let extra = usize::from(first >> 6);
        let tail = c
            .get(at + 1..at + 1 + extra)
            .ok_or_else(|| malformed("run counts cut short"))?;
        let count = tail
            .iter()
            .fold(usize::from(first & 0x3F), |n, &x| n << 8 | usize::from(x));
        at += 1 + extra;
        let v = from_integer(values.next()?.wrapping_add(min), t);
        if out.len() + count > pixels {
            return Err(malformed("runs overflow the block"));
        }
        out.resize(out.len() + count, v);
        if out.len() == pixels {
            break;
        }
    }
    if out.len() != pixels {
        return Err(malformed("runs cover less than the block"));
    }
    Ok(out)
}

/// One layer (band) found under the root.
struct Layer {
    name: String,
    width: usize,
    height: usize,
    values: Vec<f64>,
    nodata: Option<f64>,
    pixel: &'static str,
}

fn read_layer(
    b: &Bytes<'_>,
    layer: &Entry,
    seen: &mut usize,
    budget: u64,
) -> Result<Layer, GridError> {
    let (width, height) = (b.u32(layer.data)?, b.u32(layer.data + 4)?);
    let t = b.u16(layer.data + 10)?;
    let (bw, bh) = (b.u32(layer.data + 12)?, b.u32(layer.data + 16)?);
    let pixel = PIXEL_TYPES
        .get(t)
        .filter(|p| !p.1.starts_with('c'))
        .ok_or_else(|| GridError::Unsupported(format!("HFA pixel type {t}")))?;
    let total = (width as u64).saturating_mul(height as u64);
    if total > budget {
        return Err(GridError::TooLarge(total));
    }
    // Blocks are decoded one at a time: at most MAX_BLOCK_SAMPLES each
    // (Imagine and GDAL write 64 x 64 or 512 x 512).
    if bw == 0 || bh == 0 || bw.saturating_mul(bh) > MAX_BLOCK_SAMPLES {
        return Err(malformed(format!("block size {bw}x{bh}")));
    }
    let kids = children(b, layer.child, seen)?;
    let nodata = match kids.iter().find(|k| k.kind == "Eimg_NonInitializedValue") {
        // A pointer (count, offset) to base data: rows, columns, type,
        // object type, then the value.
        Some(k) if b.u32(k.data)? > 0 => {
            let at = k.data + 8;
            let value_type = b.u16(at + 8)?;
            let bytes = b.at(at + 12, 8.min(b.0.len().saturating_sub(at + 12)))?;
            PIXEL_TYPES
                .get(value_type)
                .filter(|p| p.0 >= 8 && p.0 <= 64)
                .map(|_| raw_sample(bytes, value_type, 0))
        }
        _ => None,
    };
    let dms = kids
        .iter()
        .find(|k| k.name == "RasterDMS" && k.kind == "Edms_State");
    let Some(dms) = dms else {
        return Err(GridError::Unsupported(
            "HFA layer data outside the file (no RasterDMS; an .ige spill file?)".into(),
        ));
    };
    let (across, down) = (width.div_ceil(bw), height.div_ceil(bh));
    let blocks = b.u32(dms.data)?;
    let listed = b.u32(dms.data + 14)?;
    if blocks != across * down || listed != blocks {
        return Err(malformed(format!(
            "{blocks} blocks listed for {across}x{down}"
        )));
    }
    let list = dms.data + 22;
    let block_bytes = (bw * bh * pixel.0).div_ceil(8);
    let fill = nodata.unwrap_or(0.0);
    let mut values = vec![fill; width * height];
    for k in 0..blocks {
        let info = list + k * 14;
        let (offset, size) = (b.u32(info + 2)?, b.u32(info + 6)?);
        let (valid, compressed) = (b.u16(info + 10)? != 0, b.u16(info + 12)? != 0);
        // A block marked not valid holds no samples (NoData) unless it
        // still points at bytes: those are read like any block.
        if !valid && size == 0 {
            continue;
        }
        let stored = b.at(offset, size)?;
        let samples = if compressed {
            uncompress(stored, bw * bh, t)?
        } else {
            if stored.len() < block_bytes {
                return Err(malformed("block shorter than its size"));
            }
            (0..bw * bh).map(|i| raw_sample(stored, t, i)).collect()
        };
        let (bx, by) = (k % across, k / across);
        for r in 0..bh.min(height - by * bh) {
            let row = by * bh + r;
            let cols = bw.min(width - bx * bw);
            values[row * width + bx * bw..][..cols].copy_from_slice(&samples[r * bw..][..cols]);
        }
    }
    if let Some(n) = nodata {
        for v in &mut values {
            if *v == n {
                *v = f64::NAN;
            }
        }
    }
    Ok(Layer {
        name: layer.name.clone(),
        width,
        height,
        values,
        nodata,
        pixel: pixel.1,
    })
}

/// An Imagine raster and the layers left out.
pub struct HfaRaster {
    /// Every layer of the largest size, one band each.
    pub grid: Grid,
    /// Layers read, by name.
    pub layers: Vec<String>,
    /// Layers of another size, not decoded.
    pub skipped: Vec<String>,
}

/// Decodes an Imagine file within `max_samples`.
pub fn read(d: &[u8], max_samples: u64) -> Result<HfaRaster, GridError> {
    let b = Bytes(d);
    if !d.starts_with(b"EHFA_HEADER_TAG\0") {
        return Err(malformed("no EHFA_HEADER_TAG"));
    }
    let file = b.u32(16)?;
    let root = b.u32(file + 8)?;
    let dictionary = b.u32(file + 14)?;
    let dict_text = d
        .get(dictionary..)
        .map(|t| &t[..t.iter().position(|&c| c == 0).unwrap_or(t.len())])
        .ok_or_else(|| malformed("dictionary outside the file"))?;
    let dict_text = String::from_utf8_lossy(dict_text);
    if ![LAYER_DECL, BLOCK_DECL, STATE_DECL]
        .iter()
        .all(|decl| dict_text.contains(decl))
    {
        return Err(GridError::Unsupported(
            "HFA dictionary declares its layer or block layout differently".into(),
        ));
    }
    let mut seen = 0;
    let root = entry(&b, root)?;
    let mut layers = Vec::new();
    let mut left = max_samples;
    for e in children(&b, root.child, &mut seen)? {
        if e.kind == "Eimg_Layer" {
            if e.size < 20 {
                return Err(malformed("layer entry too short"));
            }
            if layers.len() >= usize::from(u16::MAX) {
                return Err(malformed("more layers than a raster has bands"));
            }
            let layer = read_layer(&b, &e, &mut seen, left)?;
            left = left.saturating_sub(layer.values.len() as u64);
            layers.push(layer);
        }
    }
    let Some((width, height)) = layers
        .iter()
        .map(|l| (l.width, l.height))
        .max_by_key(|&(w, h)| w * h)
    else {
        return Err(malformed("no raster layer"));
    };
    let (mut bands, mut names, mut skipped, mut types) = (vec![], vec![], vec![], vec![]);
    let mut nodata = None;
    for l in layers {
        if (l.width, l.height) == (width, height) {
            nodata = nodata.or(l.nodata);
            if !types.contains(&l.pixel) {
                types.push(l.pixel);
            }
            bands.push(l.values);
            names.push(l.name);
        } else {
            skipped.push(l.name);
        }
    }
    Ok(HfaRaster {
        grid: Grid {
            width,
            height,
            bands,
            sample_type: format!("hfa-{}", types.join("+")),
            geo: GeoInfo {
                nodata,
                ..GeoInfo::default()
            },
        },
        layers: names,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_length_and_reduced_precision_blocks() {
        // Reduced precision: 4 values of 4 bits (LSB first) plus min 100.
        let mut c = vec![];
        c.extend_from_slice(&100u32.to_le_bytes());
        c.extend_from_slice(&u32::MAX.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes());
        c.push(4);
        c.extend_from_slice(&[0x21, 0x43]);
        assert_eq!(uncompress(&c, 4, 5).unwrap(), vec![101., 102., 103., 104.]);
        // Runs: 3 x (min + 7), 2 x (min + 9), 8-bit values at offset 15.
        let mut r = vec![];
        r.extend_from_slice(&100u32.to_le_bytes());
        r.extend_from_slice(&2u32.to_le_bytes());
        r.extend_from_slice(&15u32.to_le_bytes());
        r.push(8);
        r.extend_from_slice(&[3, 2, 7, 9]);
        assert_eq!(
            uncompress(&r, 5, 5).unwrap(),
            vec![107., 107., 107., 109., 109.]
        );
        // Runs that overflow or fall short of the block are refused.
        assert!(uncompress(&r, 4, 5).is_err());
        assert!(uncompress(&r, 6, 5).is_err());
        assert!(uncompress(&r[..14], 5, 5).is_err());
    }
}
