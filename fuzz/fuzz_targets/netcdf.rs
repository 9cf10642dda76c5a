//! Fuzz target `netcdf`: inputs shaped for that reader, scanned as `input.nc`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(
    Shape::Prefix(&[b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n"]),
    "input.nc"
);
