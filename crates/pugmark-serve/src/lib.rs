//! pugmark as a long-running scanner for gateways. Mail and file platforms
//! already speak clamd's socket protocol, web proxies speak ICAP: this crate
//! answers both over one shared [`pugmark::Scanner`], so such a platform
//! uses pugmark as its engine without new glue.
//!
//! * [`clamd`] — the clamd protocol: commands, `INSTREAM` framing, replies.

pub mod clamd;
