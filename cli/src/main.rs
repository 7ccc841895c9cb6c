//! The `sluice` binary with the built-in actions.

fn main() -> std::process::ExitCode {
    sluice::main_with(sluice_modules::builtin_registry())
}
