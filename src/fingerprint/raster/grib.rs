//! GRIB edition 2 files (weather-model and radar fields), decoded with the
//! pure-Rust `grib` crate into the canonical raster model: every field on
//! the largest grid is one band, rows north-up and west to east whatever
//! the scanning mode, bitmap and missing-value points as NoData.
//!
//! The crate's message reader trusts section lengths, so messages are
//! walked here (their length, every section's length, `7777` at the end),
//! the grid shape and scanning mode are read here, and only the crate's
//! value decoder is used, on checked sections: the point count is held to
//! the sample budget and the encoded count to the point count, and an
//! embedded JPEG 2000 codestream's declared size must equal the encoded
//! count before any decoder sees it. Packings decoded: simple (5.0), complex (5.2, 5.3),
//! IEEE (5.4, read here), JPEG 2000 (5.40), PNG (5.41), CCSDS (5.42);
//! GRIB edition 1 grid point fields with simple packing are read here.
//! Other packings and grids are reported, never skipped.

use grib::def::grib2::DataRepresentationTemplate;
use grib::Grib2SubmessageDecoder;

use super::grid::{GeoInfo, Grid, GridError};
use super::jpeg2000;

fn malformed(detail: impl Into<String>) -> GridError {
    GridError::Malformed(format!("grib: {}", detail.into()))
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |n, &x| n << 8 | u64::from(x))
}

fn be32(b: &[u8]) -> u64 {
    be(&b[..4.min(b.len())])
}

/// One message of a GRIB file: its edition and bytes.
struct Message<'d> {
    edition: u8,
    bytes: &'d [u8],
}

/// Splits `d` into messages and checks each GRIB2 message's section chain.
/// Bytes between messages are skipped as padding only when they are zero.
fn messages(d: &[u8]) -> Result<Vec<Message<'_>>, GridError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < d.len() {
        let rest = &d[at..];
        if !rest.starts_with(b"GRIB") {
            if rest.iter().all(|&b| b == 0 || b == b'\n') {
                break;
            }
            return Err(malformed(format!("unknown bytes at offset {at}")));
        }
        let edition = *rest.get(7).ok_or_else(|| malformed("cut in section 0"))?;
        let len = match edition {
            2 => rest
                .get(8..16)
                .map(|b| b.iter().fold(0u64, |n, &x| n << 8 | u64::from(x)))
                .ok_or_else(|| malformed("cut in section 0"))?,
            1 => be32(&[0, rest[4], rest[5], rest[6]]),
            e => return Err(malformed(format!("edition {e}"))),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l >= 20 && l <= rest.len())
            .ok_or_else(|| malformed(format!("message at {at} runs past the end of the file")))?;
        let bytes = &rest[..len];
        if !bytes.ends_with(b"7777") {
            return Err(malformed(format!("message at {at} has no 7777 end")));
        }
        out.push(Message { edition, bytes });
        at += len;
    }
    Ok(out)
}

/// The sections one field of a GRIB2 message is decoded from.
struct FieldSections<'d> {
    grid: &'d [u8],
    representation: &'d [u8],
    bitmap: &'d [u8],
    data: &'d [u8],
}

/// Walks a GRIB2 message's sections up to its `7777`: each must be at
/// least as long as its fixed part and end inside the message. Every data
/// section (7) closes one field with the grid (3), representation (5) and
/// bitmap (6) sections last seen; a bitmap section that says "the
/// previous bitmap applies" (254) reuses the last one given.
fn fields_of(m: &[u8]) -> Result<Vec<FieldSections<'_>>, GridError> {
    let end = m.len() - 4;
    let mut at = 16;
    let (mut grid, mut representation, mut bitmap, mut last_bitmap) = (None, None, None, None);
    let mut out = Vec::new();
    while at < end {
        let h = m
            .get(at..at + 5)
            .ok_or_else(|| malformed("cut section header"))?;
        let len = be32(h) as usize;
        let min = match h[4] {
            1 => 21,
            2 | 7 => 5,
            3 => 14,
            4 => 9,
            5 => 11,
            6 => 6,
            n => return Err(malformed(format!("section number {n}"))),
        };
        if len < min || len > end - at {
            return Err(malformed(format!("section {} length {len}", h[4])));
        }
        let body = &m[at..at + len];
        match h[4] {
            3 => grid = Some(body),
            5 => representation = Some(body),
            6 => {
                bitmap = Some(match body[5] {
                    254 => last_bitmap.ok_or_else(|| malformed("no earlier bitmap to reuse"))?,
                    _ => body,
                });
                if body[5] == 0 {
                    last_bitmap = Some(body);
                }
            }
            7 => out.push(FieldSections {
                grid: grid.ok_or_else(|| malformed("data before a grid section"))?,
                representation: representation
                    .ok_or_else(|| malformed("data before a representation section"))?,
                bitmap: bitmap.ok_or_else(|| malformed("data before a bitmap section"))?,
                data: body,
            }),
            _ => {}
        }
        at += len;
    }
    Ok(out)
}

/// Width, height and scanning mode of a grid section, for the templates
/// whose first fields are Ni/Nx and Nj/Ny (lat/lon and its rotated,
/// stretched and Gaussian forms, Mercator, polar stereographic, Lambert
/// conformal and Albers equal-area).
fn grid_shape(s3: &[u8]) -> Result<(usize, usize, u8), GridError> {
    let template = be(&s3[12..14]);
    if s3[10] != 0 {
        return Err(GridError::Unsupported(
            "GRIB2 quasi-regular grid (rows of different lengths)".into(),
        ));
    }
    // 1-based octet of the scanning mode in each template.
    let scan_octet = match template {
        0..=3 | 40..=43 => 72,
        10 => 60,
        20 | 30 | 31 => 65,
        t => return Err(GridError::Unsupported(format!("GRIB2 grid template 3.{t}"))),
    };
    let field = |octet: usize, n: usize| {
        s3.get(octet - 1..octet - 1 + n)
            .map(be)
            .ok_or_else(|| malformed("cut grid section"))
    };
    let (ni, nj) = (field(31, 4)? as usize, field(35, 4)? as usize);
    let scan = field(scan_octet, 1)? as u8;
    Ok((ni, nj, scan))
}

/// Where each stored value goes in a north-up, west-to-east raster of
/// `width` x `height` under scanning mode `scan` (flag table 3.4: 0x80 i
/// runs west, 0x40 j runs north, 0x20 columns are consecutive, 0x10 every
/// other row runs the opposite way).
fn placement(width: usize, height: usize, scan: u8) -> Result<Vec<usize>, GridError> {
    if scan & 0x0F != 0 {
        return Err(GridError::Unsupported(format!(
            "GRIB2 scanning mode {scan:#04x}"
        )));
    }
    let (west, north, by_column, alternate) = (
        scan & 0x80 != 0,
        scan & 0x40 != 0,
        scan & 0x20 != 0,
        scan & 0x10 != 0,
    );
    let (outer, inner) = if by_column {
        (width, height)
    } else {
        (height, width)
    };
    let mut out = Vec::with_capacity(width * height);
    for o in 0..outer {
        for k in 0..inner {
            let k = if alternate && o % 2 == 1 {
                inner - 1 - k
            } else {
                k
            };
            let (i, j) = if by_column { (o, k) } else { (k, o) };
            let col = if west { width - 1 - i } else { i };
            let row = if north { height - 1 - j } else { j };
            out.push(row * width + col);
        }
    }
    Ok(out)
}

/// One decoded field.
struct Field {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

/// Decodes every field of a GRIB2 message, within `budget` samples.
fn decode_message(m: &[u8], budget: u64) -> Result<Vec<Field>, GridError> {
    let fail = |e: grib::GribError| malformed(e.to_string());
    let mut out = Vec::new();
    for f in fields_of(m)? {
        let points = be32(&f.grid[6..10]) as usize;
        let (width, height, scan) = grid_shape(f.grid)?;
        if width.checked_mul(height) != Some(points) {
            return Err(malformed(format!(
                "grid {width}x{height} but {points} points"
            )));
        }
        if points as u64 > budget {
            return Err(GridError::TooLarge(points as u64));
        }
        // A bitmap covers the points and no more (one reused by many
        // fields would otherwise be copied, whole, for each).
        if f.bitmap[5] == 0 && f.bitmap.len() > 64 + 4 * points.div_ceil(8) {
            return Err(malformed(format!(
                "a bitmap of {} bytes for {points} points",
                f.bitmap.len() - 6
            )));
        }
        let place = placement(width, height, scan)?;
        let packing = be(&f.representation[9..11]);
        if packing == 200 {
            // Run-length packing grows its output from in-file counts.
            return Err(GridError::Unsupported(
                "GRIB2 run-length packing (5.200)".into(),
            ));
        }
        let mut s5 = f.representation.to_vec();
        // Octet 21 of simple, complex, JPEG 2000, PNG and CCSDS packing
        // says whether the original values were integers; it changes no
        // value, but the crate refuses "integer" (which GDAL writes).
        if matches!(packing, 0 | 2 | 3 | 40 | 41 | 42) && s5.get(20) == Some(&1) {
            s5[20] = 0;
        }
        let decoder = Grib2SubmessageDecoder::new(points, s5, f.bitmap.to_vec(), f.data.to_vec())
            .map_err(fail)?;
        let encoded = decoder.section5().payload.num_encoded_points as usize;
        if encoded > points {
            return Err(malformed(format!(
                "{encoded} encoded values for {points} points"
            )));
        }
        if matches!(packing, 2 | 3) {
            check_complex(f.representation, f.data, encoded, packing)?;
        }
        check_data_size(f.representation, f.data, encoded, packing)?;
        if packing == 40 {
            let (w, h, components) = jpeg2000::codestream_size(&f.data[5..])?;
            if components != 1 || (w as usize).checked_mul(h as usize) != Some(encoded) {
                return Err(malformed(format!(
                    "JPEG 2000 codestream {w}x{h}x{components} for {encoded} values"
                )));
            }
        }
        let stored: Vec<f64> = match decoder.dispatch() {
            Ok(values) => values.take(points + 1).map(f64::from).collect(),
            Err(grib::GribError::DecodeError(grib::DecodeError::NotSupported(_, 4))) => {
                ieee(&decoder, f.bitmap, f.data, points)?
            }
            Err(e) => return Err(fail(e)),
        };
        if stored.len() != points {
            return Err(malformed(format!(
                "{} values decoded for {points} points",
                stored.len()
            )));
        }
        let mut values = vec![f64::NAN; points];
        for (v, at) in stored.into_iter().zip(place) {
            values[at] = v;
        }
        out.push(Field {
            width,
            height,
            values,
        });
    }
    Ok(out)
}

/// Reads big-endian bit fields one after another.
struct Bits<'d> {
    data: &'d [u8],
    bit: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Result<u64, GridError> {
        let mut v = 0u64;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.bit / 8)
                .ok_or_else(|| malformed("complex packing descriptors cut short"))?;
            v = v << 1 | u64::from(byte >> (7 - self.bit % 8) & 1);
            self.bit += 1;
        }
        Ok(v)
    }

    fn align(&mut self) {
        self.bit = self.bit.div_ceil(8) * 8;
    }
}

/// Checks complex packing (5.2, 5.3) before the crate decodes it: the
/// crate builds each group whole from its stored length, so the groups'
/// lengths must add up to the encoded count and their widths must fit 32
/// bits, or a 700-byte message asks for tens of gigabytes.
fn check_complex(s5: &[u8], s7: &[u8], encoded: usize, packing: u64) -> Result<(), GridError> {
    let octet = |o: usize, n: usize| {
        s5.get(o - 1..o - 1 + n)
            .map(be)
            .ok_or_else(|| malformed("complex packing template cut short"))
    };
    let value_bits = octet(20, 1)? as usize;
    let groups = octet(32, 4)? as usize;
    let (width_ref, width_bits) = (octet(36, 1)?, octet(37, 1)? as usize);
    let (length_ref, increment) = (octet(38, 4)?, octet(42, 1)?);
    let (last_length, length_bits) = (octet(43, 4)?, octet(47, 1)? as usize);
    if groups == 0 || groups > encoded.max(1) {
        return Err(malformed(format!("{groups} groups for {encoded} values")));
    }
    let skip = if packing == 3 {
        (octet(48, 1)? as usize + 1) * octet(49, 1)? as usize
    } else {
        0
    };
    let mut bits = Bits {
        data: s7.get(5 + skip..).unwrap_or_default(),
        bit: 0,
    };
    // Group reference values, then widths, then lengths.
    bits.bit = groups * value_bits;
    bits.align();
    for _ in 0..groups {
        if width_ref + bits.take(width_bits)? > 32 {
            return Err(malformed("a group wider than 32 bits"));
        }
    }
    bits.align();
    let mut total = 0u64;
    for g in 0..groups {
        let scaled = bits.take(length_bits)?;
        total += if g + 1 == groups {
            last_length
        } else {
            length_ref + scaled * increment
        };
        if total > encoded as u64 {
            break;
        }
    }
    if total != encoded as u64 {
        return Err(malformed(format!(
            "complex packing groups hold {total} values, not {encoded}"
        )));
    }
    Ok(())
}

/// Checks that the data section holds what the representation says and
/// no more (the decoders stop at the encoded count, so bytes or pixels
/// after it would go unread): simple packing is exactly the packed bits,
/// a PNG image exactly the encoded count of pixels.
fn check_data_size(s5: &[u8], s7: &[u8], encoded: usize, packing: u64) -> Result<(), GridError> {
    let data = s7.get(5..).unwrap_or_default();
    match packing {
        0 => {
            let bits = s5.get(19).copied().unwrap_or(0) as usize;
            let want = (encoded * bits).div_ceil(8);
            // Writers may pad to an even length; anything more is data.
            if data.len() > want + 2 || data.len() < want {
                return Err(malformed(format!(
                    "{} data bytes for {encoded} values of {bits} bits",
                    data.len()
                )));
            }
        }
        41 if !data.is_empty() => {
            let size = data
                .get(16..24)
                .map(|b| be(&b[..4]).saturating_mul(be(&b[4..])))
                .ok_or_else(|| malformed("PNG data without its header"))?;
            if size != encoded as u64 {
                return Err(malformed(format!(
                    "a PNG of {size} pixels for {encoded} values"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}

/// An IBM System/360 single-precision float (GRIB1 reference values).
fn ibm_float(b: &[u8]) -> f64 {
    let sign = if b[0] & 0x80 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from(b[0] & 0x7F) - 64;
    let mantissa = be(&b[1..4]) as f64 / f64::from(1u32 << 24);
    sign * mantissa * 16f64.powi(exponent)
}

/// A GRIB1 sign-and-magnitude integer.
fn signed(b: &[u8]) -> i32 {
    let v = be(b) as i64;
    let top = 1i64 << (b.len() * 8 - 1);
    (if v & top != 0 { -(v & (top - 1)) } else { v }) as i32
}

/// Decodes a GRIB edition 1 message: a grid point field with simple
/// packing on a grid whose description gives Ni and Nj (lat/lon,
/// Gaussian, polar stereographic, Lambert), with or without a bitmap.
fn decode_grib1(m: &[u8], budget: u64) -> Result<Field, GridError> {
    let section = |at: usize| -> Result<&[u8], GridError> {
        let len = m
            .get(at..at + 3)
            .map(be)
            .ok_or_else(|| malformed("cut GRIB1 section"))? as usize;
        m.get(at..at + len)
            .filter(|s| s.len() >= 4 && at + len <= m.len() - 4)
            .ok_or_else(|| malformed("GRIB1 section past the message"))
    };
    let pds = section(8)?;
    if pds.len() < 28 {
        return Err(malformed("GRIB1 product section too short"));
    }
    let (has_grid, has_bitmap) = (pds[7] & 0x80 != 0, pds[7] & 0x40 != 0);
    let decimal = signed(&pds[26..28]);
    let mut at = 8 + pds.len();
    if !has_grid {
        return Err(GridError::Unsupported(
            "GRIB1 field on a predefined grid".into(),
        ));
    }
    let gds = section(at)?;
    at += gds.len();
    if gds.len() < 28 || !matches!(gds[5], 0 | 3 | 4 | 5) {
        return Err(GridError::Unsupported(format!(
            "GRIB1 grid type {}",
            gds.get(5).copied().unwrap_or(255)
        )));
    }
    let (width, height, scan) = (be(&gds[6..8]) as usize, be(&gds[8..10]) as usize, gds[27]);
    if width == 0xFFFF || height == 0xFFFF {
        return Err(GridError::Unsupported("GRIB1 quasi-regular grid".into()));
    }
    let points = width * height;
    if points as u64 > budget {
        return Err(GridError::TooLarge(points as u64));
    }
    let bitmap = if has_bitmap {
        let bms = section(at)?;
        at += bms.len();
        if bms.len() < 6 || be(&bms[4..6]) != 0 {
            return Err(GridError::Unsupported("GRIB1 predefined bitmap".into()));
        }
        Some(&bms[6..])
    } else {
        None
    };
    let bds = section(at)?;
    if bds.len() < 11 {
        return Err(malformed("GRIB1 data section too short"));
    }
    if bds[3] & 0xD0 != 0 {
        return Err(GridError::Unsupported(
            "GRIB1 spherical harmonics, second-order or extended packing".into(),
        ));
    }
    let (binary, reference, bits) = (
        signed(&bds[4..6]),
        ibm_float(&bds[6..10]),
        usize::from(bds[10]),
    );
    let scale = 2f64.powi(binary);
    let divisor = 10f64.powi(decimal);
    let mut packed = bds[11..]
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |k| (b >> k) & 1));
    let mut next = || -> Result<f64, GridError> {
        let mut x = 0u64;
        for _ in 0..bits {
            let bit = packed
                .next()
                .ok_or_else(|| malformed("GRIB1 data cut short"))?;
            x = x << 1 | u64::from(bit);
        }
        Ok((reference + x as f64 * scale) / divisor)
    };
    let mut stored = Vec::with_capacity(points);
    for k in 0..points {
        let present = match bitmap {
            Some(map) => {
                let byte = map
                    .get(k / 8)
                    .ok_or_else(|| malformed("GRIB1 bitmap cut short"))?;
                byte & (0x80 >> (k % 8)) != 0
            }
            None => true,
        };
        stored.push(if present { next()? } else { f64::NAN });
    }
    let mut values = vec![f64::NAN; points];
    for (v, at) in stored.into_iter().zip(placement(width, height, scan)?) {
        values[at] = v;
    }
    Ok(Field {
        width,
        height,
        values,
    })
}

/// IEEE float packing (5.4), which the crate parses but does not decode:
/// big-endian f32 or f64 values, spread over the bitmap when there is one.
fn ieee(
    decoder: &Grib2SubmessageDecoder,
    s6: &[u8],
    s7: &[u8],
    points: usize,
) -> Result<Vec<f64>, GridError> {
    let DataRepresentationTemplate::_5_4(t) = &decoder.section5().payload.template else {
        return Err(malformed("IEEE packing without its template"));
    };
    let data = s7.get(5..).unwrap_or_default();
    let mut values: Vec<f64> = match t.precision {
        1 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        2 => data
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect(),
        p => return Err(GridError::Unsupported(format!("GRIB2 IEEE precision {p}"))),
    };
    match s6.get(5) {
        Some(255) => Ok(values),
        Some(0) => {
            let bitmap = s6.get(6..).unwrap_or_default();
            values.reverse();
            let out = (0..points)
                .map(|k| {
                    let byte = bitmap
                        .get(k / 8)
                        .ok_or_else(|| malformed("bitmap too short"))?;
                    if byte & (0x80 >> (k % 8)) == 0 {
                        Ok(f64::NAN)
                    } else {
                        values
                            .pop()
                            .ok_or_else(|| malformed("fewer values than the bitmap"))
                    }
                })
                .collect::<Result<Vec<f64>, GridError>>()?;
            if !values.is_empty() {
                return Err(malformed("values left over after the bitmap"));
            }
            Ok(out)
        }
        _ => Err(GridError::Unsupported("GRIB2 predefined bitmap".into())),
    }
}

/// The raster of a GRIB file and what was left out.
pub struct GribRaster {
    /// Every field on the largest grid, one band each, in file order.
    pub grid: Grid,
    /// Fields read (as `message N field M`), for reports.
    pub fields: Vec<String>,
    /// Fields on other grids and edition 1 messages, not decoded.
    pub skipped: Vec<String>,
}

/// Decodes a GRIB file within `max_samples`.
pub fn read(d: &[u8], max_samples: u64) -> Result<GribRaster, GridError> {
    let mut fields: Vec<(String, Field)> = Vec::new();
    let mut skipped = Vec::new();
    let mut left = max_samples;
    for (n, m) in messages(d)?.into_iter().enumerate() {
        if m.edition == 1 {
            let f = decode_grib1(m.bytes, left)?;
            left = left.saturating_sub(f.values.len() as u64);
            fields.push((format!("message {} (GRIB1)", n + 1), f));
            continue;
        }
        for (k, f) in decode_message(m.bytes, left)?.into_iter().enumerate() {
            if fields.len() >= usize::from(u16::MAX) {
                return Err(malformed("more fields than a raster has bands"));
            }
            left = left.saturating_sub(f.values.len() as u64);
            fields.push((format!("message {} field {}", n + 1, k + 1), f));
        }
    }
    let Some((width, height)) = fields
        .iter()
        .map(|(_, f)| (f.width, f.height))
        .max_by_key(|&(w, h)| w * h)
    else {
        return if skipped.is_empty() {
            Err(malformed("no message"))
        } else {
            Err(GridError::UnsupportedFormat(crate::sniff::Kind::Grib))
        };
    };
    let mut bands = Vec::new();
    let mut names = Vec::new();
    for (name, f) in fields {
        if (f.width, f.height) == (width, height) {
            bands.push(f.values);
            names.push(name);
        } else {
            skipped.push(format!("{name} ({}x{})", f.width, f.height));
        }
    }
    Ok(GribRaster {
        grid: Grid {
            width,
            height,
            bands,
            sample_type: "grib2".into(),
            geo: GeoInfo::default(),
        },
        fields: names,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_modes_place_values_north_up() {
        // A 3 x 2 grid whose true rows are [0 1 2] (north) and [3 4 5].
        let north = [0, 1, 2, 3, 4, 5];
        let cases: [(u8, [usize; 6]); 5] = [
            (0x00, [0, 1, 2, 3, 4, 5]),
            // South row first (GDAL writes this).
            (0x40, [3, 4, 5, 0, 1, 2]),
            // East to west.
            (0x80, [2, 1, 0, 5, 4, 3]),
            // Columns consecutive.
            (0x20, [0, 3, 1, 4, 2, 5]),
            // Every other row reversed.
            (0x10, [0, 1, 2, 5, 4, 3]),
        ];
        for (scan, stored) in cases {
            let place = placement(3, 2, scan).unwrap();
            let mut out = [usize::MAX; 6];
            for (v, at) in stored.iter().zip(place) {
                out[at] = *v;
            }
            assert_eq!(out, north, "scan {scan:#04x}");
        }
        assert!(placement(3, 2, 0x01).is_err());
    }

    #[test]
    fn hostile_messages_are_refused_before_decoding() {
        // A message whose length runs past the file, one with no 7777,
        // one whose section overruns it, and bytes that are not GRIB.
        let mut m = b"GRIB\0\0\0\x02".to_vec();
        m.extend_from_slice(&1_000_000u64.to_be_bytes());
        assert!(read(&m, 1 << 20).is_err());
        let mut m = b"GRIB\0\0\0\x02".to_vec();
        m.extend_from_slice(&24u64.to_be_bytes());
        m.extend_from_slice(b"\0\0\0\x09\x01abcd");
        assert!(read(&m, 1 << 20).is_err());
        let mut m = b"GRIB\0\0\0\x02".to_vec();
        m.extend_from_slice(&29u64.to_be_bytes());
        m.extend_from_slice(&[0, 0, 0xFF, 0xFF, 3, 0, 0, 0, 0]);
        m.extend_from_slice(b"7777");
        assert!(read(&m, 1 << 20).is_err());
        assert!(read(b"GRIB", 1 << 20).is_err());
    }
}
