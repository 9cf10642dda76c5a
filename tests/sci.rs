//! The formats science uses, made by GDAL from a protected DEM: NetCDF
//! classic is decoded into the canonical raster model (a packed int16 copy
//! matches the original as identical, a window as a window, an unrelated
//! grid is clean); HDF5/NetCDF-4, GRIB, Erdas Imagine and JPEG 2000 are
//! recognised and, until their samples are decoded, `incomplete` with the
//! format's own reason, never clean.

mod common;

use std::path::Path;

use pugmark::{Evidence, Verdict};

#[test]
fn scientific_rasters_match_or_are_never_clean_unexamined() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let (_tmp, scanner) = common::index_items(31, &[("rasters/rmnp-dem.tif".into(), dem)]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sci");

    let report = scanner.scan_path(&dir.join("dem-packed-int16.nc"));
    assert!(
        matches!(report.evidence.as_slice(), [Evidence::Raster { method, .. }] if method == "identical"),
        "{:?}",
        report.evidence
    );
    let report = scanner.scan_path(&dir.join("window-classic.nc"));
    assert!(
        matches!(
            report.evidence.as_slice(),
            [Evidence::Raster { method, offset: Some([30, 20]), .. }] if method == "window"
        ),
        "{:?}",
        report.evidence
    );
    let report = scanner.scan_path(&dir.join("dem-16bit.png"));
    assert!(
        report
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::Raster { method, .. } if method == "identical")),
        "{:?}",
        report.evidence
    );
    let report = scanner.scan_path(&dir.join("slope-classic.nc"));
    assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.reasons);

    // A station series written by xarray: its rows are the protected
    // log's records (CF time units read as dates); another series is clean.
    let csv = std::fs::read(common::reserve("telemetry/vega_seattle-weather.csv")).unwrap();
    let (_tmp2, logs) =
        common::index_items(32, &[("telemetry/vega_seattle-weather.csv".into(), csv)]);
    let report = logs.scan_path(&dir.join("station-xarray.nc"));
    assert!(
        matches!(
            report.evidence.as_slice(),
            [Evidence::Records {
                matched_records: 400,
                ..
            }]
        ),
        "{:?} {:?}",
        report.evidence,
        report.reasons
    );
    let report = logs.scan_path(&dir.join("co2-xarray.nc"));
    assert_eq!(report.verdict, Verdict::Clean, "{:?}", report.reasons);

    for (file, code) in [
        ("window-nc4.nc", "raster.unsupported.hdf5"),
        ("dem.grb2", "raster.unsupported.grib"),
        ("dem.img", "raster.unsupported.hfa"),
        ("dem.jp2", "raster.unsupported.jpeg2000"),
    ] {
        let report = scanner.scan_path(&dir.join(file));
        assert_eq!(report.verdict, Verdict::Incomplete, "{file}");
        let codes = common::reason_codes(&report);
        assert!(codes.iter().any(|c| c == code), "{file}: {codes:?}");
    }
}
