"""pugmark: fingerprints protected datasets and catches them leaving.

    import pugmark
    pugmark.index_paths("/var/lib/pugmark", ["/archive/protected"])  # or `pugmark index`
    index = pugmark.Index("/var/lib/pugmark")
    scanner = pugmark.Scanner(index)
    report = scanner.scan_path("/outgoing/upload.tif")
    if report["verdict"] != "clean":
        ...  # block or hold; the report is the evidence

Reports are dicts in the JSON report's shape (schema 1, as `pugmark scan
--json` prints): "verdict" is "clean", "match", "incomplete" or "error".
Scans release the GIL: one Scanner serves many threads at once. A Cancel
passed to a scan stops it from another thread (the item is then
"incomplete" with the reason "scan.cancelled"); Scanner.reload() picks up
an index a writer changed since it was opened.
"""

import json
import os

from . import _pugmark

__version__ = _pugmark.__version__

__all__ = ["Cancel", "Index", "Scanner", "index_paths", "__version__"]


class Cancel:
    """A flag that cancels the scans (or the indexing run) it is passed to,
    raised from any thread with cancel()."""

    def __init__(self):
        self._cancel = _pugmark._Cancel()

    def cancel(self):
        """Cancels: running work stops at its next archive member or
        stream read; work started later stops at once."""
        self._cancel.cancel()

    @property
    def cancelled(self):
        """Whether cancel() was called."""
        return self._cancel.cancelled


def _flag(cancel):
    if cancel is None:
        return None
    if not isinstance(cancel, Cancel):
        raise TypeError(f"cancel must be a pugmark.Cancel, not {type(cancel).__name__}")
    return cancel._cancel


def index_paths(directory, paths, progress=None, cancel=None):
    """Indexes files and directories (new or changed files only) into the
    index in `directory`, creating it if needed; returns the run's summary
    dict. The same as `pugmark --index DIRECTORY index PATHS...`.

    `progress`, when given, is called as progress(bytes_done, bytes_total)
    from the indexing threads (about every 1%). A raised `cancel` stops the
    run between files (what was committed stays) and raises OSError."""
    if progress is not None and not callable(progress):
        raise TypeError("progress must be callable")
    return json.loads(
        _pugmark.index_paths(
            str(directory), [str(p) for p in paths], progress, _flag(cancel)
        )
    )


class Index:
    """An open index (a read-only snapshot of its directory)."""

    def __init__(self, directory):
        self._index = _pugmark._Index(str(directory))

    @property
    def live_items(self):
        """Protected items the index holds."""
        return self._index.live_items

    @property
    def params(self):
        """The fingerprint parameters (the secret seed shown as "secret")."""
        return json.loads(self._index.params_json)


class Scanner:
    """Scans outgoing items against an Index (or an index directory)."""

    def __init__(self, index):
        if not isinstance(index, Index):
            index = Index(index)
        self.index = index
        self._scanner = _pugmark._Scanner(index._index)

    def scan_bytes(self, name, data, cancel=None):
        """Scans bytes (bytes, bytearray or memoryview) as an item called
        `name` (a str; its extension helps recognise the format); returns
        the report dict. A raised `cancel` (a Cancel) stops the scan."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        return json.loads(self._scanner.scan_bytes(name, bytes(data), _flag(cancel)))

    def scan_path(self, path, cancel=None):
        """Scans one file (str, bytes or os.PathLike); returns the report
        dict. A raised `cancel` (a Cancel) stops the scan."""
        return json.loads(
            self._scanner.scan_path(os.fsdecode(os.fspath(path)), _flag(cancel))
        )

    def reload(self):
        """Opens the index again if a writer changed it since it was
        opened (scans already running finish on the old one); returns
        whether it did. `self.index` is then the new one."""
        reloaded = self._scanner.reload()
        if reloaded:
            index = Index.__new__(Index)
            index._index = self._scanner.index()
            self.index = index
        return reloaded
