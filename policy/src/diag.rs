//! Load-time diagnostics: every problem found in a policy, with file, line, column, JSON path,
//! an error code numbered like ngrok's, and what to do about it.

use std::fmt;
use std::sync::Arc;

use crate::source::{Loc, PathSeg};

/// Error codes for policy validation, numbered like ngrok's `ERR_NGROK_*` where a matching one
/// exists, printed as `ERR_SLUICE_<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 2200: a CEL expression does not compile.
    InvalidExpression,
    /// 2201: no action with this `type` is registered.
    UnknownActionType,
    /// 2202: the action does not run in this phase.
    ActionNotInPhase,
    /// 2203: the action's config does not decode (wrong type, unknown or missing field).
    InvalidConfig,
    /// 2204: a config value is not acceptable.
    InvalidValue,
    /// 2206: a rule has no actions.
    NoActions,
    /// 2207: an action follows a terminating action in the same rule.
    UnreachableAction,
    /// 2215: a number or duration is outside its range.
    OutOfRange,
    /// 2218: a list or map has too many entries.
    TooManyEntries,
    /// 2224: a `${…}` template does not compile.
    InvalidTemplate,
    /// 2227: a document an action needs from elsewhere could not be fetched or is invalid
    /// (an OpenID Connect issuer's discovery document); found when an edge prepares the policy.
    BadDiscoveryDocument,
    /// 2230: the phase cannot run for the endpoint's protocol.
    PhaseNotForProtocol,
    /// 2232: an expression names a variable or function that does not exist.
    UnknownReference,
    /// 2233: a regular expression does not compile.
    InvalidRegex,
    /// 2270: an expression's worst-case cost estimate is over the limit.
    TooExpensive,
    /// 2236: the document is not valid YAML or JSON.
    Syntax,
    /// 2239: more than one authentication action in one policy.
    MultipleAuth,
    /// 9026: the document's structure is wrong (a map where a list belongs, an unknown phase…).
    InvalidStructure,
}

impl Code {
    /// The number, as in `ERR_SLUICE_2201`.
    pub fn number(self) -> u16 {
        match self {
            Code::InvalidExpression => 2200,
            Code::UnknownActionType => 2201,
            Code::ActionNotInPhase => 2202,
            Code::InvalidConfig => 2203,
            Code::InvalidValue => 2204,
            Code::NoActions => 2206,
            Code::UnreachableAction => 2207,
            Code::OutOfRange => 2215,
            Code::TooManyEntries => 2218,
            Code::InvalidTemplate => 2224,
            Code::BadDiscoveryDocument => 2227,
            Code::PhaseNotForProtocol => 2230,
            Code::UnknownReference => 2232,
            Code::InvalidRegex => 2233,
            Code::TooExpensive => 2270,
            Code::Syntax => 2236,
            Code::MultipleAuth => 2239,
            Code::InvalidStructure => 9026,
        }
    }
}

impl Code {
    /// The code of an expression that does not compile.
    pub(crate) fn of_compile(kind: &crate::cel::CompileErrorKind) -> Code {
        use crate::cel::CompileErrorKind as K;
        match kind {
            K::Syntax => Code::InvalidExpression,
            K::UnknownVariable | K::UnknownFunction => Code::UnknownReference,
            K::TooExpensive => Code::TooExpensive,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR_SLUICE_{}", self.number())
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The policy does not load.
    Error,
    /// The policy loads, but something deserves attention (e.g. a legacy phase name).
    Warning,
}

/// One problem found while loading a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The code.
    pub code: Code,
    /// The file name as given to the loader.
    pub file: Arc<str>,
    /// Where in the file.
    pub loc: Loc,
    /// JSON path, e.g. `on_http_request[0].actions[1].config.capacity`.
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Diagnostic {
    /// An error at `path`/`loc`.
    pub fn error(
        code: Code,
        file: &Arc<str>,
        loc: Loc,
        path: &[PathSeg],
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.clone(),
            loc,
            path: PathSeg::render(path),
            message: message.into(),
        }
    }

    /// A warning at `path`/`loc`.
    pub fn warning(
        code: Code,
        file: &Arc<str>,
        loc: Loc,
        path: &[PathSeg],
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, loc, path, message)
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.loc.line, self.loc.col)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{} [{}]", self.message, self.code)
    }
}

/// A policy that failed to load: every error found, in document order, plus any warnings.
#[derive(Debug, Clone, thiserror::Error)]
pub struct PolicyError {
    /// All diagnostics (at least one is an error).
    pub diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in self.errors() {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
