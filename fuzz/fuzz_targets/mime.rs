//! Fuzz target `mime`: inputs shaped for that reader, scanned as `input.eml`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Any, "input.eml");
