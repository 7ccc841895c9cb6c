//! ngrok's string methods beyond cel's strings extension: Unicode-aware
//! `lower()` and `upper()`.

use cel::Env;
use cel::common::types::STRING_TYPE;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, str_arg, string_val};

/// Registers `string.lower()` and `string.upper()`.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_member_overload("lower", "string_lower", STRING_TYPE, vec![], lower)?;
    env.add_member_overload("upper", "string_upper", STRING_TYPE, vec![], upper)?;
    Ok(())
}

/// `s.lower()`: `s` in lower case, by Unicode rules.
fn lower<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(str_arg(&args, 0)?.to_lowercase()))
}

/// `s.upper()`: `s` in upper case, by Unicode rules.
fn upper<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(string_val(str_arg(&args, 0)?.to_uppercase()))
}
