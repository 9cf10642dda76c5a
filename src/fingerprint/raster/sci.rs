//! The mapping from self-describing scientific files (NetCDF classic,
//! NetCDF-4 and plain HDF5) to the canonical models, shared by their
//! decoders: grids become one raster, 1-D series become a table for the
//! records signal. A decoder lists its variables ([`SciVar`]) and hands
//! out their values ([`SciFile`]); everything about which variables are
//! examined, and how, lives here once.
//!
//! * **Raster.** Variables with two or more dimensions read their last two
//!   as (y, x). The (y, x) pair holding the most samples wins; every
//!   variable on it contributes one band per slice of its leading
//!   dimensions (time, level), in file order. Variables on other grids are
//!   listed as unexamined (the item is then `incomplete`), never dropped
//!   silently. Rows are turned north-up when the y coordinate variable
//!   increases (GDAL and most models write bottom-up).
//! * **Series.** The 1-D variables along the dimension most of them share
//!   are the columns of a table, one row per index; CF time units
//!   (`days since 2012-01-01`) become ISO dates, text variables one string
//!   per row.

use std::collections::{HashMap, HashSet};

use super::grid::{GeoInfo, Grid, GridError};

/// A dimension: its name and length.
pub type Dim = (String, u64);

/// One variable as its decoder describes it.
#[derive(Clone, Debug)]
pub struct SciVar {
    /// Its name (a path such as `terrain/elevation` inside groups).
    pub name: String,
    /// Its dimensions, slowest first: name and length. A character array's
    /// string-length dimension is not listed (its values are strings).
    pub dims: Vec<Dim>,
    /// Whether its values are text (one string per element).
    pub text: bool,
    /// Whether its values are numbers the raster and records signals read.
    pub numeric: bool,
    /// Its `units` attribute (empty when absent).
    pub units: String,
    /// The stored type, for reports (`i16`, `f32`, ...).
    pub stored: String,
}

impl SciVar {
    fn elements(&self) -> u64 {
        self.dims
            .iter()
            .try_fold(1u64, |n, d| n.checked_mul(d.1))
            .unwrap_or(u64::MAX)
    }
}

/// A decoded scientific file: its variables and their values.
pub trait SciFile {
    /// Every variable, in file order.
    fn vars(&self) -> &[SciVar];
    /// All values of numeric variable `i`, row-major, in canonical form:
    /// `_FillValue`/`missing_value` as NaN, `scale_factor`/`add_offset`
    /// applied.
    fn values(&self, i: usize) -> Result<Vec<f64>, GridError>;
    /// All values of text variable `i`, one string per element.
    fn strings(&self, i: usize) -> Result<Vec<String>, GridError>;
    /// Data the decoder found but does not list as variables (types it
    /// does not model), by name.
    fn hidden(&self) -> Vec<String> {
        Vec::new()
    }
    /// Text outside the variables' data, by name: string attributes
    /// (`var@name`, `@name` for the file's own) and scalar text variables.
    fn texts(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Text shorter than this is left to the byte signals (units, names,
/// conventions); longer text is examined as a member of its own.
pub const MIN_TEXT_MEMBER: usize = 64;

/// Variables a file may list (real files have a few to a few thousand):
/// more is refused rather than examined in quadratic time.
pub const MAX_VARIABLES: usize = 10_000;

/// Whether `values` never decrease, or never increase.
fn monotonic(values: &[f64]) -> bool {
    values.windows(2).all(|w| w[0] < w[1]) || values.windows(2).all(|w| w[0] > w[1])
}

/// Whether numeric variable `i` is a coordinate of the dimensions in
/// `dims` rather than data, judged by shape and by value (data shaped like
/// a coordinate is still data):
/// * a 1-D variable along one of them whose values are strictly monotonic
///   (`lat`, `time`);
/// * cell bounds `(d, 2)` along one of them, each column monotonic
///   (`lat_bnds`, `time_bnds`);
/// * cell vertices `(..., k)` with k <= 8 on them, in degrees
///   (`vertices_latitude(j, i, 4)` of curvilinear grids).
fn is_coordinate(file: &dyn SciFile, i: usize, dims: &HashSet<&Dim>) -> bool {
    let v = &file.vars()[i];
    let on = |d: &Dim| dims.contains(d);
    let shaped = match v.dims.as_slice() {
        [d] => on(d),
        [d, (_, 2)] => on(d),
        [lead @ .., (_, k)] => *k <= 8 && !lead.is_empty() && lead.iter().all(on),
        [] => false,
    };
    if !v.numeric || !shaped {
        return false;
    }
    let Ok(values) = file.values(i) else {
        return false;
    };
    match v.dims.len() {
        1 => monotonic(&values),
        2 if v.dims[1].1 == 2 => {
            let column = |c: usize| {
                values
                    .iter()
                    .skip(c)
                    .step_by(2)
                    .copied()
                    .collect::<Vec<_>>()
            };
            monotonic(&column(0)) && monotonic(&column(1))
        }
        _ => values.iter().all(|x| x.is_finite() && x.abs() <= 360.0),
    }
}

/// The raster found in a scientific file, and what was left out.
pub struct SciRaster {
    /// The decoded raster.
    pub grid: Grid,
    /// The variables it came from (each one or more bands).
    pub variables: Vec<String>,
    /// Variables with two or more dimensions on another grid, not decoded.
    pub skipped: Vec<String>,
}

/// The last two dimensions of a variable that has at least two.
fn plane(v: &SciVar) -> Option<(&Dim, &Dim)> {
    let n = v.dims.len();
    (n >= 2 && v.numeric && !v.text).then(|| (&v.dims[n - 2], &v.dims[n - 1]))
}

/// The raster of `file`: every variable on its largest (y, x) grid, within
/// `max_samples`. [`GridError::UnsupportedFormat`] of `kind` when the file
/// holds no grid.
pub fn raster(
    file: &dyn SciFile,
    kind: crate::sniff::Kind,
    max_samples: u64,
) -> Result<SciRaster, GridError> {
    let vars = file.vars();
    // Total samples per (y, x) grid.
    let mut planes: HashMap<(&Dim, &Dim), u64> = HashMap::new();
    for v in vars {
        let Some((y, x)) = plane(v) else { continue };
        let total = planes.entry((y, x)).or_default();
        *total = total.saturating_add(v.elements());
    }
    let Some((&(y, x), &total)) = planes
        .iter()
        .max_by_key(|(p, &total)| (p.0 .1.saturating_mul(p.1 .1), total, &p.0 .0, &p.1 .0))
    else {
        return Err(GridError::UnsupportedFormat(kind));
    };
    if total > max_samples {
        return Err(GridError::TooLarge(total));
    }
    let (height, width) = (y.1 as usize, x.1 as usize);
    let on_grid = |v: &SciVar| plane(v).is_some_and(|(vy, vx)| vy == y && vx == x);
    let mut bands = Vec::new();
    let mut variables = Vec::new();
    let mut skipped = Vec::new();
    let mut types = Vec::new();
    // Dimensions of the variables on the grid (y, x and band dimensions).
    let grid_dims: HashSet<&Dim> = vars
        .iter()
        .filter(|v| on_grid(v))
        .flat_map(|v| &v.dims)
        .collect();
    for (i, v) in vars.iter().enumerate() {
        if !on_grid(v) {
            if plane(v).is_some() && !is_coordinate(file, i, &grid_dims) {
                skipped.push(v.name.clone());
            }
            continue;
        }
        let values = file.values(i)?;
        if values.len() as u64 != v.elements() {
            return Err(GridError::Malformed(format!(
                "variable {} gave {} values for {} elements",
                v.name,
                values.len(),
                v.elements()
            )));
        }
        if width * height > 0 {
            bands.extend(values.chunks_exact(width * height).map(<[f64]>::to_vec));
        }
        variables.push(v.name.clone());
        if !types.contains(&v.stored) {
            types.push(v.stored.clone());
        }
    }
    if bands.len() > usize::from(u16::MAX) {
        return Err(GridError::Unsupported(format!(
            "{} bands (time steps, levels) on one grid",
            bands.len()
        )));
    }
    if north_up_flip(file, &y.0, height) {
        for band in &mut bands {
            let flipped: Vec<f64> = band
                .chunks_exact(width.max(1))
                .rev()
                .flatten()
                .copied()
                .collect();
            *band = flipped;
        }
    }
    Ok(SciRaster {
        grid: Grid {
            width,
            height,
            bands,
            sample_type: types.join("+"),
            geo: GeoInfo::default(),
        },
        variables,
        skipped,
    })
}

/// Whether the y coordinate variable named `y` increases (rows stored
/// south to north).
fn north_up_flip(file: &dyn SciFile, y: &str, height: usize) -> bool {
    if height < 2 {
        return false;
    }
    let Some(i) = file.vars().iter().position(|v| {
        v.numeric && v.dims.len() == 1 && v.dims[0].0 == y && leaf(&v.name) == leaf(y)
    }) else {
        return false;
    };
    match file.values(i) {
        Ok(ys) if ys.len() == height => ys[0] < ys[height - 1],
        _ => false,
    }
}

/// The last component of a slash-separated path.
pub(crate) fn leaf(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Cells a series table may have (each becomes a string for the records
/// signal): 4 Mi, e.g. 400,000 rows of 10 columns.
pub const MAX_SERIES_CELLS: u64 = 4 << 20;

/// A station series read from a scientific file.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The dimension its rows run along.
    pub dim: String,
    /// The variables that are its columns, in file order.
    pub columns: Vec<String>,
    /// The rows, as text for the records signal.
    pub rows: Vec<Vec<String>>,
}

impl Series {
    /// How the table was mapped, for fingerprints and evidence.
    pub fn describe(&self, format: &str) -> String {
        format!(
            "{format} series along {}: {}",
            self.dim,
            self.columns.join(", ")
        )
    }
}

/// The series table of `file`, or `None` when no 1-D numeric variable has
/// cells (a single one is a one-column table: read, so a file holding just
/// a vector is examined, not left unread).
pub fn series(file: &dyn SciFile) -> Result<Option<Series>, GridError> {
    let vars = file.vars();
    let one_d = |v: &SciVar| v.dims.len() == 1 && (v.numeric || v.text);
    let mut counts: HashMap<&Dim, usize> = HashMap::new();
    for v in vars.iter().filter(|v| one_d(v) && v.numeric) {
        *counts.entry(&v.dims[0]).or_default() += 1;
    }
    // The series with the most cells wins (a few short decoy variables on
    // another dimension do not hide a long table; what is left is named).
    let Some((&dim, &n)) = counts
        .iter()
        .max_by_key(|(d, &n)| ((n as u64).saturating_mul(d.1), &d.0))
    else {
        return Ok(None);
    };
    if n < 1 || dim.1 == 0 {
        return Ok(None);
    }
    // Every cell becomes a string: the table is held to a budget.
    let width = vars
        .iter()
        .filter(|v| one_d(v) && &v.dims[0] == dim)
        .count() as u64;
    let cells = dim.1.saturating_mul(width);
    if cells > MAX_SERIES_CELLS {
        return Err(GridError::SeriesTooLarge(cells));
    }
    let rows = dim.1 as usize;
    let mut columns: Vec<Vec<String>> = Vec::new();
    let mut names = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        if !one_d(v) || &v.dims[0] != dim {
            continue;
        }
        names.push(v.name.clone());
        let column = if v.text {
            file.strings(i)?
                .into_iter()
                .map(|s| s.trim().to_string())
                .collect()
        } else {
            let time = cf_time(&v.units);
            file.values(i)?
                .into_iter()
                .map(|x| match (x.is_nan(), time) {
                    (true, _) => String::new(),
                    // Times beyond ±300,000 years (hostile or broken
                    // units) stay numbers: the calendar arithmetic is not
                    // asked to overflow.
                    (false, Some((unit, epoch))) => {
                        let t = epoch as f64 + x * unit;
                        if t.abs() < MAX_CALENDAR_SECONDS {
                            iso_time(t.round() as i64)
                        } else {
                            format_number(x)
                        }
                    }
                    (false, None) => format_number(x),
                })
                .collect()
        };
        columns.push(column);
    }
    Ok(Some(Series {
        dim: dim.0.clone(),
        columns: names,
        rows: (0..rows)
            .map(|r| {
                columns
                    .iter()
                    .map(|c| c.get(r).cloned().unwrap_or_default())
                    .collect()
            })
            .collect(),
    }))
}

/// The variables neither the raster nor the series read, and are not
/// coordinates of a dimension the raster uses (1-D numeric variables on
/// it, and their cell bounds): text and compound variables, 1-D variables
/// on other dimensions, and data the decoder does not model (fail closed:
/// they are named, and the item is `incomplete`). Scalars (grid mappings,
/// flags) are metadata; grids of another shape are the raster's to name.
pub fn unread(file: &dyn SciFile, raster: &[String], series: Option<&Series>) -> Vec<String> {
    let vars = file.vars();
    let read: HashSet<&String> = raster
        .iter()
        .chain(series.iter().flat_map(|s| &s.columns))
        .collect();
    let in_raster: HashSet<&String> = raster.iter().collect();
    let mut coordinate_dims: HashSet<&Dim> = vars
        .iter()
        .filter(|v| in_raster.contains(&v.name))
        .flat_map(|v| &v.dims)
        .collect();
    // The series dimension's coordinates and bounds are coordinates too.
    if let Some(s) = series {
        coordinate_dims.extend(vars.iter().flat_map(|v| &v.dims).find(|d| d.0 == s.dim));
    }
    let mut out: Vec<String> = vars
        .iter()
        .enumerate()
        // Numeric scalars are metadata (grid mappings, flags); scalar text
        // is examined as text members; other scalars (compound, opaque)
        // are named.
        .filter(|(_, v)| !(v.dims.is_empty() && (v.numeric || v.text)))
        .filter(|(_, v)| !read.contains(&v.name))
        .filter(|&(i, _)| !is_coordinate(file, i, &coordinate_dims))
        // Grids of another shape are the raster's to name.
        .filter(|(_, v)| !(v.numeric && plane(v).is_some() && !raster.is_empty()))
        .map(|(_, v)| v.name.clone())
        .collect();
    out.extend(file.hidden());
    out
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

/// Seconds from 1970 beyond which a CF time is left a number (about
/// 300,000 years).
const MAX_CALENDAR_SECONDS: f64 = 1e13;

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
    if y.abs() > 100_000 || !(1..=12).contains(&m) || !(1..=31).contains(&dd) {
        return None;
    }
    let mut hms = time
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse::<f64>().unwrap_or(0.0));
    let clock = (hms.next().unwrap_or(0.0) * 3600.0
        + hms.next().unwrap_or(0.0) * 60.0
        + hms.next().unwrap_or(0.0))
    .clamp(-1e9, 1e9);
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
