//! Target for the agent's config files (v3 `endpoints:` and legacy v2 `tunnels:`).

use std::path::Path;

use sluice_agent::config::{Config, check_text, parse_file};

/// Config text → `config check`'s report or `file:line:col` errors; and for a file that
/// parses, its agent settings and its endpoints resolved as `sluice agent start --all` would.
pub fn agent_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A `traffic_policy_file` resolves against this directory, which does not exist.
    let path = Path::new("/nonexistent-sluice-fuzz/agent.yml");
    // The built-in actions, as `sluice config check` has them (built per input, as before).
    let registry = sluice_modules::builtin_registry();
    match check_text("agent.yml", text, path, &registry) {
        Ok(report) => {
            let _ = report.warnings.len();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(file) = parse_file("agent.yml", text, path) {
        let settings = file.agent_settings();
        let _ = (
            settings.heartbeat(),
            settings.web_addr(),
            settings.inspect_limits(),
        );
        let mut config = Config::default();
        config.merge(file, path);
        let _ = config.resolve(&[], true);
    }
}
