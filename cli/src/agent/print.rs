//! What the agent prints for its user: the console lines ngrok prints (`Session Status`,
//! `Forwarding`, `Web Interface`) on standard output. Log lines go through `tracing` (see
//! [`crate::log`]).

use std::io::Write;

/// Prints one console line, label padded like ngrok's.
pub fn console(label: &str, value: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{label:<30}{value}");
    let _ = out.flush();
}
