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
fn lines(d: &[u8]) -> Option<impl Iterator<Item = &str> + Clone> {
    let text = std::str::from_utf8(d).ok()?;
    let mut it = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = it.clone().next()?;
    if point(first).is_none() {
        it.next();
    }
    Some(it)
}

/// Whether `d` starts like an XYZ grid: at least eight lines of
/// three numbers, the first two sharing y and stepping in x (rows) or
/// sharing x and stepping in y (columns).
pub fn looks_like(d: &[u8]) -> bool {
    let Some(it) = lines(d) else { return false };
    let probe: Vec<Option<[f64; 3]>> = it.take(PROBE_LINES).map(point).collect();
    probe.len() == PROBE_LINES
        && probe.iter().all(Option::is_some)
        && matches!((probe[0], probe[1]), (Some(a), Some(b))
            if (a[1] == b[1] && a[0] != b[0]) || (a[0] == b[0] && a[1] != b[1]))
}

/// Whether a text that begins with `head` (a prefix of it, which may end
/// inside a line or a character) may be an XYZ grid: it looks like one, or
/// `head` holds too few whole lines to tell. `false` only when
/// [`looks_like`] is `false` on the whole text, whatever follows `head`.
pub fn may_be(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Cut inside a character: the rest decides.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).expect("valid up to there")
        }
        // Not UTF-8, whatever follows: not a grid.
        Err(_) => return false,
    };
    let whole_lines = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let seen = whole_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(PROBE_LINES + 1)
        .count();
    // A header line and the probe lines decide; fewer cannot.
    seen <= PROBE_LINES || looks_like(whole_lines.as_bytes())
}

/// An XYZ grid and, when the text stops being a regular grid part of the
/// way, what was not read.
pub struct XyzGrid {
    /// The regular rows (or columns) read, north-up.
    pub grid: Grid,
    /// Where and why reading stopped before the end of the text.
    pub rest_unread: Option<String>,
}

/// Decodes an XYZ grid within `max_samples`, row by row (x varying
/// fastest) or column by column (y varying fastest, turned into rows).
/// A text that is regular for at least two rows (columns) and then is not
/// gives those rows, and says where it stopped; fewer than two is not a
/// grid ([`GridError::Malformed`]).
pub fn read(d: &[u8], max_samples: u64) -> Result<XyzGrid, GridError> {
    let not_grid = |why: &str| GridError::Malformed(format!("xyz: {why}"));
    let it = lines(d).ok_or_else(|| not_grid("not UTF-8 text"))?;
    // Column by column when the first two points share x.
    let columns = match (
        it.clone().next().and_then(point),
        it.clone().nth(1).and_then(point),
    ) {
        (Some(a), Some(b)) => a[0] == b[0],
        _ => false,
    };
    // Runs: points sharing the slow coordinate; `along` is the fast one.
    let (slow, fast) = if columns { (0, 1) } else { (1, 0) };
    let mut samples = Vec::new();
    let mut along: Vec<f64> = Vec::new();
    let mut runs: Vec<f64> = Vec::new();
    let mut width = 0usize;
    let mut col = 0usize;
    let mut stop = None;
    for (n, line) in it.enumerate() {
        let Some(p) = point(line) else {
            stop = Some(format!("line {} is not x y z", n + 1));
            break;
        };
        if runs.last() != Some(&p[slow]) {
            if !runs.is_empty() {
                if width == 0 {
                    width = col;
                } else if col != width {
                    stop = Some(format!(
                        "line {}: a run of {col} points, not {width}",
                        n + 1
                    ));
                    break;
                }
            }
            runs.push(p[slow]);
            col = 0;
        }
        if width == 0 {
            along.push(p[fast]);
        } else if col >= width || along[col] != p[fast] {
            stop = Some(format!(
                "line {}: positions differ from the first run",
                n + 1
            ));
            break;
        }
        col += 1;
        if samples.len() as u64 >= max_samples {
            return Err(GridError::TooLarge(samples.len() as u64 + 1));
        }
        samples.push(p[2]);
    }
    if width == 0 {
        width = col;
    }
    if col != width {
        // The run in progress is incomplete: only whole runs are kept.
        runs.pop();
        samples.truncate(runs.len() * width);
        stop.get_or_insert_with(|| "the last run is short".to_string());
    }
    let count = runs.len();
    if width < 2 || count < 2 {
        return Err(not_grid("fewer than two regular rows or columns"));
    }
    // Rows north first: y decreasing down the rows.
    let (mut samples, xs, ys, width, height) = if columns {
        // Runs are columns (x = runs, y = along): transpose.
        let mut t = vec![0.0; samples.len()];
        for (c, column) in samples.chunks_exact(width).enumerate() {
            for (r, &v) in column.iter().enumerate() {
                t[r * count + c] = v;
            }
        }
        (t, runs, along, count, width)
    } else {
        (samples, along, runs, width, count)
    };
    if ys[0] < ys[height - 1] {
        samples = samples
            .chunks_exact(width)
            .rev()
            .flatten()
            .copied()
            .collect();
    }
    if xs[0] > xs[width - 1] {
        for row in samples.chunks_exact_mut(width) {
            row.reverse();
        }
    }
    let (dx, dy) = (
        (xs[width - 1] - xs[0]).abs() / (width - 1) as f64,
        (ys[0] - ys[height - 1]).abs() / (height - 1) as f64,
    );
    let (left, top) = (xs[0].min(xs[width - 1]), ys[0].max(ys[height - 1]));
    Ok(XyzGrid {
        grid: Grid {
            width,
            height,
            bands: vec![samples],
            sample_type: "xyz".into(),
            geo: GeoInfo {
                pixel_scale: Some(vec![dx, dy, 0.0]),
                // The first cell's centre, as the file gives it.
                tie_point: Some(vec![0.0, 0.0, 0.0, left, top, 0.0]),
                ..GeoInfo::default()
            },
        },
        rest_unread: stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix never rules out a grid the whole text is: on real grids and
    /// tables, cut at every place (inside lines and characters), `may_be`
    /// is `false` only when `looks_like` is `false` on the whole; with
    /// enough whole lines it decides as `looks_like` does.
    #[test]
    fn a_prefix_never_rules_out_a_grid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
        let mut texts: Vec<Vec<u8>> = [
            "sci/dem-window.xyz",
            "telemetry/vega_weather_seattle_newyork.csv",
            "telemetry/traja_3527_animal_track.csv",
        ]
        .iter()
        .map(|f| std::fs::read(format!("{dir}{f}")).unwrap())
        .collect();
        let grid = texts[0].clone();
        // Blank lines and a long header first, and a character cut in two.
        let mut padded = vec![b'\n'; 5000];
        padded.extend_from_slice("h\u{e9}ight ".repeat(300).as_bytes());
        padded.push(b'\n');
        padded.extend_from_slice(&grid);
        texts.push(padded);
        for text in &texts {
            let whole = looks_like(text);
            for cut in (0..text.len().min(40_000)).step_by(7) {
                let head = &text[..cut];
                if !may_be(head) {
                    assert!(!whole, "ruled out at {cut}");
                }
            }
            assert_eq!(may_be(text), whole || text.iter().filter(|&&b| b == b'\n').count() < 10);
        }
        assert!(looks_like(&texts[0]) && looks_like(&texts[3]));
        assert!(!looks_like(&texts[1]) && !may_be(&texts[1][..20_000]));
    }

    #[test]
    fn reads_rows_and_refuses_what_is_not_a_grid() {
        let grid = "x y z\n0 1 5\n1 1 6\n2 1 7\n0 0 8\n1 0 9\n2 0 10\n0 -1 1\n1 -1 2\n2 -1 3\n";
        assert!(looks_like(grid.as_bytes()));
        let g = read(grid.as_bytes(), 100).unwrap().grid;
        assert_eq!((g.width, g.height), (3, 3));
        assert_eq!(g.bands[0], vec![5., 6., 7., 8., 9., 10., 1., 2., 3.]);
        assert!(read(grid.as_bytes(), 100).unwrap().rest_unread.is_none());
        // South first: turned north-up.
        let south = "0 0 1\n1 0 2\n0 1 3\n1 1 4\n";
        let s = read(south.as_bytes(), 100).unwrap().grid;
        assert_eq!(s.bands[0], vec![3., 4., 1., 2.]);
        // Column by column (y fastest): the same grid.
        let by_column = "0 1 5\n0 0 8\n0 -1 1\n1 1 6\n1 0 9\n1 -1 2\n2 1 7\n2 0 10\n2 -1 3\n";
        assert!(looks_like(format!("{by_column}{by_column}").as_bytes()));
        assert_eq!(read(by_column.as_bytes(), 100).unwrap().grid.bands, g.bands);
        // Regular, then not: the whole rows read, and where it stopped.
        let broken = format!("{grid}junk\n");
        let b = read(broken.as_bytes(), 100).unwrap();
        assert_eq!(b.grid.bands, g.bands);
        assert!(b.rest_unread.is_some());
        let short = read(b"0 1 5\n1 1 6\n0 0 8\n1 0 9\n0 -1 1\n", 100).unwrap();
        assert_eq!((short.grid.height, short.rest_unread.is_some()), (2, true));
        // One row, scattered points, prose: not grids.
        assert!(read(b"0 0 1\n1 0 2\n0 1 3\n", 100).is_err());
        assert!(read(b"0 0 1\n5 3 2\n1 7 3\n2 2 2\n", 100).is_err());
        assert!(!looks_like(b"the quick brown fox\njumps over\n"));
        assert!(matches!(
            read(grid.as_bytes(), 4),
            Err(GridError::TooLarge(_))
        ));
    }
}
