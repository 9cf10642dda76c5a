//! NetCDF classic files (CDF-1, CDF-2 64-bit offsets, CDF-5 64-bit data),
//! read from memory into the canonical raster model: the largest variable
//! with two spatial dimensions (its last two) is the raster, every slice
//! of its leading dimensions (time, level) one band. `_FillValue` and
//! `missing_value` become the NoData marker, `scale_factor`/`add_offset`
//! are applied (so a packed int16 copy and the float original agree), and
//! rows are turned north-up when the y coordinate increases (GDAL writes
//! bottom-up). Every count and offset is checked against the file before
//! use. Other variables are reported, not silently skipped.

use super::grid::{GeoInfo, Grid, GridError};

/// What the reader found besides the raster it decoded.
pub struct NetCdfRaster {
    /// The decoded raster.
    pub grid: Grid,
    /// The variable it came from.
    pub variable: String,
    /// Other variables with two or more dimensions that were not decoded.
    pub skipped: Vec<String>,
}

struct Reader<'a> {
    d: &'a [u8],
    at: usize,
    wide: bool,
}

fn malformed(detail: impl Into<String>) -> GridError {
    GridError::Malformed(format!("netcdf: {}", detail.into()))
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], GridError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.d.len());
        let end = end.ok_or_else(|| malformed("header runs past the end of the file"))?;
        let out = &self.d[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u64, GridError> {
        let b = self.take(4)?;
        Ok(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    }

    fn u64(&mut self) -> Result<u64, GridError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    /// A count (NON_NEG): 4 bytes, 8 in CDF-5; never more than the bytes
    /// left could hold at `min_each` bytes apiece.
    fn count(&mut self, min_each: usize) -> Result<usize, GridError> {
        let n = if self.wide { self.u64()? } else { self.u32()? };
        let left = (self.d.len() - self.at) / min_each.max(1);
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or_else(|| malformed(format!("a count of {n} exceeds the file")))
    }

    fn name(&mut self) -> Result<String, GridError> {
        let len = self.count(1)?;
        let bytes = self.take(len)?;
        self.take((4 - len % 4) % 4)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// A list header: its tag (or ABSENT) and element count.
    fn list(&mut self, tag: u64, min_each: usize) -> Result<usize, GridError> {
        let found = self.u32()?;
        let n = self.count(min_each)?;
        if found == 0 && n == 0 {
            return Ok(0);
        }
        if found != tag {
            return Err(malformed(format!("list tag {found}, expected {tag}")));
        }
        Ok(n)
    }
}

/// Bytes per value of a NetCDF type, and whether it is numeric.
fn type_size(nc_type: u64) -> Option<usize> {
    Some(match nc_type {
        1 | 2 | 7 => 1,
        3 | 8 => 2,
        4 | 5 | 9 => 4,
        6 | 10 | 11 => 8,
        _ => return None,
    })
}

/// Value `i` of type `nc_type` in big-endian `b`.
fn value(nc_type: u64, b: &[u8], i: usize) -> f64 {
    let at = |n: usize| &b[i * n..i * n + n];
    match nc_type {
        1 => f64::from(at(1)[0] as i8),
        7 => f64::from(at(1)[0]),
        3 => f64::from(i16::from_be_bytes(at(2).try_into().unwrap_or_default())),
        8 => f64::from(u16::from_be_bytes(at(2).try_into().unwrap_or_default())),
        4 => f64::from(i32::from_be_bytes(at(4).try_into().unwrap_or_default())),
        9 => f64::from(u32::from_be_bytes(at(4).try_into().unwrap_or_default())),
        5 => f64::from(f32::from_be_bytes(at(4).try_into().unwrap_or_default())),
        6 => f64::from_be_bytes(at(8).try_into().unwrap_or_default()),
        10 => i64::from_be_bytes(at(8).try_into().unwrap_or_default()) as f64,
        11 => u64::from_be_bytes(at(8).try_into().unwrap_or_default()) as f64,
        _ => f64::NAN,
    }
}

struct Variable {
    name: String,
    units: String,
    dims: Vec<usize>,
    nc_type: u64,
    vsize: u64,
    begin: u64,
    fill: Vec<f64>,
    scale: f64,
    offset: f64,
}

/// Numeric attributes, and text attributes.
type Attributes = (Vec<(String, Vec<f64>)>, Vec<(String, String)>);

/// Reads an attribute list.
fn attributes(r: &mut Reader<'_>) -> Result<Attributes, GridError> {
    let n = r.list(12, 12)?;
    let mut out = Vec::new();
    let mut text = Vec::new();
    for _ in 0..n {
        let name = r.name()?;
        let nc_type = r.u32()?;
        let size =
            type_size(nc_type).ok_or_else(|| malformed(format!("attribute type {nc_type}")))?;
        let count = r.count(size)?;
        let bytes = r.take(count * size)?;
        r.take((4 - (count * size) % 4) % 4)?;
        if nc_type == 2 {
            let s = String::from_utf8_lossy(bytes)
                .trim_end_matches('\0')
                .to_string();
            text.push((name, s));
        } else {
            out.push((name, (0..count).map(|i| value(nc_type, bytes, i)).collect()));
        }
    }
    Ok((out, text))
}

/// A parsed header: dimensions (name, length; the record dimension has
/// length `numrecs`), variables, and the record layout.
struct Header {
    dims: Vec<(String, u64)>,
    vars: Vec<Variable>,
    record_dim: Option<usize>,
    record_size: u64,
}

impl Header {
    fn dim_len(&self, id: usize) -> u64 {
        self.dims[id].1
    }

    /// The bytes of values `[first, first + count)` of slab `slab` of a
    /// variable (a record for record variables), each `per` values long.
    fn slab<'d>(
        &self,
        d: &'d [u8],
        var: &Variable,
        slab: usize,
        per: usize,
    ) -> Result<&'d [u8], GridError> {
        let size = type_size(var.nc_type).unwrap_or(1);
        let is_record = var
            .dims
            .first()
            .is_some_and(|&x| Some(x) == self.record_dim);
        let start = if is_record {
            var.begin + slab as u64 * self.record_size
        } else {
            var.begin + (slab * per * size) as u64
        };
        let start = usize::try_from(start).map_err(|_| malformed("offset too large"))?;
        d.get(start..start.saturating_add(per * size))
            .filter(|s| s.len() == per * size)
            .ok_or_else(|| {
                malformed(format!(
                    "variable {} runs past the end of the file",
                    var.name
                ))
            })
    }
}

/// A 1-D series table: the numeric variables (and character variables,
/// one string per row) along the dimension most of them share, as rows of
/// text for the records signal. Time variables with CF units (`days since
/// 2012-01-01`) become ISO dates. `None` when there is no such series.
pub fn series(d: &[u8]) -> Result<Option<Vec<Vec<String>>>, GridError> {
    let h = parse(d)?;
    let numeric = |v: &Variable| type_size(v.nc_type).is_some() && v.nc_type != 2;
    // The dimension the most 1-D numeric variables run along.
    let mut counts = vec![0usize; h.dims.len()];
    for v in h.vars.iter().filter(|v| v.dims.len() == 1 && numeric(v)) {
        counts[v.dims[0]] += 1;
    }
    let Some((dim, &n)) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(i, &c)| (c, Some(i) == h.record_dim))
    else {
        return Ok(None);
    };
    let rows = h.dim_len(dim) as usize;
    if n < 2 || rows == 0 {
        return Ok(None);
    }
    let mut columns: Vec<Vec<String>> = Vec::new();
    for v in &h.vars {
        if v.dims.len() == 1 && v.dims[0] == dim && numeric(v) {
            let per_slab = if h.record_dim == Some(dim) { 1 } else { rows };
            let slabs = if h.record_dim == Some(dim) { rows } else { 1 };
            let mut col = Vec::with_capacity(rows);
            let time = cf_time(&v.units);
            for s in 0..slabs {
                let bytes = h.slab(d, v, s, per_slab)?;
                for i in 0..per_slab {
                    let x = value(v.nc_type, bytes, i);
                    col.push(if v.fill.contains(&x) || x.is_nan() {
                        String::new()
                    } else {
                        let x = x * v.scale + v.offset;
                        match time {
                            Some((unit, epoch)) => iso_time(epoch + (x * unit).round() as i64),
                            None => format_number(x),
                        }
                    });
                }
            }
            columns.push(col);
        } else if v.nc_type == 2 && v.dims.len() == 2 && v.dims[0] == dim {
            // Fixed-length strings, one per row.
            let len = h.dim_len(v.dims[1]) as usize;
            let mut col = Vec::with_capacity(rows);
            let record = h.record_dim == Some(dim);
            for s in 0..if record { rows } else { 1 } {
                let bytes = h.slab(d, v, s, if record { len } else { rows * len })?;
                for chunk in bytes.chunks(len.max(1)) {
                    col.push(
                        String::from_utf8_lossy(chunk)
                            .trim_end_matches('\0')
                            .trim()
                            .to_string(),
                    );
                }
            }
            columns.push(col);
        }
    }
    Ok(Some(
        (0..rows)
            .map(|r| {
                columns
                    .iter()
                    .map(|c| c.get(r).cloned().unwrap_or_default())
                    .collect()
            })
            .collect(),
    ))
}

/// A number as text: integers without a fraction, others in Rust's
/// shortest round-trip form (the records signal reads numbers by value).
fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// CF time units (`days since 2012-01-01 00:00:00`): seconds per unit and
/// the epoch in seconds since 1970-01-01.
fn cf_time(units: &str) -> Option<(f64, i64)> {
    let (unit, since) = units.split_once(" since ")?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "days" | "day" | "d" => 86_400.0,
        "hours" | "hour" | "h" => 3_600.0,
        "minutes" | "minute" | "min" => 60.0,
        "seconds" | "second" | "s" => 1.0,
        _ => return None,
    };
    let since = since.trim();
    let (date, time) = since.split_once([' ', 'T']).unwrap_or((since, "0:0:0"));
    let mut ymd = date.split('-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(dd))) = (ymd.next(), ymd.next(), ymd.next())
    else {
        return None;
    };
    let mut hms = time
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    let clock = hms.next().unwrap_or(0.0) * 3600.0
        + hms.next().unwrap_or(0.0) * 60.0
        + hms.next().unwrap_or(0.0);
    let days = crate::fingerprint::records::days_from_civil(y, m, dd);
    Some((seconds, days * 86_400 + clock as i64))
}

/// Seconds since 1970-01-01 as ISO text (date only at midnight).
fn iso_time(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = crate::fingerprint::records::civil_from_days(days);
    if secs == 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Decodes the largest raster variable of a NetCDF classic file, within
/// `max_samples`.
pub fn read(d: &[u8], max_samples: u64) -> Result<NetCdfRaster, GridError> {
    let h = parse(d)?;
    read_raster(d, &h, max_samples)
}

fn parse(d: &[u8]) -> Result<Header, GridError> {
    let version = *d.get(3).ok_or_else(|| malformed("too short"))?;
    let mut r = Reader {
        d,
        at: 4,
        wide: version == 5,
    };
    let numrecs = if r.wide { r.u64()? } else { r.u32()? };
    let ndims = r.list(10, 8)?;
    let mut dims = Vec::with_capacity(ndims);
    let mut record_dim = None;
    for i in 0..ndims {
        let name = r.name()?;
        let len = if r.wide { r.u64()? } else { r.u32()? };
        if len == 0 {
            record_dim = Some(i);
        }
        dims.push((name, len));
    }
    attributes(&mut r)?;
    let nvars = r.list(11, 16)?;
    let mut vars = Vec::with_capacity(nvars);
    for _ in 0..nvars {
        let name = r.name()?;
        let n = r.count(4)?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let id = (if r.wide { r.u64()? } else { r.u32()? }) as usize;
            if id >= dims.len() {
                return Err(malformed(format!("variable {name} names dimension {id}")));
            }
            ids.push(id);
        }
        let atts = attributes(&mut r)?;
        let nc_type = r.u32()?;
        let vsize = if r.wide { r.u64()? } else { r.u32()? };
        let begin = if version == 1 { r.u32()? } else { r.u64()? };
        let get = |key: &str| {
            atts.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let units = atts
            .1
            .iter()
            .find(|(k, _)| k == "units")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut fill = get("_FillValue").unwrap_or_default();
        fill.extend(get("missing_value").unwrap_or_default());
        vars.push(Variable {
            name,
            units,
            dims: ids,
            nc_type,
            vsize,
            begin,
            fill,
            scale: get("scale_factor")
                .and_then(|v| v.first().copied())
                .unwrap_or(1.0),
            offset: get("add_offset")
                .and_then(|v| v.first().copied())
                .unwrap_or(0.0),
        });
    }
    if let Some(id) = record_dim {
        dims[id].1 = numrecs;
    }
    let record_size: u64 = vars
        .iter()
        .filter(|v| v.dims.first().is_some_and(|&d| Some(d) == record_dim))
        .map(|v| v.vsize)
        .sum();
    Ok(Header {
        dims,
        vars,
        record_dim,
        record_size,
    })
}

/// The largest raster variable of a parsed file.
fn read_raster(d: &[u8], h: &Header, max_samples: u64) -> Result<NetCdfRaster, GridError> {
    let (dims, vars, record_dim, record_size) = (&h.dims, &h.vars, h.record_dim, h.record_size);
    let dim_len = |id: usize| h.dim_len(id);
    let mut rasters: Vec<&Variable> = vars
        .iter()
        .filter(|v| v.dims.len() >= 2 && type_size(v.nc_type).is_some() && v.nc_type != 2)
        .collect();
    rasters.sort_by_key(|v| std::cmp::Reverse(v.dims.iter().map(|&d| dim_len(d)).product::<u64>()));
    let Some(var) = rasters.first() else {
        return Err(GridError::UnsupportedFormat(crate::sniff::Kind::NetCdf));
    };
    let skipped = rasters[1..].iter().map(|v| v.name.clone()).collect();
    let n = var.dims.len();
    let (height, width) = (dim_len(var.dims[n - 2]), dim_len(var.dims[n - 1]));
    let bands: u64 = var.dims[..n - 2].iter().map(|&d| dim_len(d)).product();
    let total = width
        .checked_mul(height)
        .and_then(|s| s.checked_mul(bands))
        .ok_or(GridError::TooLarge(u64::MAX))?;
    if total > max_samples {
        return Err(GridError::TooLarge(total));
    }
    let size = type_size(var.nc_type).unwrap_or(1);
    let (width, height, bands) = (width as usize, height as usize, bands as usize);
    // Where each band's samples are: contiguous for fixed-size variables,
    // one record apart for record variables (one band per record, as the
    // record dimension comes first).
    let is_record = var.dims.first().is_some_and(|&d| Some(d) == record_dim);
    let plane = width * height * size;
    let mut out_bands = Vec::with_capacity(bands);
    // Bands inside one record (the leading dimensions after the record
    // dimension) are contiguous within it.
    let per_record: usize = if is_record {
        var.dims[1..n - 2]
            .iter()
            .map(|&d| dim_len(d) as usize)
            .product()
    } else {
        bands
    };
    for b in 0..bands {
        let (record, inner) = (b / per_record.max(1), b % per_record.max(1));
        let start = if is_record {
            var.begin + record as u64 * record_size + (inner * plane) as u64
        } else {
            var.begin + (b * plane) as u64
        };
        let start = usize::try_from(start).map_err(|_| malformed("offset too large"))?;
        let bytes = d
            .get(start..start.saturating_add(plane))
            .filter(|s| s.len() == plane)
            .ok_or_else(|| {
                malformed(format!(
                    "variable {} runs past the end of the file",
                    var.name
                ))
            })?;
        let samples: Vec<f64> = (0..width * height)
            .map(|i| {
                let v = value(var.nc_type, bytes, i);
                if var.fill.contains(&v) || v.is_nan() {
                    f64::NAN
                } else {
                    v * var.scale + var.offset
                }
            })
            .collect();
        out_bands.push(samples);
    }
    // North up: a y coordinate that increases means rows go south to north.
    let y_name = &dims[var.dims[n - 2]].0;
    let ascending = vars
        .iter()
        .find(|v| &v.name == y_name && v.dims.len() == 1 && type_size(v.nc_type).is_some())
        .and_then(|y| {
            let size = type_size(y.nc_type)?;
            let start = usize::try_from(y.begin).ok()?;
            let bytes = d.get(start..start + height * size)?;
            (height >= 2).then(|| value(y.nc_type, bytes, 0) < value(y.nc_type, bytes, height - 1))
        })
        .unwrap_or(false);
    if ascending {
        for band in &mut out_bands {
            let flipped: Vec<f64> = band
                .chunks_exact(width.max(1))
                .rev()
                .flatten()
                .copied()
                .collect();
            *band = flipped;
        }
    }
    Ok(NetCdfRaster {
        grid: Grid {
            width,
            height,
            bands: out_bands,
            sample_type: format!("netcdf-type-{}", var.nc_type),
            geo: GeoInfo::default(),
        },
        variable: var.name.clone(),
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
        out.resize(out.len() + (4 - s.len() % 4) % 4, 0);
    }

    /// A CDF-1 header with one variable `v(y, x)` of floats at `begin`.
    fn header(y: u32, x: u32, begin: u32) -> Vec<u8> {
        let mut h = b"CDF\x01".to_vec();
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&10u32.to_be_bytes());
        h.extend_from_slice(&2u32.to_be_bytes());
        name(&mut h, "y");
        h.extend_from_slice(&y.to_be_bytes());
        name(&mut h, "x");
        h.extend_from_slice(&x.to_be_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&11u32.to_be_bytes());
        h.extend_from_slice(&1u32.to_be_bytes());
        name(&mut h, "v");
        h.extend_from_slice(&2u32.to_be_bytes());
        h.extend_from_slice(&0u32.to_be_bytes());
        h.extend_from_slice(&1u32.to_be_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&5u32.to_be_bytes());
        h.extend_from_slice(&(y.wrapping_mul(x).wrapping_mul(4)).to_be_bytes());
        h.extend_from_slice(&begin.to_be_bytes());
        h
    }

    #[test]
    fn reads_a_small_grid_and_refuses_hostile_sizes() {
        let mut ok = header(2, 3, 0);
        let begin = ok.len() as u32;
        ok = header(2, 3, begin);
        for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            ok.extend_from_slice(&v.to_be_bytes());
        }
        let nc = read(&ok, 1 << 20).unwrap();
        assert_eq!((nc.grid.width, nc.grid.height), (3, 2));
        assert_eq!(nc.grid.bands[0], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Dimensions whose product is far beyond the budget (and beyond
        // the file): refused before anything is allocated.
        let huge = header(u32::MAX, u32::MAX, 100);
        assert!(matches!(read(&huge, 1 << 28), Err(GridError::TooLarge(_))));
        // Samples announced past the end of the file.
        let short = header(100, 100, 100);
        assert!(matches!(
            read(&short, 1 << 28),
            Err(GridError::Malformed(_))
        ));
        // A header cut anywhere is malformed, never a panic.
        for cut in 0..ok.len() {
            let _ = read(&ok[..cut], 1 << 20);
        }
    }
}
