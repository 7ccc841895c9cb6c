//! `matches` backed by a process-wide, bounded cache of compiled regexes.
//!
//! cel's own `matches` (its `regex` feature) compiles the pattern on every
//! call. Here a pattern is compiled once and shared by every evaluation on
//! every thread; a literal pattern is also compiled, and so validated, when
//! the program is compiled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use cel::Env;
use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use cel::common::types::STRING_TYPE;
use cel::parser::{Macro, MacroExprHelper, ParseError};
use regex::{Regex, RegexBuilder};

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, bool_val, fail, str_arg};

/// Most patterns kept compiled at once; past it, a random entry is evicted
/// per new pattern.
pub const REGEX_CACHE_CAPACITY: usize = 1024;

/// Largest compiled program accepted for one pattern, in bytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

static CACHE: LazyLock<RwLock<HashMap<Box<str>, Arc<Regex>>>> =
    LazyLock::new(|| RwLock::new(HashMap::with_capacity(64)));

static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// How many patterns the `matches` cache has compiled since the process
/// started: for tests and metrics.
pub fn regex_compilations() -> u64 {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// Compiles a pattern as `matches` does (RE2 syntax, size-limited): shared with the fast
/// path (`cel::fast`), which compiles literal patterns at load.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// Runs `f` with the compiled `pattern`, compiling and caching it first if
/// it isn't cached. A hit takes only a shared read lock.
pub(crate) fn with_regex<T>(pattern: &str, f: impl FnOnce(&Regex) -> T) -> Result<T, regex::Error> {
    {
        let cache = CACHE.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(re) = cache.get(pattern) {
            return Ok(f(re));
        }
    }
    let re = Arc::new(compile_regex(pattern)?);
    COMPILATIONS.fetch_add(1, Ordering::Relaxed);
    {
        let mut cache = CACHE.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= REGEX_CACHE_CAPACITY && !cache.contains_key(pattern) {
            // Evict a random entry: a flood of one-off patterns can't keep
            // evicting the same hot one. O(capacity), paid only on a miss,
            // next to the much dearer compilation.
            let victim = fastrand::usize(..cache.len());
            if let Some(victim) = cache.keys().nth(victim).cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(pattern.into(), Arc::clone(&re));
    }
    Ok(f(&re))
}

/// Registers `matches(string, string)` and `string.matches(string)`, plus the
/// compile-time check of literal patterns.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload(
        "matches",
        "matches_string",
        vec![STRING_TYPE, STRING_TYPE],
        matches,
    )?;
    env.add_member_overload(
        "matches",
        "string_matches_string",
        STRING_TYPE,
        vec![STRING_TYPE],
        matches,
    )?;
    env.add_macro(Macro::global("matches", 2, |helper, _, args| {
        check_literal(helper, args.get(1))
    }))?;
    env.add_macro(Macro::receiver("matches", 1, |helper, _, args| {
        check_literal(helper, args.first())
    }))?;
    Ok(())
}

/// `matches(s, re)` / `s.matches(re)`: whether `re` matches anywhere in `s`.
fn matches<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let text = str_arg(&args, 0)?;
    let pattern = str_arg(&args, 1)?;
    with_regex(pattern, |re| re.is_match(text))
        .map(bool_val)
        .map_err(|e| fail("matches", e))
}

/// Compiles a literal pattern while the program is compiled, so an invalid
/// one fails there rather than on every evaluation. Never rewrites the call.
fn check_literal(
    helper: &mut MacroExprHelper<'_>,
    pattern: Option<&IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    if let Some(IdedExpr {
        id,
        expr: Expr::Literal(LiteralValue::String(pattern)),
    }) = pattern
        && let Err(e) = with_regex(pattern.inner(), |_| ())
    {
        return Err(helper.new_error(*id, format!("invalid regular expression: {e}")));
    }
    Ok(None)
}
