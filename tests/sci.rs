//! The formats science uses (NetCDF, HDF5, GRIB, Erdas Imagine, JPEG
//! 2000), made by GDAL from a protected DEM: each is recognised by its
//! signature and, until its samples are decoded, is `incomplete` with the
//! format's own reason, never clean.

mod common;

use std::path::Path;

use pugmark::Verdict;

#[test]
fn scientific_rasters_are_never_clean_unexamined() {
    let dem = std::fs::read(common::reserve("rasters/rmnp-dem.tif")).unwrap();
    let (_tmp, scanner) = common::index_items(31, &[("rasters/rmnp-dem.tif".into(), dem)]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sci");
    for (file, code) in [
        ("dem-classic.nc", "raster.unsupported.netcdf"),
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
