"""The Python package against data-samples: an index built from Python,
protected copies match with evidence, clean files are clean, bad input
fails closed, and threads share one scanner."""

import concurrent.futures
import json
import pathlib

import pytest

import pugmark

ROOT = pathlib.Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "data-samples"


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    directory = tmp_path_factory.mktemp("index") / "idx"
    summary = pugmark.index_paths(directory, [SAMPLES / "reserve"])
    assert summary["indexed_files"] > 0, summary
    index = pugmark.Index(directory)
    assert index.live_items > 0
    assert index.params["gear_seed"] == "secret"
    return pugmark.Scanner(index)


def test_a_protected_copy_matches_with_evidence(scanner):
    report = scanner.scan_path(SAMPLES / "outgoing" / "dem-copy.tif")
    assert report["verdict"] == "match"
    assert report["schema"] == 1
    assert report["evidence"], report
    data = (SAMPLES / "outgoing" / "surfrad-first-60pct.dat").read_bytes()
    by_bytes = scanner.scan_bytes("surfrad-first-60pct.dat", data)
    assert by_bytes["verdict"] == "match"


def test_clean_files_are_clean(scanner):
    for name in ["patrol-notes.txt", "statsmodels_co2_maunaloa.csv"]:
        assert scanner.scan_path(SAMPLES / "outgoing" / name)["verdict"] == "clean", name


def test_unreadable_and_damaged_items_are_never_clean(scanner):
    assert scanner.scan_path(SAMPLES / "no-such-file")["verdict"] == "error"
    tif = (SAMPLES / "outgoing" / "dem-copy.tif").read_bytes()
    cut = scanner.scan_bytes("cut.tif", tif[: len(tif) // 2])
    assert cut["verdict"] in ("incomplete", "match"), cut["verdict"]


def test_wrong_argument_types_raise_instead_of_scanning_something_else(scanner):
    with pytest.raises(TypeError):
        scanner.scan_bytes("x.bin", 5000)  # bytes(5000) would be zeros
    with pytest.raises(TypeError):
        scanner.scan_bytes(None, b"data")
    by_path = scanner.scan_path(pathlib.Path(SAMPLES / "outgoing" / "dem-copy.tif"))
    by_bytes_path = scanner.scan_path(bytes(SAMPLES / "outgoing" / "dem-copy.tif"))
    assert by_path["verdict"] == by_bytes_path["verdict"] == "match"


def test_a_missing_index_raises():
    with pytest.raises(OSError):
        pugmark.Index("/nonexistent/pugmark-index")


def test_threads_share_one_scanner(scanner):
    files = sorted((SAMPLES / "outgoing").iterdir())
    one = [scanner.scan_path(f)["verdict"] for f in files]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        many = list(pool.map(lambda f: scanner.scan_path(f)["verdict"], files))
    assert one == many
    assert "match" in one and "clean" in one


def test_a_cancelled_scan_is_incomplete_and_other_scans_go_on(scanner):
    cancel = pugmark.Cancel()
    assert not cancel.cancelled
    path = SAMPLES / "outgoing" / "statsmodels_co2_maunaloa.csv"
    assert scanner.scan_path(path, cancel=cancel)["verdict"] == "clean"
    cancel.cancel()
    assert cancel.cancelled
    report = scanner.scan_path(path, cancel=cancel)
    assert report["verdict"] == "incomplete"
    assert "scan.cancelled" in json.dumps(report)
    assert scanner.scan_bytes("x.csv", path.read_bytes(), cancel=cancel)["verdict"] == "incomplete"
    assert scanner.scan_path(path)["verdict"] == "clean"
    with pytest.raises(TypeError):
        scanner.scan_path(path, cancel=True)


def test_reload_sees_a_grown_index_and_progress_is_reported(tmp_path):
    directory = tmp_path / "idx"
    seen = []
    pugmark.index_paths(
        directory,
        [SAMPLES / "reserve" / "rasters"],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen and seen[-1][0] == seen[-1][1] > 0, seen
    scanner = pugmark.Scanner(directory)
    csv = SAMPLES / "outgoing" / "statsmodels_co2_maunaloa.csv"
    assert scanner.scan_path(csv)["verdict"] == "clean"
    assert scanner.reload() is False
    before = scanner.index.live_items
    pugmark.index_paths(directory, [csv])
    assert scanner.scan_path(csv)["verdict"] == "clean"
    assert scanner.reload() is True
    assert scanner.index.live_items == before + 1
    assert scanner.scan_path(csv)["verdict"] == "match"
    cancel = pugmark.Cancel()
    cancel.cancel()
    with pytest.raises(OSError):
        pugmark.index_paths(tmp_path / "other", [SAMPLES / "reserve"], cancel=cancel)
