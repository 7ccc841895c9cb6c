//! The one CEL environment every policy compiles and runs with.

use std::sync::{Arc, OnceLock};

use cel::Env;

/// The top-level variables a policy expression may name (reference §3.1).
pub const KNOWN_VARIABLES: &[&str] = &["conn", "req", "res", "endpoint", "time", "vars", "actions"];

/// The shared environment: built once per process.
pub fn policy_env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(build_env())).clone()
}

fn build_env() -> Env {
    let env = crate::cel_fns::ngrok_env().and_then(|mut env| {
        super::cost::meter::register(&mut env)?;
        Ok(env)
    });
    match env {
        Ok(env) => env,
        Err(e) => {
            // The library is fixed code; a declaration conflict is a programming error that the
            // test suite catches. Fall back to the standard library rather than abort.
            tracing::error!("ngrok CEL library failed to register: {e}");
            Env::stdlib()
        }
    }
}
