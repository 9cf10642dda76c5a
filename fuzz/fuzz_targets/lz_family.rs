//! Fuzz target `lz_family`: inputs shaped for that reader, scanned as `input.bin`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Any, "input.bin");
