//! Located source documents.
//!
//! A policy or config file is YAML (or JSON, which YAML 1.2 reads too). Users need every later
//! error to say where the offending value was written, not just what is wrong with it, so this
//! crate parses the text into a [`Node`] tree that keeps each value's line and column, and offers
//! a serde [`NodeDeserializer`] over that tree: a typed config with
//! `#[serde(deny_unknown_fields)]` deserializes from it, and a failure comes back as a
//! [`NodeError`] carrying the JSON path and the [`Loc`] of the value at fault.
//!
//! ```
//! #[derive(serde::Deserialize, Debug)]
//! #[serde(deny_unknown_fields)]
//! struct Limit {
//!     capacity: u32,
//! }
//!
//! let doc = sluice_source::parse("limit:\n  capacity: lots\n").unwrap();
//! let node = doc.get("limit").unwrap();
//! let err = sluice_source::NodeDeserializer::deserialize::<Limit>(node).unwrap_err();
//! assert_eq!(err.loc.unwrap().to_string(), "2:13");
//! assert_eq!(sluice_source::PathSeg::render(&err.path), "capacity");
//! ```
//!
//! Used by the policy engine (policy files), the edge (its config file), the agent (its config
//! files) and the conformance runner (test files).

mod de;
mod node;

pub use de::{NodeDeserializer, NodeError};
pub use node::{Loc, Node, NodeKind, PathSeg, parse};
