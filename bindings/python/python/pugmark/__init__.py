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
Scans release the GIL: one Scanner serves many threads at once.
"""

import json
import os

from . import _pugmark

__version__ = _pugmark.__version__

__all__ = ["Index", "Scanner", "index_paths", "__version__"]


def index_paths(directory, paths):
    """Indexes files and directories (new or changed files only) into the
    index in `directory`, creating it if needed; returns the run's summary
    dict. The same as `pugmark --index DIRECTORY index PATHS...`."""
    return json.loads(_pugmark.index_paths(str(directory), [str(p) for p in paths]))


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

    def scan_bytes(self, name, data):
        """Scans bytes (bytes, bytearray or memoryview) as an item called
        `name` (a str; its extension helps recognise the format); returns
        the report dict."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        return json.loads(self._scanner.scan_bytes(name, bytes(data)))

    def scan_path(self, path):
        """Scans one file (str, bytes or os.PathLike); returns the report
        dict."""
        return json.loads(self._scanner.scan_path(os.fsdecode(os.fspath(path))))
