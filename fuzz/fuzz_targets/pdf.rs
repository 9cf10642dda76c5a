//! Fuzz target `pdf`: inputs shaped for that reader, scanned as `input.pdf`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Prefix(&[b"%PDF-"]), "input.pdf");
