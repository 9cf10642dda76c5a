//! Fuzz target `office`: inputs shaped for that reader, scanned as `input.docx`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"PK\x03\x04"]), "input.docx");
