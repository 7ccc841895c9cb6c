//! Source documents: YAML or JSON text parsed into a [`Node`] tree that remembers where every
//! value was written, so that every later error can name its file, line and column.

mod de;
mod node;

pub use de::{NodeDeserializer, NodeError};
pub use node::{Loc, Node, NodeKind, PathSeg, parse};
