//! Progress reporting and cancellation, injected by the caller.
//!
//! The library calls a [`Progress`] implementation; the CLI draws a bar with
//! it, a service may export counters. A caller-owned stop flag is checked
//! between items.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Receives progress of a long job. Methods may be called from many threads.
pub trait Progress: Send + Sync {
    /// The job starts: `items` files totalling `bytes` bytes will be visited.
    fn begin(&self, _items: u64, _bytes: u64) {}
    /// One item of `bytes` bytes was finished (fingerprinted or skipped).
    fn advance(&self, _bytes: u64) {}
    /// The job ended (successfully or not).
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A shared stop flag: raise it and running jobs stop between items.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A new, lowered flag.
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// Asks running jobs to stop.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
