//! Why something was not fully examined: the [`Reason`] every layer
//! (readers, fingerprints, the index, reports) attaches to an item. A leaf
//! module: it depends on nothing but the content kinds.

use serde::{Deserialize, Serialize};

use crate::sniff::Kind;

/// Why something was not fully examined: a stable dotted code plus a
/// human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code, e.g. `signal.unavailable.image` or `source.symlink`.
    pub code: String,
    /// What exactly happened, for an analyst.
    pub detail: String,
    /// Set on a note that was a reason until the scan's
    /// `accept_incomplete` waived it: what it names was not examined
    /// (serialised only when set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waived: bool,
}

impl Reason {
    /// Builds a reason from a code and a detail.
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Reason {
        Reason {
            code: code.into(),
            detail: detail.into(),
            waived: false,
        }
    }

    /// The item's kind belongs to a deep signal that does not read this
    /// format yet, so only its bytes were examined.
    pub fn signal_unavailable(signal: &str, kind: Kind) -> Reason {
        Reason::new(
            format!("signal.unavailable.{signal}"),
            format!(
                "{} content belongs to the `{signal}` signal, which cannot read this format yet; only byte signals ran",
                kind.name()
            ),
        )
    }
}
