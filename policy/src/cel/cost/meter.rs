//! The run-time budget of policy evaluation: comprehension iterations counted against a budget
//! per phase, with a wall-clock backstop.
//!
//! Why an AST rewrite rather than a patched `cel`: cel 0.15 has no evaluation hook, but its AST
//! is public and `Value::resolve` evaluates any AST (see `crate::cel::ast_mut`). So each
//! comprehension is rewritten once,
//! at load, to call the registered function `@sluice_step` on every iteration: around the loop
//! condition for `exists`/`all`/`exists_one`/`sortBy` loops, and around the appended element
//! (or the guard) for `map`/`filter` loops, whose shape (`@result + [x]` with a literal `true`
//! condition) must stay intact for cel's `AppendStep` fast path. `@sluice_step` returns its
//! argument unchanged and counts against a thread-local meter that [`metered`] installs around
//! one synchronous evaluation, loaded from and saved back to the phase's [`Budget`]. When the
//! budget runs out the function fails, and it keeps failing for the rest of that evaluation: a
//! failing loop condition stops its loop (`?` in cel's loop), so every enclosing loop stops at
//! its next iteration too, whatever CEL's error absorption (`||`, `exists`) makes of the
//! error. The evaluator then reports the exhaustion, never the value. Expressions without a
//! comprehension are not metered at all: their cost is bounded by the static estimate.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cel::common::ast::{CallExpr, Expr as Ast};
use cel::common::types::DYN_TYPE;
use cel::common::value::CowVal;
use cel::{Env, ExecutionError, IdedExpr};

use super::limits::{PHASE_EVAL_TIME, RUNTIME_STEP_BUDGET, TIME_CHECK_EVERY};
use crate::cel::ast_mut::for_each_child_mut;

/// The counting function the rewrite inserts; `@` keeps it out of reach of policy text.
const STEP_FUNCTION: &str = "@sluice_step";

/// Why an evaluation was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// More comprehension iterations than [`RUNTIME_STEP_BUDGET`].
    Steps,
    /// Comprehensions ran longer than [`PHASE_EVAL_TIME`].
    Time,
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exhausted::Steps => write!(
                f,
                "the policy's expressions ran more than {RUNTIME_STEP_BUDGET} comprehension iterations in one phase"
            ),
            Exhausted::Time => write!(
                f,
                "the policy's expressions ran for more than {} ms in one phase",
                PHASE_EVAL_TIME.as_millis()
            ),
        }
    }
}

/// What is left of one phase's evaluation budget. Lives in the phase's scope; atomics only so
/// the scope stays `Sync` across an action's await points (one phase runs on one task).
#[derive(Debug)]
pub struct Budget {
    steps_left: AtomicU64,
    nanos_left: AtomicU64,
    exhausted: AtomicU8,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            steps_left: AtomicU64::new(RUNTIME_STEP_BUDGET),
            nanos_left: AtomicU64::new(PHASE_EVAL_TIME.as_nanos() as u64),
            exhausted: AtomicU8::new(0),
        }
    }
}

impl Clone for Budget {
    fn clone(&self) -> Self {
        Budget {
            steps_left: AtomicU64::new(self.steps_left.load(Ordering::Relaxed)),
            nanos_left: AtomicU64::new(self.nanos_left.load(Ordering::Relaxed)),
            exhausted: AtomicU8::new(self.exhausted.load(Ordering::Relaxed)),
        }
    }
}

impl Budget {
    /// Whether (and why) an evaluation in this phase ran out.
    pub fn exhausted(&self) -> Option<Exhausted> {
        match self.exhausted.load(Ordering::Relaxed) {
            1 => Some(Exhausted::Steps),
            2 => Some(Exhausted::Time),
            _ => None,
        }
    }

    fn set_exhausted(&self, why: Exhausted) {
        let v = match why {
            Exhausted::Steps => 1,
            Exhausted::Time => 2,
        };
        self.exhausted.store(v, Ordering::Relaxed);
    }
}

/// The meter of the evaluation running on this thread.
#[derive(Clone, Copy)]
struct Meter {
    active: bool,
    steps_left: u64,
    ticks: u64,
    started: Option<Instant>,
    time_left: Duration,
    exhausted: Option<Exhausted>,
}

const IDLE: Meter = Meter {
    active: false,
    steps_left: 0,
    ticks: 0,
    started: None,
    time_left: Duration::ZERO,
    exhausted: None,
};

thread_local! {
    static METER: Cell<Meter> = const { Cell::new(IDLE) };
}

/// Runs `eval` (one synchronous evaluation of a rewritten expression) against `budget`.
/// Returns its result, or why the budget stopped it.
pub(crate) fn metered<T>(budget: &Budget, eval: impl FnOnce() -> T) -> Result<T, Exhausted> {
    if let Some(why) = budget.exhausted() {
        return Err(why);
    }
    let meter = Meter {
        active: true,
        steps_left: budget.steps_left.load(Ordering::Relaxed),
        ticks: 0,
        started: None,
        time_left: Duration::from_nanos(budget.nanos_left.load(Ordering::Relaxed)),
        exhausted: None,
    };
    let outer = METER.with(|m| m.replace(meter));
    let out = eval();
    let done = METER.with(|m| m.replace(outer));
    budget.steps_left.store(done.steps_left, Ordering::Relaxed);
    if let Some(started) = done.started {
        let spent = started.elapsed().min(done.time_left);
        budget.nanos_left.store(
            (done.time_left - spent).as_nanos() as u64,
            Ordering::Relaxed,
        );
    }
    match done.exhausted {
        Some(why) => {
            budget.set_exhausted(why);
            Err(why)
        }
        None => Ok(out),
    }
}

/// Counts one iteration against the running meter.
fn tick() -> Result<(), Exhausted> {
    METER.with(|cell| {
        let mut m = cell.get();
        if !m.active {
            return Ok(());
        }
        if let Some(why) = m.exhausted {
            return Err(why);
        }
        if m.steps_left == 0 {
            m.exhausted = Some(Exhausted::Steps);
        } else {
            m.steps_left -= 1;
            if m.ticks % TIME_CHECK_EVERY == 0 {
                let now = Instant::now();
                let started = *m.started.get_or_insert(now);
                if now.duration_since(started) > m.time_left {
                    m.exhausted = Some(Exhausted::Time);
                }
            }
            m.ticks += 1;
        }
        cell.set(m);
        m.exhausted.map_or(Ok(()), Err)
    })
}

/// `@sluice_step(x)`: counts one iteration and returns `x`.
fn step<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Err(why) = tick() {
        return Err(ExecutionError::function_error(STEP_FUNCTION, why));
    }
    args.into_iter()
        .next()
        .ok_or_else(|| ExecutionError::invalid_argument_count(1, 0))
}

/// Declares `@sluice_step` in the policy environment.
pub(crate) fn register(env: &mut Env) -> Result<(), cel::DeclarationError> {
    env.add_overload(STEP_FUNCTION, "sluice_step_dyn", vec![DYN_TYPE], step)
}

/// Rewrites every comprehension in `e` to count its iterations. Returns whether there was any.
pub(crate) fn instrument(e: &mut IdedExpr) -> bool {
    let mut found = false;
    visit(e, &mut found);
    found
}

fn counted(e: &mut IdedExpr) {
    let inner = std::mem::replace(
        e,
        IdedExpr {
            id: e.id,
            expr: Ast::Unspecified,
        },
    );
    *e = IdedExpr {
        id: inner.id,
        expr: Ast::Call(CallExpr {
            func_name: STEP_FUNCTION.to_string(),
            target: None,
            args: vec![inner],
        }),
    };
}

/// In a `map`/`filter` step (`@result + [x]` or `g ? @result + [x] : @result`), the node to
/// count: the guard `g`, else the element `x`.
fn append_step_target<'e>(step: &'e mut IdedExpr, accu: &str) -> Option<&'e mut IdedExpr> {
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Ast::Ident(n) if n == accu);
    let Ast::Call(call) = &mut step.expr else {
        return None;
    };
    let guarded = call.func_name == "_?_:_" && call.args.len() == 3 && is_accu(&call.args[2]);
    let appended = call.func_name == "_+_"
        && call.args.len() == 2
        && is_accu(&call.args[0])
        && matches!(&call.args[1].expr, Ast::List(l) if l.elements.len() == 1 && l.optional_indices.is_empty());
    if guarded {
        return call.args.first_mut();
    }
    if !appended {
        return None;
    }
    match &mut call.args[1].expr {
        Ast::List(list) => list.elements.first_mut(),
        _ => None,
    }
}

fn visit(e: &mut IdedExpr, found: &mut bool) {
    for_each_child_mut(e, &mut |child| visit(child, found));
    if let Ast::Comprehension(c) = &mut e.expr {
        *found = true;
        let fast_path = matches!(c.loop_cond.expr, Ast::Literal(_))
            && matches!(&c.result.expr, Ast::Ident(n) if *n == c.accu_var);
        let accu = c.accu_var.clone();
        match append_step_target(&mut c.loop_step, &accu) {
            Some(target) if fast_path => counted(target),
            _ => counted(&mut c.loop_cond),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cel::{Context, Value};

    use super::*;
    use crate::cel::env::policy_env;

    fn run(src: &str, budget: &Budget) -> Result<Result<Value, ExecutionError>, Exhausted> {
        let env = policy_env();
        let program = env.compile(src).expect("compiles");
        let mut ast = program.expression().clone();
        assert!(instrument(&mut ast));
        let ctx = Context::with_env(Arc::clone(&env));
        metered(budget, || Value::resolve(&ast, &ctx))
    }

    #[test]
    fn small_loops_keep_their_value_and_pay_per_iteration() {
        let budget = Budget::default();
        assert_eq!(
            run("[1, 2, 3].exists(x, x == 2)", &budget),
            Ok(Ok(Value::Bool(true)))
        );
        assert_eq!(
            run("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", &budget),
            Ok(Ok(Value::Bool(true)))
        );
        assert_eq!(
            run("[1, 2, 3].filter(x, x > 1).size() == 2", &budget),
            Ok(Ok(Value::Bool(true)))
        );
        assert_eq!(
            run("[1, 2, 3].all(x, x > 0)", &budget),
            Ok(Ok(Value::Bool(true)))
        );
        // exists checks its condition before each of 3 elements (the 3rd check ends it);
        // map, filter and all count each of their 3 elements.
        let left = budget.steps_left.load(Ordering::Relaxed);
        assert_eq!(RUNTIME_STEP_BUDGET - left, 3 + 3 + 3 + 3);
    }

    #[test]
    fn nested_loops_stop_at_the_budget_whatever_absorbs_errors() {
        let budget = Budget::default();
        let l = format!(
            "[{}]",
            (0..1000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        // `|| true` would absorb an ordinary error: the meter still reports exhaustion.
        let src = format!("{l}.exists(a, {l}.exists(b, {l}.exists(c, a + b + c == -1))) || true");
        let started = Instant::now();
        assert!(run(&src, &budget).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(budget.exhausted().is_some());
        // The phase stays exhausted: the next metered expression is refused at once.
        assert!(run("[1].exists(x, x == 1)", &budget).is_err());
    }

    #[test]
    fn the_wall_clock_stops_slow_bodies() {
        let budget = Budget::default();
        budget.steps_left.store(u64::MAX, Ordering::Relaxed);
        let l = format!(
            "[{}]",
            (0..1000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let src = format!("{l}.all(a, {l}.all(b, {l}.all(c, a + b + c >= 0)))");
        let started = Instant::now();
        assert_eq!(run(&src, &budget), Err(Exhausted::Time));
        assert!(
            started.elapsed() < PHASE_EVAL_TIME * 20,
            "{:?}",
            started.elapsed()
        );
    }
}
