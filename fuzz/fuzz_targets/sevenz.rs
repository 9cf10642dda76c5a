//! Fuzz target `sevenz`: inputs shaped for that reader, scanned as `input.7z`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"7z\xbc\xaf\x27\x1c"]), "input.7z");
