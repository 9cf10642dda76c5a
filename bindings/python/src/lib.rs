//! Python bindings of pugmark: `pugmark.Index` and `pugmark.Scanner` (see
//! `python/pugmark/__init__.py` for the Python face). Scans release the
//! GIL, so threads scan in parallel; reports cross as JSON text (schema 1,
//! the same as `pugmark scan --json`) and become dicts on the Python side.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pugmark::index::{Index, OpenOptions};
use pugmark::{IndexOptions, IndexWriter, Progress, ScanOptions, Scanner, SharedScanner, StopFlag};
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

/// A flag that cancels the scans (or the indexing run) it is passed to.
#[pyclass(name = "_Cancel", frozen)]
struct PyCancel {
    flag: StopFlag,
}

#[pymethods]
impl PyCancel {
    /// A new, lowered flag.
    #[new]
    fn new() -> Self {
        PyCancel {
            flag: StopFlag::new(),
        }
    }

    /// Raises the flag (from any thread).
    fn cancel(&self) {
        self.flag.raise();
    }

    /// Whether the flag is raised.
    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.is_raised()
    }
}

/// Scans outgoing items against an index.
#[pyclass(name = "_Scanner", frozen)]
struct PyScanner {
    /// Swapped by `reload`; scans running on the old one finish on it.
    scanner: SharedScanner,
}

impl PyScanner {
    /// The scanner in use now, bound to `cancel` when given.
    fn current(&self, cancel: Option<&PyCancel>) -> Arc<Scanner> {
        let scanner = self.scanner.current();
        match cancel {
            Some(c) => Arc::new(scanner.with_stop(c.flag.clone())),
            None => scanner,
        }
    }
}

#[pymethods]
impl PyScanner {
    /// A scanner over an open index.
    #[new]
    fn new(index: &PyIndex) -> PyResult<Self> {
        Scanner::new(index.index.clone(), ScanOptions::default())
            .map(|scanner| PyScanner {
                scanner: SharedScanner::new(scanner),
            })
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Scans `data` as an item called `name`; the report as JSON text.
    #[pyo3(signature = (name, data, cancel=None))]
    fn scan_bytes(
        &self,
        py: Python<'_>,
        name: &str,
        data: &[u8],
        cancel: Option<&PyCancel>,
    ) -> PyResult<String> {
        let scanner = self.current(cancel);
        let report = py.allow_threads(|| scanner.scan_bytes(name, data));
        serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Scans the file at `path`; the report as JSON text.
    #[pyo3(signature = (path, cancel=None))]
    fn scan_path(&self, py: Python<'_>, path: &str, cancel: Option<&PyCancel>) -> PyResult<String> {
        let scanner = self.current(cancel);
        let report = py.allow_threads(|| scanner.scan_path(Path::new(path)));
        serde_json::to_string(&report).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// Opens the index again if a writer changed it since; whether it did.
    fn reload(&self, py: Python<'_>) -> PyResult<bool> {
        let reloaded = py.allow_threads(|| self.scanner.reload());
        reloaded.map_err(|e| PyOSError::new_err(e.to_string()))
    }

    /// The index scans use now.
    fn index(&self) -> PyIndex {
        PyIndex {
            index: self.current(None).shared_index(),
        }
    }
}

/// Reports an indexing run's progress to a Python callable, called with
/// (bytes done, bytes in all) at most about every 1% of the bytes.
struct PyProgress {
    callback: PyObject,
    total: AtomicU64,
    done: AtomicU64,
    /// Bytes done when the callable was last called.
    told: AtomicU64,
}

impl Progress for PyProgress {
    fn begin(&self, _items: u64, bytes: u64) {
        self.total.store(bytes, Ordering::Relaxed);
        self.tell(0);
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let step = (self.total.load(Ordering::Relaxed) / 100).max(1);
        let told = self.told.load(Ordering::Relaxed);
        if done >= told + step
            && self
                .told
                .compare_exchange(told, done, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.tell(done);
        }
    }

    fn finish(&self) {
        self.tell(self.done.load(Ordering::Relaxed));
    }
}

impl PyProgress {
    /// Calls the callable with the GIL. What it raises goes to Python's
    /// unraisable-exception hook (as exceptions in callbacks from other
    /// threads do) and does not stop the run: a Cancel does.
    fn tell(&self, done: u64) {
        let total = self.total.load(Ordering::Relaxed);
        Python::with_gil(|py| {
            if let Err(e) = self.callback.call1(py, (done, total)) {
                e.write_unraisable(py, None);
            }
        });
    }
}

/// Indexes `paths` (files and directories; new or changed files only) into
/// the index in `directory`, creating it with fresh parameters if needed;
/// the run's summary as JSON text.
#[pyfunction]
#[pyo3(signature = (directory, paths, progress=None, cancel=None))]
fn index_paths(
    py: Python<'_>,
    directory: &str,
    paths: Vec<String>,
    progress: Option<PyObject>,
    cancel: Option<&PyCancel>,
) -> PyResult<String> {
    let mut opts = IndexOptions::default();
    if let Some(callback) = progress {
        opts = opts.with_progress(Arc::new(PyProgress {
            callback,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            told: AtomicU64::new(0),
        }));
    }
    if let Some(cancel) = cancel {
        opts = opts.with_stop(cancel.flag.clone());
    }
    let summary = py.allow_threads(|| -> pugmark::Result<_> {
        let mut writer = IndexWriter::open(Path::new(directory), opts)?;
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
    m.add_class::<PyCancel>()?;
    m.add_function(wrap_pyfunction!(index_paths, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
