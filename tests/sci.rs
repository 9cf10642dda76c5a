//! The formats science uses, made by GDAL, xarray/netCDF4 and h5py from a
//! protected DEM and a protected station log (tests/fixtures/sci/SOURCES.md):
//! each decoded copy matches as the conversion says (identical when
//! lossless, a window with its offset, perceptual when lossy, records for
//! a station series), the same format made from unrelated data is clean,
//! and a format not decoded is `incomplete` with its own reason.

mod common;

use std::path::Path;

use pugmark::{Evidence, Report, Verdict};

/// What a fixture must give.
#[derive(Debug)]
enum Expect {
    /// A raster match with this method (`identical`, `perceptual`).
    Raster(&'static str),
    /// A raster window at (row, column).
    Window(i64, i64),
    /// A records match of this many records.
    Records(u64),
    /// Clean.
    Clean,
    /// Incomplete with this reason code.
    Incomplete(&'static str),
}

fn check(file: &str, report: &Report, expect: &Expect) {
    // A match must also have read the whole file: no reason that names
    // something left unread.
    let whole = !common::reason_codes(report)
        .iter()
        .any(|c| c.starts_with("raster.") || c.starts_with("records.") || c.starts_with("limits."));
    let raster = |want: &dyn Fn(&Evidence) -> bool| whole && report.evidence.iter().any(want);
    let ok = match *expect {
        Expect::Raster(m) => {
            raster(&|e| matches!(e, Evidence::Raster { method, .. } if method == m))
        }
        Expect::Window(r, c) => raster(&|e| {
            matches!(e, Evidence::Raster { method, offset: Some(o), .. }
                if method == "window" && *o == [r, c])
        }),
        Expect::Records(n) => raster(
            &|e| matches!(e, Evidence::Records { matched_records, .. } if *matched_records == n),
        ),
        Expect::Clean => report.verdict == Verdict::Clean,
        Expect::Incomplete(code) => {
            report.verdict == Verdict::Incomplete
                && common::reason_codes(report).iter().any(|c| c == code)
        }
    };
    assert!(
        ok,
        "{file}: expected {expect:?}, got {:?} {:?} {:?}",
        report.verdict, report.evidence, report.reasons
    );
}

#[test]
fn scientific_rasters_match_or_are_never_clean_unexamined() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let (_tmp, scanner) = common::index_items(31, &[("rasters/rmnp-dem.tif".into(), dem)]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sci");
    use Expect::*;
    for (file, expect) in [
        // NetCDF classic: packed int16 (scale/offset) and a float window.
        ("dem-packed-int16.nc", Raster("identical")),
        ("window-classic.nc", Window(30, 20)),
        ("slope-classic.nc", Clean),
        // A file holding one vector (scipy's test data): a one-column
        // series, read, so clean rather than unexamined.
        ("scipy_example_2.nc", Clean),
        // NetCDF-4 (HDF5, deflate, bottom-up rows) and plain HDF5 (h5py,
        // chunked, gzip + shuffle, in a group).
        ("dem-nc4.nc", Raster("identical")),
        ("window-nc4.nc", Window(30, 20)),
        ("slope-nc4.nc", Clean),
        ("dem-h5py.h5", Raster("identical")),
        // HDF5 after a 512-byte user block; groups linked in a cycle.
        ("userblock.h5", Clean),
        ("cyclic-groups.h5", Incomplete("raster.decode_failed")),
        // An XYZ text grid (32 x 32 of the window, north first).
        ("dem-window.xyz", Window(30, 20)),
        ("slope.xyz", Clean),
        // A 16-bit PNG export: a raster as well as a picture.
        ("dem-16bit.png", Raster("identical")),
        // GRIB2 in each packing GDAL writes (simple, complex with a
        // missing value, JPEG 2000, IEEE), rows stored south to north.
        ("dem.grb2", Raster("identical")),
        ("dem-complex.grb2", Raster("identical")),
        ("dem-jpeg2000.grb2", Raster("identical")),
        ("dem-window.grb2", Window(30, 20)),
        ("dem-window-ieee.grb2", Window(30, 20)),
        ("slope.grb2", Clean),
        // GRIB edition 1 (ecCodes' conversion of dem-window.grb2).
        ("dem-window.grb1", Window(30, 20)),
        // JPEG 2000: lossless JP2, a raw codestream of the window, and a
        // lossy JP2 (off by up to 11 m) that still matches perceptually.
        ("dem-lossless.jp2", Raster("identical")),
        ("dem-lossless.j2k", Window(30, 20)),
        ("dem.jp2", Raster("perceptual")),
        ("slope.jp2", Clean),
        // Erdas Imagine: run-length compressed, uncompressed window.
        ("dem.img", Raster("identical")),
        ("dem-window.img", Window(30, 20)),
        ("slope.img", Clean),
        // Samples in a spill file (.ige) that is not sent along: the
        // layer cannot be read, so never clean.
        ("dem-spill.img", Incomplete("raster.unsupported")),
        // Two grids of different shapes: the larger is read, the other
        // is named as not examined.
        ("two-grids.nc", Incomplete("raster.unsupported.netcdf")),
        // A series and a 1-D variable on another dimension: named.
        ("two-series.nc", Incomplete("raster.unsupported.netcdf")),
        // ENVI raw files, read with the header beside them: BSQ, BIL,
        // BIP, big-endian; the header alone holds no samples.
        ("dem-bsq.envi", Raster("identical")),
        ("dem-window-bil.envi", Window(30, 20)),
        ("dem-window-bip.envi", Window(30, 20)),
        ("dem-window-be.envi", Window(30, 20)),
        ("slope.envi", Clean),
        ("dem-bsq.hdr", Clean),
    ] {
        check(file, &scanner.scan_path(&dir.join(file)), &expect);
    }

    // Station series written by xarray (classic via scipy, NetCDF-4 via
    // netCDF4 with deflate and a variable-length string column): their
    // rows are the protected log's records (CF time units read as dates);
    // another series is clean.
    let csv = std::fs::read(common::reserve("telemetry/vega_seattle-weather.csv")).unwrap();
    let (_tmp2, logs) =
        common::index_items(32, &[("telemetry/vega_seattle-weather.csv".into(), csv)]);
    // Text outside the data (a global attribute holding a table) is
    // examined as a member of its own.
    let report = logs.scan_path(&dir.join("csv-in-attribute.nc"));
    assert_eq!(report.verdict, Verdict::Match, "{:?}", report.reasons);
    for (file, expect) in [
        ("station-xarray.nc", Records(400)),
        ("co2-xarray.nc", Clean),
        ("station-nc4.nc", Records(400)),
        // Plain HDF5 (h5py): one gzip dataset per column in a group.
        ("station-h5py.h5", Records(400)),
        ("co2-nc4.nc", Clean),
    ] {
        check(file, &logs.scan_path(&dir.join(file)), &expect);
    }
}

/// Cut or damaged NetCDF-4 / HDF5, GRIB2 and JPEG 2000 files (B-trees,
/// object headers, sections, chunks and codestreams announced past the
/// end, or with bytes overwritten) end `incomplete` or still match, never
/// clean and never a crash, within the read bounds.
#[test]
fn damaged_scientific_files_are_never_clean() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let (_tmp, scanner) = common::index_items(33, &[("rasters/rmnp-dem.tif".into(), dem)]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sci");
    for file in [
        "dem-nc4.nc",
        "dem-h5py.h5",
        "dem.grb2",
        "dem-jpeg2000.grb2",
        "dem-complex.grb2",
        "dem-lossless.jp2",
        "dem.img",
    ] {
        let good = std::fs::read(dir.join(file)).unwrap();
        let n = good.len();
        for cut in [16, 100, 600, 2_000, n / 4, n / 2, n - 700, n - 1] {
            let report = scanner.scan_bytes(file, &good[..cut]);
            assert_ne!(report.verdict, Verdict::Clean, "{file} cut at {cut}");
        }
        // Overwritten metadata and chunk bytes (the signature kept): every
        // 97th byte of the first 8 KiB set to 0xFF, one region at a time.
        for start in (16..8192.min(n)).step_by(1024) {
            let mut bad = good.clone();
            for i in (start..(start + 1024).min(n)).step_by(97) {
                bad[i] = 0xFF;
            }
            let report = scanner.scan_bytes(file, &bad);
            assert_ne!(report.verdict, Verdict::Clean, "{file} damaged at {start}");
        }
    }
}

/// Hand-made hostile and awkward files (tests/fixtures/sci/SOURCES.md):
/// headers that would have the decoders allocate tens of gigabytes end
/// `incomplete` at once; data hidden beside what is read (decoy series,
/// compound tables, enum and float16 datasets, a channel box that drops
/// components, raw bytes past an ENVI header's bands) is named, never
/// clean; ordinary files that once were refused (a 5-band JPEG 2000, a
/// lone short record variable, CF cell bounds) are read whole and clean.
#[test]
fn hostile_and_awkward_scientific_files() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let (_tmp, scanner) = common::index_items(34, &[("rasters/rmnp-dem.tif".into(), dem)]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sci/hostile");
    use Expect::*;
    for (file, expect) in [
        ("cplx_bomb.grb2", Incomplete("raster.decode_failed")),
        ("hfa_bomb.img", Incomplete("raster.decode_failed")),
        ("tiles.j2k", Incomplete("raster.decode_failed")),
        ("envi-bomb.raw", Incomplete("raster.decode_failed")),
        ("series_bomb.nc", Incomplete("limits.series_cells")),
        ("b_decoy.nc", Incomplete("raster.unsupported.netcdf")),
        ("e_grid_compound.h5", Incomplete("raster.unsupported.hdf5")),
        ("j_enum_f16.h5", Incomplete("raster.unsupported.hdf5")),
        ("z12_cdef1.jp2", Incomplete("raster.unsupported")),
        (
            "envi-extra-bands.raw",
            Incomplete("raster.unsupported.envi"),
        ),
        // The rest of the second review's set: a J2K of 255 components
        // in 1x1 tiles with 32 wavelet levels (aborted the process), zips
        // after a codestream's end and in GRIB section 2, values hidden
        // after a GRIB field's point count (PNG and simple packing), data
        // shaped like coordinates, a shared HDF5 group, ENVI bytes before
        // its header offset.
        ("c255_l32.j2k", Incomplete("raster.decode_failed")),
        ("j2k_zip.j2k", Incomplete("container.embedded")),
        ("sec2.grb2", Incomplete("container.embedded")),
        ("png_hide.grb2", Incomplete("raster.decode_failed")),
        ("simple_hide.grb2", Incomplete("raster.decode_failed")),
        ("coord_hide.nc", Incomplete("raster.unsupported.netcdf")),
        ("dag_4_3.h5", Incomplete("raster.decode_failed")),
        ("envi-offset.bin", Incomplete("raster.unsupported.envi")),
        ("five.jp2", Clean),
        ("g_rec_short.nc", Clean),
        ("h_cf_bounds.nc", Clean),
    ] {
        check(file, &scanner.scan_path(&dir.join(file)), &expect);
    }
    // Record sizes come from the dimensions, not the stored vsize (0
    // here): the two records are two different bands, not record 0 twice.
    let pipeline = pugmark::Pipeline::new(pugmark::FingerprintParams::with_seed(3)).unwrap();
    let leak = std::fs::read(dir.join("leak_vsize.nc")).unwrap();
    let raster = pipeline
        .fingerprint_bytes(None, &leak)
        .raster
        .expect("decoded");
    assert_eq!(raster.bands.len(), 2);
    assert_ne!(raster.bands[0].digest, raster.bands[1].digest);
    // Four billion empty records: read at once, nothing to find.
    let report = scanner.scan_path(&dir.join("nc_zero_slabs.nc"));
    assert_ne!(report.verdict, Verdict::Match);
}
