//! pugmark as a long-running scanner for gateways. Mail and file platforms
//! already speak clamd's socket protocol, web proxies speak ICAP: this crate
//! answers both over one shared [`pugmark::Scanner`], so such a platform
//! uses pugmark as its engine without new glue.
//!
//! * [`clamd`] — the clamd protocol: commands, `INSTREAM` framing, replies;
//! * [`decode`] — HTTP Content-Encodings undone, nothing left behind a
//!   stream's end;
//! * [`icap`] — ICAP (RFC 3507): heads, chunked bodies and previews,
//!   `204`, echoes and block pages;
//! * [`server`] — listeners, connections, reload, shutdown, counters;
//! * [`slots`] — scan slots, given in arrival order, with a bounded wait;
//! * [`spool`] — bodies held whole (memory, then a temporary file) before
//!   they are scanned.

pub mod clamd;
pub mod decode;
pub mod icap;
pub mod server;
pub mod slots;
pub mod spool;

pub use server::{Listen, ServeOptions, Server};
