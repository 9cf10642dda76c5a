//! The `image` signal: PDQ perceptual hashes of photos, with border
//! trimming and a few region hashes so that re-encoded, resized, recoloured,
//! mirrored, rotated, framed and cropped copies still match.

pub mod decode;
pub mod pdq;
