//! ASCII XYZ grids (`x y z` per line, as `gdal_translate -of XYZ` and most
//! GIS exports write them): a regular grid written row by row, x varying
//! fastest, read into the canonical raster model. Rows are turned
//! north-up when y increases down the file. A text that is not such a grid
//! (irregular points, ragged rows) is not an XYZ raster and stays text.

use super::grid::{GeoInfo, Grid, GridError};

/// Points the first lines must all be for the text to be tried as a grid.
const PROBE_LINES: usize = 8;

/// The three numbers of a data line (space, tab, comma or semicolon
/// separated), or `None`.
fn point(line: &str) -> Option<[f64; 3]> {
    let mut it = line
        .split(|c: char| c.is_ascii_whitespace() || c == ',' || c == ';')
        .filter(|f| !f.is_empty());
    let p = [
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    ];
    it.next().is_none().then_some(p)
}

/// The data lines of `d` (an optional non-numeric header line skipped).
fn lines(d: &[u8]) -> Option<impl Iterator<Item = &str>> {
    let text = std::str::from_utf8(d).ok()?;
    let mut it = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = it.clone().next()?;
    if point(first).is_none() {
        it.next();
    }
    Some(it)
}

/// Whether `d` starts like an XYZ grid: at least [`PROBE_LINES`] lines of
/// three numbers, the first two sharing y and stepping in x.
pub fn looks_like(d: &[u8]) -> bool {
    let Some(it) = lines(d) else { return false };
    let probe: Vec<Option<[f64; 3]>> = it.take(PROBE_LINES).map(point).collect();
    probe.len() == PROBE_LINES
        && probe.iter().all(Option::is_some)
        && matches!((probe[0], probe[1]), (Some(a), Some(b)) if a[1] == b[1] && a[0] != b[0])
}

/// Decodes an XYZ grid within `max_samples`; `nodata` is the value GDAL
/// wrote for missing cells, if known.
pub fn read(d: &[u8], max_samples: u64) -> Result<Grid, GridError> {
    let not_grid = |why: &str| GridError::Malformed(format!("xyz: {why}"));
    let it = lines(d).ok_or_else(|| not_grid("not UTF-8 text"))?;
    let mut samples = Vec::new();
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let mut width = 0usize;
    let mut col = 0usize;
    for (n, line) in it.enumerate() {
        let [x, y, z] =
            point(line).ok_or_else(|| not_grid(&format!("line {} is not x y z", n + 1)))?;
        if ys.last() != Some(&y) {
            if !ys.is_empty() {
                if width == 0 {
                    width = col;
                } else if col != width {
                    return Err(not_grid("rows of different lengths"));
                }
            }
            ys.push(y);
            col = 0;
        }
        if width == 0 {
            xs.push(x);
        } else if col >= width || xs[col] != x {
            return Err(not_grid("x positions differ between rows"));
        }
        col += 1;
        if samples.len() as u64 >= max_samples {
            return Err(GridError::TooLarge(samples.len() as u64 + 1));
        }
        samples.push(z);
    }
    if width == 0 {
        width = col;
    } else if col != width {
        return Err(not_grid("the last row is short"));
    }
    let height = ys.len();
    if width < 2 || height < 2 {
        return Err(not_grid("fewer than two rows or columns"));
    }
    if ys[0] < ys[height - 1] {
        samples = samples
            .chunks_exact(width)
            .rev()
            .flatten()
            .copied()
            .collect();
    }
    let (dx, dy) = (
        xs[1] - xs[0],
        (ys[0] - ys[height - 1]).abs() / (height - 1) as f64,
    );
    let top = ys[0].max(ys[height - 1]);
    Ok(Grid {
        width,
        height,
        bands: vec![samples],
        sample_type: "xyz".into(),
        geo: GeoInfo {
            pixel_scale: Some(vec![dx, dy, 0.0]),
            // The first cell's centre, as the file gives it.
            tie_point: Some(vec![0.0, 0.0, 0.0, xs[0], top, 0.0]),
            ..GeoInfo::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_refuses_what_is_not_a_grid() {
        let grid = "x y z\n0 1 5\n1 1 6\n2 1 7\n0 0 8\n1 0 9\n2 0 10\n0 -1 1\n1 -1 2\n2 -1 3\n";
        assert!(looks_like(grid.as_bytes()));
        let g = read(grid.as_bytes(), 100).unwrap();
        assert_eq!((g.width, g.height), (3, 3));
        assert_eq!(g.bands[0], vec![5., 6., 7., 8., 9., 10., 1., 2., 3.]);
        // South first: turned north-up.
        let south = "0 0 1\n1 0 2\n0 1 3\n1 1 4\n";
        assert_eq!(
            read(south.as_bytes(), 100).unwrap().bands[0],
            vec![3., 4., 1., 2.]
        );
        // Ragged rows, scattered points, prose: not grids.
        assert!(read(b"0 0 1\n1 0 2\n0 1 3\n", 100).is_err());
        assert!(read(b"0 0 1\n5 3 2\n1 7 3\n2 2 2\n", 100).is_err());
        assert!(!looks_like(b"the quick brown fox\njumps over\n"));
        assert!(matches!(
            read(grid.as_bytes(), 4),
            Err(GridError::TooLarge(_))
        ));
    }
}
