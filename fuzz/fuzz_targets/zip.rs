//! Fuzz target `zip`: inputs shaped for that reader, scanned as `input.zip`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"PK\x03\x04", b"PK\x05\x06"]), "input.zip");
