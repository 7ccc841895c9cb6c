//! Which request/response fields a policy reads, worked out at load from its expressions, so
//! that per request only those fields are built for the interpreter. Also rejects field names
//! that do not exist (`req.path` → "did you mean `req.url.path`?").

/// Fields of `req.*` (hidden `__x` keys hold the subfields of string-with-fields variables).
pub const REQ_FIELDS: &[&str] = &[
    "method",
    "url",
    "__url",
    "host",
    "headers",
    "cookies",
    "content_type",
    "__content_type",
    "content_encoding",
    "content_length",
    "location",
    "user_agent",
    "__user_agent",
    "version",
    "trailers",
    "ts",
];

/// Fields of `res.*`.
pub const RES_FIELDS: &[&str] = &[
    "status_code",
    "headers",
    "cookies",
    "content_type",
    "__content_type",
    "content_encoding",
    "content_length",
    "location",
    "trailers",
];

/// Fields of `conn.*`.
pub const CONN_FIELDS: &[&str] = &[
    "client_ip",
    "__client_ip",
    "client_port",
    "server_ip",
    "__server_ip",
    "server_port",
    "server_region",
    "bytes_in",
    "bytes_out",
    "ts",
    "tls",
    "geo",
];

/// Fields of `endpoint.*`.
pub const ENDPOINT_FIELDS: &[&str] = &["id", "url", "protocol", "host", "port", "addr"];

/// Fields of `time.*`.
pub const TIME_FIELDS: &[&str] = &["now"];

/// A set of fields of one variable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSet(u32);

const ALL: u32 = 1 << 31;

impl FieldSet {
    /// Every field.
    pub fn all() -> Self {
        FieldSet(ALL)
    }

    /// Whether field number `index` (in the variable's field list) is wanted.
    pub fn has(self, index: usize) -> bool {
        self.0 & ALL != 0 || self.0 & (1 << index) != 0
    }

    /// Whether nothing is wanted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every field of `other` is in this set.
    pub fn covers(self, other: FieldSet) -> bool {
        self.0 & ALL != 0 || (other.0 & ALL == 0 && other.0 & !self.0 == 0)
    }

    /// The fields of both sets.
    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    pub(crate) fn add(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    pub(crate) fn add_all(&mut self) {
        self.0 |= ALL;
    }
}

/// What a policy reads from the per-request variables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `req.*` fields.
    pub req: FieldSet,
    /// `res.*` fields.
    pub res: FieldSet,
    /// Whether `time.*` is read.
    pub time: bool,
    /// Whether `vars.*` is read.
    pub vars: bool,
    /// Whether `actions.*` is read.
    pub actions: bool,
}

impl Needs {
    /// Everything (for hosts that evaluate arbitrary expressions).
    pub fn all() -> Self {
        Needs {
            req: FieldSet::all(),
            res: FieldSet::all(),
            time: true,
            vars: true,
            actions: true,
        }
    }

    /// Adds what `other` needs.
    pub fn merge(&mut self, other: Needs) {
        self.req.0 |= other.req.0;
        self.res.0 |= other.res.0;
        self.time |= other.time;
        self.vars |= other.vars;
        self.actions |= other.actions;
    }
}

/// The field list of a top-level variable whose fields are fixed.
pub(crate) fn fields_of(var: &str) -> Option<&'static [&'static str]> {
    Some(match var {
        "req" => REQ_FIELDS,
        "res" => RES_FIELDS,
        "conn" => CONN_FIELDS,
        "endpoint" => ENDPOINT_FIELDS,
        "time" => TIME_FIELDS,
        _ => return None,
    })
}

/// A hint for a field name that does not exist.
pub(crate) fn suggestion(var: &str, field: &str) -> String {
    let hint = match (var, field) {
        ("req", "path" | "query" | "query_params" | "scheme" | "port") => {
            format!("; did you mean `req.url.{field}`?")
        }
        ("req" | "res", "status" | "code") if var == "res" => {
            "; did you mean `res.status_code`?".into()
        }
        ("req" | "res", "header") => format!("; did you mean `{var}.headers`?"),
        _ => String::new(),
    };
    let known: Vec<&str> = fields_of(var)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|f| !f.starts_with("__"))
        .collect();
    format!(
        "`{var}.{field}` is not a variable{hint} ({var} has {})",
        known.join(", ")
    )
}

/// For ngrok's request/response helper macros (`getReqHeader(.req, 'x')` after expansion):
/// which variable and field the helper reads.
pub(crate) fn helper_field(function: &str) -> Option<(&'static str, &'static str)> {
    Some(match function {
        "getReqHeader" | "hasReqHeader" => ("req", "headers"),
        "getQueryParam" | "hasQueryParam" => ("req", "__url"),
        "getReqCookie" | "hasReqCookie" => ("req", "cookies"),
        "getResHeader" | "hasResHeader" => ("res", "headers"),
        "getResCookie" | "hasResCookie" => ("res", "cookies"),
        _ => return None,
    })
}
