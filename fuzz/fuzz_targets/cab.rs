//! Fuzz target `cab`: inputs shaped for that reader, scanned as `input.cab`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"MSCF\0\0\0\0"]), "input.cab");
