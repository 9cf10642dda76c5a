//! Fuzz target `hdf5`: inputs shaped for that reader, scanned as `input.h5`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"\x89HDF\r\n\x1a\n"]), "input.h5");
