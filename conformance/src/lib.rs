//! Policy test cases: the `*.policytest.yml` format ([`format`]), the in-process runner
//! ([`runner`]) that sends each case through the engine with a recording fake upstream, and
//! reports ([`report`]) as text, JSON and JUnit XML.

pub mod cli;
pub mod eval;
pub mod format;
pub mod live;
pub mod report;
pub mod runner;
