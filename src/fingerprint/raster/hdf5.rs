//! NetCDF-4 and plain HDF5 files, read from memory with the pure-Rust
//! `netcdf-reader` / `hdf5-reader` crates (chunked datasets, deflate,
//! shuffle, Fletcher-32, LZ4, N-bit and scale-offset filters; dimension
//! scales give NetCDF-4 variables their dimension names, plain HDF5
//! datasets get dimensions named by their lengths). Every variable in
//! every group is listed for the shared mapping of [`super::sci`].
//!
//! Untrusted input is bounded before it is read: the decoded size of one
//! read, of one chunk and of one object header are capped by the crate's
//! open options, and the raster mapping checks the sample budget against
//! the declared shapes before any read.

use netcdf_reader::{NcFile, NcGroup, NcMetadataMode, NcOpenOptions, NcType};

use super::grid::GridError;
use super::sci::{leaf, SciFile, SciVar, MAX_VARIABLES};

/// Largest decoded chunk one read may hold (netCDF and h5py write chunks
/// of a few MiB).
const MAX_CHUNK_BYTES: usize = 64 << 20;
/// Largest object header the reader parses.
const MAX_OBJECT_HEADER_BYTES: usize = 4 << 20;

fn failed(e: netcdf_reader::Error) -> GridError {
    GridError::Malformed(format!("hdf5: {e}"))
}

/// Groups visited at most before the file is refused (real files have a
/// handful to a few hundred).
const MAX_GROUPS: usize = 10_000;
/// Deepest group nesting followed.
const MAX_DEPTH: usize = 64;

/// Refuses a file whose groups link back to an ancestor (HDF5 hard links
/// may form cycles, and the metadata reader recurses through groups), or
/// that holds more groups or deeper nesting than any real file. Returns
/// the path of every dataset that holds data (a NetCDF-4 dimension that is
/// no variable holds none), so datasets the metadata reader leaves out
/// (types it does not model) can be named.
fn check_group_graph(d: &[u8]) -> Result<Vec<String>, GridError> {
    let options = hdf5_reader::OpenOptions {
        max_object_header_bytes: MAX_OBJECT_HEADER_BYTES,
        chunk_cache_bytes: 0,
        ..hdf5_reader::OpenOptions::default()
    };
    let fail = |e: hdf5_reader::error::Error| GridError::Malformed(format!("hdf5: {e}"));
    let file = hdf5_reader::Hdf5File::from_bytes_with_options(d, options).map_err(fail)?;
    // Depth-first, with the chain of ancestors' addresses and the path.
    let mut stack = vec![(file.root_group().map_err(fail)?, vec![], String::new())];
    let mut seen = 0usize;
    let mut visited = std::collections::HashSet::new();
    let mut datasets = Vec::new();
    while let Some((group, ancestors, path)) = stack.pop() {
        seen += 1;
        if seen > MAX_GROUPS || ancestors.len() > MAX_DEPTH {
            return Err(GridError::Malformed(
                "hdf5: more groups or deeper nesting than this reader follows".into(),
            ));
        }
        if !visited.insert(group.address()) {
            // Reached twice through shared links: the metadata reader
            // would copy it once per path (exponentially many).
            return Err(GridError::Malformed(format!(
                "hdf5: group {} is linked from more than one place",
                group.name()
            )));
        }
        let mut chain: Vec<u64> = ancestors;
        chain.push(group.address());
        let (groups, sets) = group.members().map_err(fail)?;
        for set in sets {
            let dimension_only = set
                .attribute("NAME")
                .and_then(|a| a.read_string())
                .is_ok_and(|n| {
                    n.starts_with("This is a netCDF dimension but not a netCDF variable")
                });
            if !dimension_only {
                datasets.push(format!("{path}{}", leaf(set.name())));
            }
            if datasets.len() > MAX_VARIABLES {
                return Err(GridError::Malformed(
                    "hdf5: more datasets than this reader examines".into(),
                ));
            }
        }
        for child in groups {
            if chain.contains(&child.address()) {
                return Err(GridError::Malformed(format!(
                    "hdf5: group {} links back to one of its ancestors",
                    child.name()
                )));
            }
            let child_path = format!("{path}{}/", leaf(child.name()));
            stack.push((child, chain.clone(), child_path));
        }
    }
    Ok(datasets)
}

/// An HDF5-based file opened from memory, as a [`SciFile`].
pub struct Hdf5File {
    file: NcFile,
    vars: Vec<SciVar>,
    hidden: Vec<String>,
}

impl Hdf5File {
    /// Opens `d` with reads bounded to `max_samples` 8-byte values, and
    /// lists its variables (NetCDF-4 metadata read strictly, else with
    /// dimensions named by size as for plain HDF5).
    pub fn open(d: &[u8], max_samples: u64) -> Result<Self, GridError> {
        let datasets = check_group_graph(d)?;
        let max_read = usize::try_from(max_samples.saturating_mul(8)).unwrap_or(usize::MAX);
        let options = |mode| NcOpenOptions {
            metadata_mode: mode,
            max_chunk_bytes: MAX_CHUNK_BYTES,
            max_read_bytes: max_read,
            max_object_header_bytes: MAX_OBJECT_HEADER_BYTES,
            chunk_cache_bytes: 8 << 20,
            ..NcOpenOptions::default()
        };
        let strict =
            NcFile::from_bytes_with_options(d, options(NcMetadataMode::Strict)).and_then(|f| {
                f.root_group()?;
                Ok(f)
            });
        let file = match strict {
            Ok(f) => f,
            Err(_) => {
                let f = NcFile::from_bytes_with_options(d, options(NcMetadataMode::Lossy))
                    .map_err(failed)?;
                f.root_group().map_err(failed)?;
                f
            }
        };
        let mut vars = Vec::new();
        collect(file.root_group().map_err(failed)?, "", &mut vars);
        if vars.len() > MAX_VARIABLES {
            return Err(GridError::Malformed(format!(
                "hdf5: {} variables, more than this reader examines",
                vars.len()
            )));
        }
        let listed: std::collections::HashSet<&String> = vars.iter().map(|v| &v.name).collect();
        let hidden = datasets
            .into_iter()
            .filter(|path| !listed.contains(path))
            .collect();
        Ok(Hdf5File { file, vars, hidden })
    }
}

/// Lists the variables of `group` and its subgroups, named by path.
fn collect(group: &NcGroup, prefix: &str, out: &mut Vec<SciVar>) {
    for v in &group.variables {
        let text = matches!(v.dtype, NcType::String | NcType::Char);
        let mut dims: Vec<(String, u64)> = v
            .dimensions
            .iter()
            .map(|d| (d.name.clone(), d.size))
            .collect();
        if v.dtype == NcType::Char {
            dims.pop();
        }
        let stored = match v.dtype {
            NcType::Byte => "i8",
            NcType::Short => "i16",
            NcType::Int => "i32",
            NcType::Float => "f32",
            NcType::Double => "f64",
            NcType::UByte => "u8",
            NcType::UShort => "u16",
            NcType::UInt => "u32",
            NcType::Int64 => "i64",
            NcType::UInt64 => "u64",
            NcType::String | NcType::Char => "text",
            _ => "compound",
        };
        let numeric = !matches!(stored, "text" | "compound");
        out.push(SciVar {
            name: format!("{prefix}{}", v.name),
            dims,
            text,
            numeric,
            units: v
                .attribute("units")
                .and_then(|a| a.value.as_string())
                .unwrap_or_default(),
            stored: stored.to_string(),
        });
    }
    for g in &group.groups {
        collect(g, &format!("{prefix}{}/", g.name), out);
    }
}

/// The string attributes of `group`, its variables and its subgroups.
fn attribute_texts(group: &NcGroup, prefix: &str, out: &mut Vec<(String, String)>) {
    for a in &group.attributes {
        if let Some(text) = a.value.as_string() {
            out.push((format!("{prefix}@{}", a.name), text));
        }
    }
    for v in &group.variables {
        for a in &v.attributes {
            if let Some(text) = a.value.as_string() {
                out.push((format!("{prefix}{}@{}", v.name, a.name), text));
            }
        }
    }
    for g in &group.groups {
        attribute_texts(g, &format!("{prefix}{}/", g.name), out);
    }
}

impl SciFile for Hdf5File {
    fn vars(&self) -> &[SciVar] {
        &self.vars
    }

    fn values(&self, i: usize) -> Result<Vec<f64>, GridError> {
        let name = &self.vars[i].name;
        let array = self
            .file
            .read_variable_unpacked_masked(name)
            .map_err(failed)?;
        Ok(array.iter().copied().collect())
    }

    fn hidden(&self) -> Vec<String> {
        self.hidden.clone()
    }

    fn texts(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(root) = self.file.root_group() {
            attribute_texts(root, "", &mut out);
        }
        for v in self.vars.iter().filter(|v| v.text && v.dims.is_empty()) {
            if let Ok(strings) = self.file.read_variable_as_strings(&v.name) {
                out.push((v.name.clone(), strings.join("\n")));
            }
        }
        out
    }

    fn strings(&self, i: usize) -> Result<Vec<String>, GridError> {
        self.file
            .read_variable_as_strings(&self.vars[i].name)
            .map_err(failed)
    }
}
