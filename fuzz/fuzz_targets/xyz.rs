//! Fuzz target `xyz`: inputs shaped for that reader, scanned as `input.xyz`.
#![no_main]

#[path = "common.rs"]
#[macro_use]
mod common;
use common::Shape;

shaped_target!(Shape::Any, "input.xyz");
