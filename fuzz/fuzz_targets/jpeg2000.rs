//! Fuzz target `jpeg2000`: inputs shaped for that reader, scanned as `input.jp2`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(
    Shape::Prefix(&[b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51"]),
    "input.jp2"
);
