//! ngrok's string methods beyond cel's strings extension: `lower()` and `upper()` as Go's
//! `strings.ToLower`/`ToUpper`, and `split()` with no separator.
//!
//! Go maps case one character at a time with Unicode's *simple* mappings, so `'İ'.lower()` is
//! `'i'`, `'ß'.upper()` stays `'ß'` and a final `'Σ'` lowers to `'σ'`; Rust's `str` methods
//! apply the full, context-sensitive mappings instead (`"i̇"`, `"SS"`, `'ς'`). No crate offers
//! the simple mappings on their own, and `char`'s full mappings differ from the simple ones only
//! where they expand to several characters, so the few such cases are handled here.

use cel::Env;
use cel::common::types::STRING_TYPE;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, str_arg, string_list, string_val};

/// Registers `string.lower()`, `string.upper()` and `string.split()`.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_member_overload("lower", "string_lower", STRING_TYPE, vec![], lower)?;
    env.add_member_overload("upper", "string_upper", STRING_TYPE, vec![], upper)?;
    env.add_member_overload("split", "string_split_fields", STRING_TYPE, vec![], fields)?;
    Ok(())
}

/// `s.lower()`: `s` in lower case, as Go's `strings.ToLower`.
fn lower<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(
        str_arg(&args, 0)?.chars().map(simple_lower).collect(),
    ))
}

/// `s.upper()`: `s` in upper case, as Go's `strings.ToUpper`.
fn upper<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(
        str_arg(&args, 0)?.chars().map(simple_upper).collect(),
    ))
}

/// `s.split()`: the words of `s`, split around runs of white space, as Go's `strings.Fields`
/// (no empty words; `''.split() == []`).
fn fields<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let words = string_list(str_arg(&args, 0)?.split_whitespace());
    Ok(cel::common::value::CowVal::owned(words))
}

/// Unicode's simple lower-case mapping of `c`.
fn simple_lower(c: char) -> char {
    // U+0130 (İ) is the only character whose full lower-case mapping has several characters.
    if c == '\u{130}' {
        return 'i';
    }
    single(c.to_lowercase()).unwrap_or(c)
}

/// Unicode's simple upper-case mapping of `c`.
fn simple_upper(c: char) -> char {
    if let Some(u) = single(c.to_uppercase()) {
        return u;
    }
    // Full mappings that expand (ß → SS, ŉ → ʼN, ligatures…) have no simple mapping, except
    // the Greek letters with a subscript iota, which map to their title-case form.
    match u32::from(c) {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => char::from_u32(u32::from(c) + 8),
        0x1FB3 => Some('\u{1FBC}'),
        0x1FC3 => Some('\u{1FCC}'),
        0x1FF3 => Some('\u{1FFC}'),
        _ => None,
    }
    .unwrap_or(c)
}

/// The only character of a case mapping, if it has exactly one.
fn single(mut mapping: impl Iterator<Item = char>) -> Option<char> {
    let first = mapping.next()?;
    mapping.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::{simple_lower, simple_upper};

    fn lower(s: &str) -> String {
        s.chars().map(simple_lower).collect()
    }

    fn upper(s: &str) -> String {
        s.chars().map(simple_upper).collect()
    }

    #[test]
    fn case_mapping_is_go_simple_mapping() {
        assert_eq!(lower("İSTANBUL"), "istanbul");
        assert_eq!(lower("ΟΔΟΣ"), "οδοσ");
        assert_eq!(upper("straße"), "STRAßE");
        assert_eq!(upper("ﬁ"), "ﬁ");
        assert_eq!(upper("ᾳ"), "ᾼ");
        assert_eq!(upper("ᾀ"), "ᾈ");
        assert_eq!(lower("Hello World"), "hello world");
        assert_eq!(upper("ǆ"), "Ǆ");
    }
}
