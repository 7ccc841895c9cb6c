//! The whole conformance suite (`conformance/suite/`), run in-process with the built-in
//! actions, as `sluice conformance run` does: every file passes, or names an action sluice
//! does not have (reported as skipped there).

use std::path::Path;

use sluice_conformance::runner::{discover, run_file};

#[test]
fn every_suite_file_passes_in_process() {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("suite");
    let registry = sluice_modules::builtin_registry();
    let files = discover(&[suite]);
    assert!(files.len() > 50, "only {} suite files found", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let result = run_file(path, &registry, None);
        if let Some(error) = &result.error {
            if !error.contains("unknown action type") {
                failures.push(format!("{}: {error}", path.display()));
            }
            continue;
        }
        for case in result.cases.iter().filter(|c| c.failed()) {
            failures.push(format!(
                "{}: {}: {}",
                path.display(),
                case.name,
                case.failures.join("; ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
