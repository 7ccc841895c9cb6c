//! Replays every checked-in corpus file through its target, so inputs that once crashed a
//! target stay fixed without libFuzzer.

use std::panic::catch_unwind;
use std::path::Path;

use crate::TARGETS;

#[test]
fn every_corpus_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut failed = Vec::new();
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let data = std::fs::read(&path).expect("corpus file");
            if catch_unwind(|| target(&data)).is_err() {
                failed.push(path.display().to_string());
            }
            count += 1;
        }
        assert!(count > 0, "{name}: no seeds in {}", dir.display());
    }
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}
