//! NetCDF classic files (CDF-1, CDF-2 64-bit offsets, CDF-5 64-bit data),
//! parsed from memory by our own reader and listed for the shared mapping
//! of [`super::sci`]. `_FillValue` and `missing_value` become the NoData
//! marker and `scale_factor`/`add_offset` are applied (so a packed int16
//! copy and the float original agree). Every count and offset is checked
//! against the file before use; values are read only when asked for.

use super::grid::GridError;
use super::sci::{self, SciFile, SciVar};

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
    /// Text attributes: (`var@name` or `@name`, value).
    texts: Vec<(String, String)>,
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

/// A NetCDF classic file held in memory, parsed, as a [`SciFile`].
pub struct ClassicFile<'d> {
    d: &'d [u8],
    header: Header,
    vars: Vec<SciVar>,
}

impl<'d> ClassicFile<'d> {
    /// Parses the header of `d`; every count and offset is checked before
    /// use, values are read only when asked for.
    pub fn parse(d: &'d [u8]) -> Result<Self, GridError> {
        let header = parse(d)?;
        if header.vars.len() > sci::MAX_VARIABLES {
            return Err(malformed(format!(
                "{} variables, more than this reader examines",
                header.vars.len()
            )));
        }
        let vars = header
            .vars
            .iter()
            .map(|v| {
                let text = v.nc_type == 2;
                let mut dims: Vec<(String, u64)> =
                    v.dims.iter().map(|&id| header.dims[id].clone()).collect();
                if text {
                    // The last dimension of a character array is the
                    // string length.
                    dims.pop();
                }
                SciVar {
                    name: v.name.clone(),
                    dims,
                    text,
                    numeric: !text && type_size(v.nc_type).is_some(),
                    units: v.units.clone(),
                    stored: match v.nc_type {
                        1 => "i8",
                        2 => "char",
                        3 => "i16",
                        4 => "i32",
                        5 => "f32",
                        6 => "f64",
                        7 => "u8",
                        8 => "u16",
                        9 => "u32",
                        10 => "i64",
                        _ => "u64",
                    }
                    .to_string(),
                }
            })
            .collect();
        Ok(ClassicFile { d, header, vars })
    }

    /// The raw big-endian bytes of variable `i`, slab by slab (one slab per
    /// record for record variables, one for the others).
    fn slabs(&self, i: usize) -> Result<Vec<&'d [u8]>, GridError> {
        let h = &self.header;
        let v = &h.vars[i];
        let is_record = v.dims.first().is_some_and(|&x| Some(x) == h.record_dim);
        let lens: Vec<u64> = v.dims.iter().map(|&id| h.dim_len(id)).collect();
        let total = lens
            .iter()
            .try_fold(1u64, |n, &l| n.checked_mul(l))
            .filter(|&n| n <= self.d.len() as u64)
            .ok_or_else(|| malformed(format!("variable {} is larger than the file", v.name)))?
            as usize;
        if total == 0 {
            return Ok(Vec::new());
        }
        let (slabs, per) = if is_record {
            let records = lens[0] as usize;
            (records, total.checked_div(records).unwrap_or(0))
        } else {
            (1, total)
        };
        (0..slabs).map(|s| h.slab(self.d, v, s, per)).collect()
    }
}

impl SciFile for ClassicFile<'_> {
    fn vars(&self) -> &[SciVar] {
        &self.vars
    }

    fn texts(&self) -> Vec<(String, String)> {
        let mut out = self.header.texts.clone();
        for (i, v) in self.vars.iter().enumerate() {
            if v.text && v.dims.is_empty() {
                if let Ok(strings) = self.strings(i) {
                    out.push((v.name.clone(), strings.join("\n")));
                }
            }
        }
        out
    }

    fn values(&self, i: usize) -> Result<Vec<f64>, GridError> {
        let v = &self.header.vars[i];
        let size = type_size(v.nc_type).unwrap_or(1);
        let mut out = Vec::new();
        for bytes in self.slabs(i)? {
            out.extend((0..bytes.len() / size).map(|k| {
                let x = value(v.nc_type, bytes, k);
                if v.fill.contains(&x) || x.is_nan() {
                    f64::NAN
                } else {
                    x * v.scale + v.offset
                }
            }));
        }
        Ok(out)
    }

    fn strings(&self, i: usize) -> Result<Vec<String>, GridError> {
        let h = &self.header;
        let len = h.vars[i]
            .dims
            .last()
            .map_or(1, |&id| h.dim_len(id) as usize)
            .max(1);
        let mut out = Vec::new();
        for bytes in self.slabs(i)? {
            out.extend(bytes.chunks(len).map(|chunk| {
                String::from_utf8_lossy(chunk)
                    .trim_end_matches('\0')
                    .to_string()
            }));
        }
        Ok(out)
    }
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
    let mut texts: Vec<(String, String)> = attributes(&mut r)?
        .1
        .into_iter()
        .map(|(k, v)| (format!("@{k}"), v))
        .collect();
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
        texts.extend(
            atts.1
                .iter()
                .map(|(k, v)| (format!("{name}@{k}"), v.clone())),
        );
        let nc_type = r.u32()?;
        // vsize: not trusted; sizes are computed from the dimensions.
        let _vsize = if r.wide { r.u64()? } else { r.u32()? };
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
    let record_vars: Vec<&Variable> = vars
        .iter()
        .filter(|v| v.dims.first().is_some_and(|&d| Some(d) == record_dim))
        .collect();
    // Records are the record variables' padded sizes one after another,
    // except that a lone record variable is not padded (a byte, char or
    // short variable then steps by its true size).
    let record_size: u64 = match record_vars.as_slice() {
        [only] => only.dims[1..]
            .iter()
            .try_fold(type_size(only.nc_type).unwrap_or(1) as u64, |n, &d| {
                n.checked_mul(dims[d].1)
            })
            .ok_or_else(|| malformed("record size overflows"))?,
        // The stored vsize is not trusted (it may say 0, or anything):
        // each record variable's size is computed from its dimensions and
        // padded to 4 bytes.
        many => many
            .iter()
            .map(|v| {
                v.dims[1..]
                    .iter()
                    .try_fold(type_size(v.nc_type).unwrap_or(1) as u64, |n, &d| {
                        n.checked_mul(dims[d].1)
                    })
                    .map(|n| n.div_ceil(4) * 4)
            })
            .try_fold(0u64, |sum, n| sum.checked_add(n?))
            .ok_or_else(|| malformed("record size overflows"))?,
    };
    Ok(Header {
        dims,
        vars,
        record_dim,
        record_size,
        texts,
    })
}

#[cfg(test)]
mod tests {
    use super::super::sci::{self, SciRaster};
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

    fn read(d: &[u8], max_samples: u64) -> Result<SciRaster, GridError> {
        sci::raster(
            &ClassicFile::parse(d)?,
            crate::sniff::Kind::NetCdf,
            max_samples,
        )
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
