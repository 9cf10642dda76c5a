//! Fuzz target `grib`: inputs shaped for that reader, scanned as `input.grb2`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"GRIB"]), "input.grb2");
