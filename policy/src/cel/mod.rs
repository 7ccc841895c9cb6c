//! The CEL environment of policies: ngrok's variables and functions on top of the `cel` crate.
//!
//! Expressions and `${…}` templates are compiled once, when a policy loads ([`Expr`],
//! [`Template`]); at request time they only run against a [`Scope`] that lends the
//! request's values to the interpreter without copying them.

mod ast_mut;
pub mod cost;
mod env;
mod expr;
pub(crate) mod fast;
mod fields;
mod lexer;
pub mod needs;
mod scope;
mod subfields;
mod template;
pub mod value;

pub use cost::meter::{Budget, Exhausted};
pub use env::{KNOWN_VARIABLES, policy_env};
pub use expr::{CompileError, CompileErrorKind, EvalError, Expr};
pub use needs::{FieldSet, Needs};
pub use scope::{Scope, ScopeVar, shared};
pub use template::{Template, TemplateError};
