//! Where config files are looked for: sluice's own default file, and ngrok's (v3, then legacy
//! v2) as a fallback so that an ngrok user's existing file works until they write their own.

use std::path::PathBuf;

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_home() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_CONFIG_HOME/sluice/sluice.yml`, else `~/.config/sluice/sluice.yml`.
pub fn default_path() -> Option<PathBuf> {
    Some(config_home()?.join("sluice").join("sluice.yml"))
}

/// ngrok's default files on this system, in the order ngrok reads them: v3's
/// (`$XDG_CONFIG_HOME/ngrok/ngrok.yml`, else `~/.config/ngrok/ngrok.yml`), then v2's
/// `~/.ngrok2/ngrok.yml`.
pub fn ngrok_paths() -> Vec<PathBuf> {
    let v3 = config_home().map(|c| c.join("ngrok").join("ngrok.yml"));
    let v2 = home().map(|h| h.join(".ngrok2").join("ngrok.yml"));
    v3.into_iter().chain(v2).collect()
}
