//! `rand.double()` and `rand.int(min, max)`.

use cel::Env;
use cel::common::types::{CelDouble, CelInt, INT_TYPE};
use cel::common::value::CowVal;

use crate::cel_fns::RegisterError;
use crate::cel_fns::util::{Args, Ret, fail, int_arg};

/// Registers `rand.double()`, `rand.int()` and `rand.int(int, int)`.
pub(crate) fn register(env: &mut Env) -> Result<(), RegisterError> {
    env.add_overload("rand.double", "rand_double", vec![], double)?;
    env.add_overload("rand.int", "rand_int", vec![], int_default)?;
    env.add_overload(
        "rand.int",
        "rand_int_int_int",
        vec![INT_TYPE, INT_TYPE],
        int_range,
    )?;
    Ok(())
}

/// `rand.double()`: uniform in `[0, 1)`.
fn double<'b, 'v>(_: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(CowVal::owned(CelDouble::from(fastrand::f64())))
}

/// `rand.int()`: uniform in `[0, 1)`, which is always `0`.
fn int_default<'b, 'v>(_: Args<'b, 'v>) -> Ret<'b, 'v> {
    Ok(CowVal::owned(CelInt::from(0)))
}

/// `rand.int(min, max)`: uniform in `[min, max)`; an error unless `min < max`.
fn int_range<'b, 'v>(args: Args<'b, 'v>) -> Ret<'b, 'v> {
    let (min, max) = (int_arg(&args, 0)?, int_arg(&args, 1)?);
    if min >= max {
        return Err(fail(
            "rand.int",
            format!("min ({min}) must be less than max ({max})"),
        ));
    }
    Ok(CowVal::owned(CelInt::from(fastrand::i64(min..max))))
}
