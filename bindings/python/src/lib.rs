//! Python bindings of pugmark: `pugmark.Index` and `pugmark.Scanner` (see
//! `python/pugmark/__init__.py` for the Python face). Scans release the
//! GIL, so threads scan in parallel; reports cross as JSON text (schema 1,
//! the same as `pugmark scan --json`) and become dicts on the Python side.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pugmark::index::{Index, OpenOptions};
use pugmark::{IndexOptions, IndexWriter, ScanOptions, Scanner};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

/// An open index (a read-only snapshot; share it between threads).
#[pyclass(name = "_Index", frozen)]
struct PyIndex {
    index: Arc<Index>,
}

#[pymethods]
impl PyIndex {
    /// Opens the index in `directory`.
    #[new]
    fn open(py: Python<'_>, directory: &str) -> PyResult<Self> {
        let index = py
            .allow_threads(|| Index::open(Path::new(directory), &OpenOptions::default()))
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(PyIndex {
            index: Arc::new(index),
        })
    }

    /// Protected items the index holds (not replaced or removed).
    #[getter]
    fn live_items(&self) -> u64 {
        self.index.live_items()
    }

    /// The fingerprint parameters as JSON, the secret seed shown as
    /// "secret".
    #[getter]
    fn params_json(&self) -> String {
        self.index.params().redacted().to_string()
    }
}

/// Scans outgoing items against an index.
#[pyclass(name = "_Scanner", frozen)]
struct PyScanner {
    scanner: Scanner,
}

#[pymethods]
impl PyScanner {
    /// A scanner over an open index.
    #[new]
    fn new(index: &PyIndex) -> PyResult<Self> {
        Scanner::new(index.index.clone(), ScanOptions::default())
            .map(|scanner| PyScanner { scanner })
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Scans `data` as an item called `name`; the report as JSON text.
    fn scan_bytes(&self, py: Python<'_>, name: &str, data: &[u8]) -> PyResult<String> {
        let report = py.allow_threads(|| self.scanner.scan_bytes(name, data));
        serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Scans the file at `path`; the report as JSON text.
    fn scan_path(&self, py: Python<'_>, path: &str) -> PyResult<String> {
        let report = py.allow_threads(|| self.scanner.scan_path(Path::new(path)));
        serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string()))
    }
}

/// Indexes `paths` (files and directories; new or changed files only) into
/// the index in `directory`, creating it with fresh parameters if needed;
/// the run's summary as JSON text.
#[pyfunction]
fn index_paths(py: Python<'_>, directory: &str, paths: Vec<String>) -> PyResult<String> {
    let summary = py.allow_threads(|| -> pugmark::Result<_> {
        let mut writer = IndexWriter::open(Path::new(directory), IndexOptions::default())?;
        let roots: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
        writer.add_paths(&roots)
    });
    let summary = summary.map_err(|e| PyOSError::new_err(e.to_string()))?;
    serde_json::to_string(&summary).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The compiled part of the `pugmark` package.
#[pymodule]
fn _pugmark(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIndex>()?;
    m.add_class::<PyScanner>()?;
    m.add_function(wrap_pyfunction!(index_paths, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
