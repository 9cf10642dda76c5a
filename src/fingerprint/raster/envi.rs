//! ENVI rasters: a text header (`ENVI` on its first line; `samples`,
//! `lines`, `bands`, `data type`, `interleave`, `byte order`, `header
//! offset`, `data ignore value`) beside a raw file of samples. The raw
//! file alone is opaque bytes; when it is read from disk, its header is
//! looked for beside it (`dem.hdr` or `dem.envi.hdr` for `dem.envi`) and
//! the samples are decoded into the canonical raster model in any
//! interleave (BSQ, BIL, BIP) and byte order.

use std::path::{Path, PathBuf};

use super::grid::{GeoInfo, Grid, GridError};

/// The longest header read (real ones are a few KiB).
const MAX_HEADER: u64 = 1 << 20;

/// How samples are laid out in the raw file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interleave {
    /// Band sequential: each band's rows in turn.
    Bsq,
    /// Band interleaved by line: row r of every band, then row r + 1.
    Bil,
    /// Band interleaved by pixel: every band's sample, pixel by pixel.
    Bip,
}

/// A parsed ENVI header.
#[derive(Clone, Debug, PartialEq)]
pub struct EnviHeader {
    width: usize,
    height: usize,
    bands: usize,
    data_type: u8,
    interleave: Interleave,
    big_endian: bool,
    offset: usize,
    nodata: Option<f64>,
}

fn malformed(detail: impl Into<String>) -> GridError {
    GridError::Malformed(format!("envi: {}", detail.into()))
}

/// Bytes per sample of an ENVI data type, and its name.
fn data_type(t: u8) -> Option<(usize, &'static str)> {
    Some(match t {
        1 => (1, "u8"),
        2 => (2, "i16"),
        3 => (4, "i32"),
        4 => (4, "f32"),
        5 => (8, "f64"),
        12 => (2, "u16"),
        13 => (4, "u32"),
        14 => (8, "i64"),
        15 => (8, "u64"),
        _ => return None,
    })
}

/// Whether `text` is an ENVI header.
pub fn is_header(text: &[u8]) -> bool {
    let start = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    start.starts_with(b"ENVI") && start.get(4).is_none_or(|b| b.is_ascii_whitespace())
}

/// Parses an ENVI header's keys (values in braces may span lines).
pub fn parse_header(text: &str) -> Result<EnviHeader, GridError> {
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().skip(1);
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let mut value = value.trim().to_string();
        if value.starts_with('{') {
            while !value.contains('}') {
                let Some(more) = lines.next() else { break };
                value.push(' ');
                value.push_str(more.trim());
            }
        }
        keys.push((key.trim().to_ascii_lowercase(), value));
    }
    let get = |k: &str| {
        keys.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let number = |k: &str| -> Result<usize, GridError> {
        get(k)
            .ok_or_else(|| malformed(format!("no `{k}`")))?
            .parse()
            .map_err(|_| malformed(format!("`{k}` is not a count")))
    };
    let interleave = match get("interleave")
        .unwrap_or("bsq")
        .to_ascii_lowercase()
        .as_str()
    {
        "bsq" => Interleave::Bsq,
        "bil" => Interleave::Bil,
        "bip" => Interleave::Bip,
        other => return Err(GridError::Unsupported(format!("ENVI interleave {other}"))),
    };
    let data_type = number("data type")?;
    let data_type = u8::try_from(data_type)
        .ok()
        .filter(|&t| data_type_known(t))
        .ok_or_else(|| GridError::Unsupported(format!("ENVI data type {data_type}")))?;
    let (width, height) = (number("samples")?, number("lines")?);
    let bands = get("bands").map_or(Ok(1), |_| number("bands"))?;
    if width == 0 || height == 0 || bands == 0 || bands > usize::from(u16::MAX) {
        return Err(malformed(format!(
            "{width} samples x {height} lines x {bands} bands"
        )));
    }
    Ok(EnviHeader {
        width,
        height,
        bands,
        data_type,
        interleave,
        big_endian: get("byte order").is_some_and(|v| v.trim() == "1"),
        offset: get("header offset").map_or(Ok(0), |_| number("header offset"))?,
        nodata: get("data ignore value").and_then(|v| v.trim().parse().ok()),
    })
}

fn data_type_known(t: u8) -> bool {
    data_type(t).is_some()
}

/// The header beside a raw file on disk: `<stem>.hdr`, then
/// `<name>.hdr`, when it starts with `ENVI`.
pub fn header_beside(path: &Path) -> Option<(PathBuf, String)> {
    let mut appended = path.as_os_str().to_owned();
    appended.push(".hdr");
    [path.with_extension("hdr"), PathBuf::from(appended)]
        .into_iter()
        .filter(|p| p != path)
        .find_map(|p| {
            use std::io::Read;
            let mut text = Vec::new();
            std::fs::File::open(&p)
                .ok()?
                .take(MAX_HEADER)
                .read_to_end(&mut text)
                .ok()?;
            is_header(&text).then(|| (p, String::from_utf8_lossy(&text).into_owned()))
        })
}

/// Sample `i` (0-based) of type `t` in `raw`.
fn sample(raw: &[u8], t: u8, size: usize, big: bool, i: usize) -> f64 {
    let mut b = [0u8; 8];
    b[..size].copy_from_slice(&raw[i * size..i * size + size]);
    if big {
        b[..size].reverse();
    }
    match t {
        1 => f64::from(b[0]),
        2 => f64::from(i16::from_le_bytes([b[0], b[1]])),
        3 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        4 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        5 => f64::from_le_bytes(b),
        12 => f64::from(u16::from_le_bytes([b[0], b[1]])),
        13 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        14 => i64::from_le_bytes(b) as f64,
        _ => u64::from_le_bytes(b) as f64,
    }
}

/// Decodes the raw file `raw` as `h` says, within `max_samples`; also
/// returns how many bytes beside the declared samples the raster signal
/// did not read (after the bands, or a non-zero prefix before the header
/// offset).
pub fn read(raw: &[u8], h: &EnviHeader, max_samples: u64) -> Result<(Grid, usize), GridError> {
    let (size, name) = data_type(h.data_type).unwrap_or((1, "u8"));
    let total = (h.width as u64)
        .checked_mul(h.height as u64)
        .and_then(|n| n.checked_mul(h.bands as u64))
        .ok_or(GridError::TooLarge(u64::MAX))?;
    if total > max_samples {
        return Err(GridError::TooLarge(total));
    }
    let total = total as usize;
    let data = raw
        .get(h.offset..)
        .and_then(|d| d.get(..total * size))
        .ok_or_else(|| {
            malformed(format!(
                "the header announces {} bytes after offset {}; the file has {}",
                total * size,
                h.offset,
                raw.len()
            ))
        })?;
    // Bytes the samples do not cover: after the declared bands, and
    // before the header offset unless they are zero padding.
    let mut trailing = raw.len() - h.offset - total * size;
    if raw[..h.offset].iter().any(|&b| b != 0) {
        trailing += h.offset;
    }
    let (w, hh, nb) = (h.width, h.height, h.bands);
    let bands = (0..nb)
        .map(|b| {
            (0..w * hh)
                .map(|p| {
                    let (r, c) = (p / w.max(1), p % w.max(1));
                    let i = match h.interleave {
                        Interleave::Bsq => b * w * hh + p,
                        Interleave::Bil => (r * nb + b) * w + c,
                        Interleave::Bip => p * nb + b,
                    };
                    let v = sample(data, h.data_type, size, h.big_endian, i);
                    if h.nodata == Some(v) {
                        f64::NAN
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect();
    let grid = Grid {
        width: w,
        height: hh,
        bands,
        sample_type: format!("envi-{name}"),
        geo: GeoInfo {
            nodata: h.nodata,
            ..GeoInfo::default()
        },
    };
    Ok((grid, trailing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interleave_and_byte_order_gives_the_same_grid() {
        // Two bands of 3 x 2 u16 samples: band 0 = 1..=6, band 1 = 11..=16.
        let band = |b: u16| (1..=6).map(move |v| v + 10 * b);
        let bsq: Vec<u16> = band(0).chain(band(1)).collect();
        let bil: Vec<u16> = vec![1, 2, 3, 11, 12, 13, 4, 5, 6, 14, 15, 16];
        let bip: Vec<u16> = vec![1, 11, 2, 12, 3, 13, 4, 14, 5, 15, 6, 16];
        let (want, _) = read(
            &bsq.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
            &parse_header("ENVI\nsamples = 3\nlines = 2\nbands = 2\ndata type = 12\n").unwrap(),
            100,
        )
        .unwrap();
        assert_eq!(want.bands[1], vec![11., 12., 13., 14., 15., 16.]);
        for (samples, interleave) in [(bil, "bil"), (bip, "bip")] {
            for big in [false, true] {
                let raw: Vec<u8> = samples
                    .iter()
                    .flat_map(|v| {
                        if big {
                            v.to_be_bytes()
                        } else {
                            v.to_le_bytes()
                        }
                    })
                    .collect();
                let text = format!(
                    "ENVI\ndescription = {{\n  a test}}\nsamples = 3\nlines = 2\nbands = 2\n\
                     data type = 12\ninterleave = {interleave}\nbyte order = {}\n",
                    u8::from(big)
                );
                let (got, _) = read(&raw, &parse_header(&text).unwrap(), 100).unwrap();
                assert_eq!(got.bands, want.bands, "{interleave} big={big}");
            }
        }
        // Sizes beyond the budget or the file are refused.
        let huge = parse_header("ENVI\nsamples = 99999999\nlines = 99999999\ndata type = 5\n");
        assert!(matches!(
            read(&[0; 8], &huge.unwrap(), 1 << 20),
            Err(GridError::TooLarge(_))
        ));
        let short = parse_header("ENVI\nsamples = 10\nlines = 10\ndata type = 4\n").unwrap();
        assert!(matches!(
            read(&[0; 8], &short, 1 << 20),
            Err(GridError::Malformed(_))
        ));
        assert!(parse_header("ENVI\nsamples = 1\nlines = 1\ndata type = 6\n").is_err());
        // No samples, or more bands than a raster can name: refused.
        assert!(
            parse_header("ENVI\nsamples = 0\nlines = 5\nbands = 9999999999\ndata type = 1\n")
                .is_err()
        );
        assert!(
            parse_header("ENVI\nsamples = 2\nlines = 5\nbands = 70000\ndata type = 1\n").is_err()
        );
    }
}
