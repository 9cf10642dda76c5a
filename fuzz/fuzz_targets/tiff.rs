//! Fuzz target `tiff`: inputs shaped for that reader, scanned as `input.tif`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(
    Shape::Prefix(&[b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]),
    "input.tif"
);
