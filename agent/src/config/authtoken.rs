//! `config add-authtoken`, which edits the file in place (comments and other keys kept).

use std::path::Path;

use sluice_source::{NodeKind, parse};

use super::ConfigError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sets `agent.authtoken` in the file at `path`, creating it (and its folder) with
/// `version: 3` when missing; every other line is kept as written.
pub fn add_authtoken(path: &Path, token: &str) -> Result<(), ConfigError> {
    let quoted = serde_json::to_string(token).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io(path)(e)),
    };
    let new = set_authtoken(&path.display().to_string(), &text, &quoted)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, new).map_err(io(path))
}

/// The text with `agent.authtoken` set to `quoted` (a YAML scalar).
pub(crate) fn set_authtoken(name: &str, text: &str, quoted: &str) -> Result<String, ConfigError> {
    if text.trim().is_empty() {
        return Ok(format!("version: \"3\"\nagent:\n  authtoken: {quoted}\n"));
    }
    let root =
        parse(text).map_err(|(loc, m)| ConfigError::at(name, (loc.line, loc.col), &[], m))?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let v2 = root.get("agent").is_none()
        && root.get("version").and_then(|v| v.scalar_text()).as_deref() == Some("2");
    let (section, key_line) = if v2 {
        (
            None,
            root.as_map().and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.as_str() == Some("authtoken"))
                    .map(|(k, _)| k.loc)
            }),
        )
    } else {
        let agent = root.get("agent");
        let key = agent.and_then(|a| a.as_map()).and_then(|m| {
            m.iter()
                .find(|(k, _)| k.as_str() == Some("authtoken"))
                .map(|(k, _)| k.loc)
        });
        (agent, key)
    };
    if let Some(loc) = key_line {
        let idx = loc.line.saturating_sub(1) as usize;
        let line = lines
            .get_mut(idx)
            .ok_or_else(|| ConfigError::Invalid("authtoken line not found".into()))?;
        let indent = loc.col.saturating_sub(1) as usize;
        *line = format!("{}authtoken: {quoted}", " ".repeat(indent));
        return Ok(lines.join("\n") + "\n");
    }
    if v2 {
        return Ok(format!("authtoken: {quoted}\n{text}"));
    }
    match section {
        Some(agent) => match &agent.kind {
            NodeKind::Map(entries) if !entries.is_empty() => {
                let first = entries[0].0.loc;
                let idx = first.line.saturating_sub(1) as usize;
                let indent = " ".repeat(first.col.saturating_sub(1) as usize);
                if lines
                    .get(idx)
                    .is_some_and(|l| l.trim_start().starts_with('{'))
                    || idx >= lines.len()
                {
                    return Err(ConfigError::Invalid(
                        "cannot edit a flow-style `agent:` map; set authtoken by hand".into(),
                    ));
                }
                lines.insert(idx, format!("{indent}authtoken: {quoted}"));
                Ok(lines.join("\n") + "\n")
            }
            NodeKind::Null | NodeKind::Map(_) => {
                let idx = agent.loc.line.saturating_sub(1) as usize;
                let agent_line = lines
                    .iter()
                    .position(|l| l.starts_with("agent:"))
                    .unwrap_or(idx);
                if let Some(l) = lines.get_mut(agent_line) {
                    *l = "agent:".into();
                }
                lines.insert(agent_line + 1, format!("  authtoken: {quoted}"));
                Ok(lines.join("\n") + "\n")
            }
            _ => Err(ConfigError::Invalid("`agent` must be a map".into())),
        },
        None => {
            let mut out = text.to_string();
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&format!("agent:\n  authtoken: {quoted}\n"));
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_in_place() -> Result<(), ConfigError> {
        let q = "\"tok\"";
        assert_eq!(
            set_authtoken("f", "", q)?,
            "version: \"3\"\nagent:\n  authtoken: \"tok\"\n"
        );
        let t = "# mine\nversion: 3\nagent:\n  authtoken: old\n  log: stdout\nendpoints: []\n";
        assert_eq!(
            set_authtoken("f", t, q)?,
            "# mine\nversion: 3\nagent:\n  authtoken: \"tok\"\n  log: stdout\nendpoints: []\n"
        );
        let t = "version: 3\nagent:\n    log: stdout\n";
        assert_eq!(
            set_authtoken("f", t, q)?,
            "version: 3\nagent:\n    authtoken: \"tok\"\n    log: stdout\n"
        );
        let t = "version: 3\nagent:\nendpoints: []\n";
        assert_eq!(
            set_authtoken("f", t, q)?,
            "version: 3\nagent:\n  authtoken: \"tok\"\nendpoints: []\n"
        );
        let t = "version: 3\nendpoints: []";
        assert_eq!(
            set_authtoken("f", t, q)?,
            "version: 3\nendpoints: []\nagent:\n  authtoken: \"tok\"\n"
        );
        let t = "version: \"2\"\nauthtoken: old\ntunnels: {}\n";
        assert_eq!(
            set_authtoken("f", t, q)?,
            "version: \"2\"\nauthtoken: \"tok\"\ntunnels: {}\n"
        );
        Ok(())
    }

    #[test]
    fn writes_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("sluice-agent-auth-{}", std::process::id()));
        let path = dir.join("sub").join("sluice.yml");
        add_authtoken(&path, "abc")?;
        add_authtoken(&path, "def")?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(text, "version: \"3\"\nagent:\n  authtoken: \"def\"\n");
        let file = super::super::read_file(&path)?;
        assert_eq!(file.agent_settings().authtoken.as_deref(), Some("def"));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
