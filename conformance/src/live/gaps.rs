//! Known live gaps (`conformance/live-known-gaps.yml`): cases that fail through a real edge
//! because of an edge bug that is tracked elsewhere. They are reported as skipped with the
//! recorded reason, never as passed, so the list stays visible and small.
//!
//! ```yaml
//! gaps:
//!   - file: restrict-ips/allow-deny.policytest.yml   # a path suffix
//!     case: denied                                   # a name substring; all cases when absent
//!     reason: the edge ... (issue N)
//! ```

use std::path::Path;

use serde::Deserialize;
use sluice_source::{NodeDeserializer, parse};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GapsFile {
    #[serde(default)]
    gaps: Vec<Gap>,
}

/// One known gap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    /// A suffix of the test file's path (`/` separated).
    pub file: String,
    /// A substring of the case name; every case of the file when absent.
    #[serde(default)]
    pub case: Option<String>,
    /// Why it is skipped.
    pub reason: String,
}

/// The known gaps of a live run.
#[derive(Debug, Clone, Default)]
pub struct KnownGaps(Vec<Gap>);

impl KnownGaps {
    /// Reads a gaps file.
    pub fn load(path: &Path) -> Result<KnownGaps, String> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let root = parse(&text).map_err(|(loc, m)| format!("{name}:{loc}: {m}"))?;
        let file: GapsFile = NodeDeserializer::deserialize(&root)
            .map_err(|e| format!("{name}:{}: {}", e.loc.unwrap_or_default(), e.message))?;
        Ok(KnownGaps(file.gaps))
    }

    /// The reason a case is a known gap, if it is.
    pub fn reason(&self, file: &Path, case: &str) -> Option<&str> {
        let file = file.to_string_lossy().replace('\\', "/");
        self.0
            .iter()
            .find(|g| {
                file.ends_with(g.file.as_str())
                    && g.case.as_deref().is_none_or(|c| case.contains(c))
            })
            .map(|g| g.reason.as_str())
    }
}
