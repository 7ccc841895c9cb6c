//! Every number that bounds what one policy evaluation may cost, in one place (README.md, CEL
//! section, documents them).

use std::time::Duration;

/// Largest worst-case cost estimate an expression (or one `${…}` interpolation) may have to
/// load. Units as cel-go's estimator: 1 per AST node visited, 1 per 10 bytes of string a
/// function scans, a comprehension multiplies its loop body by its range size. The realistic
/// 10-rule policy of `bench/` costs at most ~105,000 per expression (one regex over a URL of
/// the largest size the edge accepts); three nested `exists` over 1,000-element lists cost
/// about 1.4e10.
pub const STATIC_COST_LIMIT: u64 = 10_000_000;

/// Comprehension iterations (`exists`, `all`, `map`, `filter`… loop steps, nested ones
/// included) all the expressions of one phase may run for one request. Past it the request is
/// answered 500 `ERR_SLUICE_2254`.
pub const RUNTIME_STEP_BUDGET: u64 = 100_000;

/// Wall-clock time the comprehensions of one phase may run for one request, a backstop to the
/// step budget for loop bodies that are slow on their own. Checked every
/// [`TIME_CHECK_EVERY`] iterations.
pub const PHASE_EVAL_TIME: Duration = Duration::from_millis(20);

/// How many iterations pass between two clock reads.
pub const TIME_CHECK_EVERY: u64 = 64;

/// Largest request head (request line and headers) the edge reads: the proxy's
/// `conn::HEADER_LIMIT` (1 MiB, checked at compile time there). Bounds every string a policy
/// can read from a request: URL, header and cookie values, query strings.
pub const REQUEST_HEAD_BYTES: u64 = 1024 * 1024;

/// Most header fields one request or response can carry: 256 over HTTP/1 (Pingora's parser
/// limit), and over HTTP/2 the 1 MiB header list at HPACK's 32 bytes of overhead per field.
pub const HEADER_COUNT: u64 = REQUEST_HEAD_BYTES / 32;

/// Most query parameters, cookies or content-type parameters a request can carry: each takes
/// at least two bytes of the head (a name and a separator).
pub const PARAM_COUNT: u64 = REQUEST_HEAD_BYTES / 2;

/// Length bound of the edge's own strings (`endpoint.*`, `conn.*` addresses, TLS names).
pub const EDGE_STRING_BYTES: u64 = 4096;
