//! The `sluice` binary with the built-in actions.

/// mimalloc (with `no_thp`): in bench/ it cut the edge's CPU per proxied request by up to a
/// quarter against glibc malloc, for ~3.5 MiB more RSS when idle (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice::main_with(sluice_modules::builtin_registry())
}
