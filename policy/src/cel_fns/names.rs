//! Every function name the environment declares.

use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Functions and methods of cel's standard library (with `chrono`), its
/// strings, lists, math and encoders extensions, and this crate.
const FUNCTIONS: &[&str] = &[
    // cel standard library
    "bool",
    "bytes",
    "contains",
    "double",
    "duration",
    "dyn",
    "endsWith",
    "getDate",
    "getDayOfMonth",
    "getDayOfWeek",
    "getDayOfYear",
    "getFullYear",
    "getHours",
    "getMilliseconds",
    "getMinutes",
    "getMonth",
    "getSeconds",
    "hasValue",
    "int",
    "optional.none",
    "optional.of",
    "optional.ofNonZeroValue",
    "or",
    "orValue",
    "size",
    "startsWith",
    "string",
    "timestamp",
    "type",
    "uint",
    "value",
    // strings extension
    "charAt",
    "format",
    "indexOf",
    "join",
    "lastIndexOf",
    "lowerAscii",
    "replace",
    "reverse",
    "split",
    "strings.quote",
    "substring",
    "trim",
    "upperAscii",
    // lists extension (`sortBy` expands to `@sortByAssociatedKeys`)
    "@sortByAssociatedKeys",
    "distinct",
    "flatten",
    "lists.range",
    "slice",
    "sort",
    // math extension (`math.greatest` / `math.least` expand to `math.@max` / `math.@min`)
    "math.@max",
    "math.@min",
    "math.abs",
    "math.bitAnd",
    "math.bitNot",
    "math.bitOr",
    "math.bitShiftLeft",
    "math.bitShiftRight",
    "math.bitXor",
    "math.ceil",
    "math.floor",
    "math.isFinite",
    "math.isInf",
    "math.isNaN",
    "math.round",
    "math.sign",
    "math.sqrt",
    "math.trunc",
    // encoders extension
    "base64.decode",
    "base64.encode",
    // sluice: regex, strings, random
    "matches",
    "lower",
    "upper",
    "rand.double",
    "rand.int",
    // sluice: net
    "inCidrRange",
    "inCidrRanges",
    "isPrivateIp",
    // sluice: encodings and URLs
    "basic_auth.encode",
    "decodeBase64",
    "encodeBase64",
    "escapeUrl",
    "isURL",
    "parseUrl",
    "unescapeUrl",
    "url.escape",
    "url.parse",
    "url.unescape",
    // sluice: JSON and query strings
    "decodeJson",
    "encodeJson",
    "isJson",
    "json.decode",
    "json.encode",
    "decodeQueryString",
    "encodeQueryString",
    "isQueryString",
    "queryString.decode",
    "queryString.encode",
    // sluice: hashes
    "crc32",
    "crc64",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "xxhash64",
    "hash.crc32",
    "hash.crc64",
    "hash.md5",
    "hash.sha1",
    "hash.sha256",
    "hash.sha512",
    "hash.xxhash64",
    // sluice: HTTP helpers
    "getQueryParam",
    "getReqCookie",
    "getReqHeader",
    "getResCookie",
    "getResHeader",
    "hasQueryParam",
    "hasReqCookie",
    "hasReqHeader",
    "hasResCookie",
    "hasResHeader",
];

/// Operators, and the internal calls cel's macros expand to: the
/// interpreter evaluates them itself, but `Program::references()` lists them.
pub(crate) const OPERATORS: &[&str] = &[
    "!_",
    "-_",
    "@in",
    "@not_strictly_false",
    "_!=_",
    "_%_",
    "_&&_",
    "_*_",
    "_+_",
    "_-_",
    "_/_",
    "_<=_",
    "_<_",
    "_==_",
    "_>=_",
    "_>_",
    "_?._",
    "_?_:_",
    "_[?_]",
    "_[_]",
    "_||_",
];

static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let set: BTreeSet<&'static str> = FUNCTIONS.iter().chain(OPERATORS).copied().collect();
    set.into_iter().collect()
});

/// Every function, method and operator name [`ngrok_env`](crate::cel_fns::ngrok_env)
/// knows, sorted. Namespaced functions appear qualified, e.g. `hash.sha256`.
pub fn function_names() -> &'static [&'static str] {
    &NAMES
}

/// Whether `name` (qualified for a namespaced function) is known.
pub fn is_known_function(name: &str) -> bool {
    NAMES.binary_search(&name).is_ok()
}
