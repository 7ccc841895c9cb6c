//! Reports: readable text, JSON, JUnit XML, and the per-feature conformance summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde_json::json;

use crate::runner::FileResult;

/// Totals over files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Cases passed.
    pub passed: usize,
    /// Cases failed (a file that fails to load counts as one failure).
    pub failed: usize,
    /// Cases skipped (live mode: what a real edge cannot reproduce).
    pub skipped: usize,
    /// Rules in all policies.
    pub rules: usize,
    /// Rules no case fired.
    pub unfired: usize,
}

impl Totals {
    /// Sums up results.
    pub fn of(results: &[FileResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            if r.error.is_some() {
                t.failed += 1;
            }
            t.passed += r.cases.iter().filter(|c| c.passed).count();
            t.failed += r.cases.iter().filter(|c| c.failed()).count();
            t.skipped += r.cases.iter().filter(|c| c.skipped.is_some()).count();
            t.rules += r.total_rules;
            t.unfired += r.unfired_rules.len();
        }
        t
    }

    /// Percentage of rules fired by some case (100 when there are none).
    pub fn coverage(&self) -> f64 {
        if self.rules == 0 {
            100.0
        } else {
            100.0 * (self.rules - self.unfired) as f64 / self.rules as f64
        }
    }
}

/// Human-readable report.
pub fn text(results: &[FileResult]) -> String {
    let mut s = String::new();
    for r in results {
        let _ = writeln!(s, "{}", r.path.display());
        if let Some(e) = &r.error {
            for line in e.lines() {
                let _ = writeln!(s, "  ERROR {line}");
            }
        }
        for c in &r.cases {
            if let Some(reason) = &c.skipped {
                let _ = writeln!(s, "  skip {} ({reason})", c.name);
                continue;
            }
            let mark = if c.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(s, "  {mark} {}", c.name);
            for f in &c.failures {
                let _ = writeln!(s, "         {f}");
            }
            for n in &c.notes {
                let _ = writeln!(s, "         note: {n}");
            }
        }
        if !r.unfired_rules.is_empty() {
            let _ = writeln!(s, "  rules no case fired: {}", r.unfired_rules.join("; "));
        }
    }
    let t = Totals::of(results);
    if !results.is_empty() && results.iter().all(|r| r.live) {
        let _ = writeln!(s, "\nrule coverage: not measured live");
    } else {
        let _ = writeln!(
            s,
            "\nrule coverage: {:.1}% ({} of {} rules fired)",
            t.coverage(),
            t.rules - t.unfired,
            t.rules
        );
    }
    if t.skipped > 0 {
        let _ = writeln!(
            s,
            "{} passed, {} failed, {} skipped",
            t.passed, t.failed, t.skipped
        );
    } else {
        let _ = writeln!(s, "{} passed, {} failed", t.passed, t.failed);
    }
    s
}

/// JSON report.
pub fn json(results: &[FileResult]) -> serde_json::Value {
    let t = Totals::of(results);
    json!({
        "passed": t.passed,
        "failed": t.failed,
        "skipped": t.skipped,
        "rule_coverage": (!results.iter().all(|r| r.live) || results.is_empty()).then(|| t.coverage()),
        "files": results.iter().map(|r| json!({
            "file": r.path.display().to_string(),
            "error": r.error,
            "unfired_rules": r.unfired_rules,
            "cases": r.cases.iter().map(|c| json!({
                "name": c.name, "passed": c.passed, "failures": c.failures,
                "skipped": c.skipped, "notes": c.notes,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one testsuite per file, one testcase per case.
pub fn junit(results: &[FileResult]) -> String {
    let t = Totals::of(results);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"sluice policy test\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
        t.passed + t.failed + t.skipped,
        t.failed,
        t.skipped
    );
    for r in results {
        let failures =
            r.cases.iter().filter(|c| c.failed()).count() + usize::from(r.error.is_some());
        let skipped = r.cases.iter().filter(|c| c.skipped.is_some()).count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
            xml_escape(&r.path.display().to_string()),
            r.cases.len() + usize::from(r.error.is_some())
        );
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "    <testcase name=\"load\"><failure message=\"policy file error\">{}</failure></testcase>",
                xml_escape(e)
            );
        }
        for c in &r.cases {
            if let Some(reason) = &c.skipped {
                let _ = writeln!(
                    s,
                    "    <testcase name=\"{}\"><skipped message=\"{}\"/></testcase>",
                    xml_escape(&c.name),
                    xml_escape(reason)
                );
            } else if c.passed {
                let _ = writeln!(s, "    <testcase name=\"{}\"/>", xml_escape(&c.name));
            } else {
                let _ = writeln!(
                    s,
                    "    <testcase name=\"{}\"><failure message=\"expectation failed\">{}</failure></testcase>",
                    xml_escape(&c.name),
                    xml_escape(&c.failures.join("\n"))
                );
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

/// Groups results by feature: the first folder below `root`.
pub fn by_feature<'a>(
    root: &Path,
    results: &'a [FileResult],
) -> BTreeMap<String, Vec<&'a FileResult>> {
    let mut map: BTreeMap<String, Vec<&FileResult>> = BTreeMap::new();
    for r in results {
        let feature = r
            .path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|f| !f.ends_with(".yml") && !f.ends_with(".yaml"))
            .unwrap_or_else(|| "(root)".into());
        map.entry(feature).or_default().push(r);
    }
    map
}
