//! Fuzz target `tar`: inputs shaped for that reader, scanned as `input.tar`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::At(257, b"ustar"), "input.tar");
