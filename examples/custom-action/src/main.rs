//! A `sluice` binary that knows the `stamp-request` action.

fn main() -> std::process::ExitCode {
    sluice::main_with(sluice_custom_action_example::registry())
}
