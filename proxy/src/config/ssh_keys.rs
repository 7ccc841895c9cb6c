//! `authtokens[].authorized_keys` and `authorized_keys_file`: the SSH public keys that log in
//! on the ssh listener as a token, read from OpenSSH `authorized_keys` lines (options before
//! the key are allowed and not applied; comments and blank lines are skipped).

use std::path::Path;

use russh::keys::PublicKey;
use russh::keys::ssh_key::AuthorizedKeys;
use sluice_source::PathSeg;

use super::check::{Checker, key};
use super::raw::RawAuthtoken;

/// The keys of the `i`th authtoken; each bad line is an error at its place (a file's, at the
/// key naming the file, with the file's line number).
pub(super) fn authorized_keys(
    cx: &mut Checker<'_>,
    base: &Path,
    i: usize,
    raw: &RawAuthtoken,
) -> Vec<PublicKey> {
    let at = |k: &str| vec![key("authtokens"), PathSeg::Index(i), key(k)];
    let mut keys = Vec::new();
    for (j, line) in raw.authorized_keys.iter().enumerate() {
        let mut path = at("authorized_keys");
        path.push(PathSeg::Index(j));
        match parse_lines(line) {
            Ok(found) if found.is_empty() => cx.error(&path, "no key on this line"),
            Ok(found) => keys.extend(found),
            Err((_, e)) => cx.error(&path, format!("not an authorized_keys line: {e}")),
        }
    }
    if let Some(file) = &raw.authorized_keys_file {
        let path = base.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_lines(&text) {
                Ok(found) => keys.extend(found),
                Err((line, e)) => cx.error(
                    &at("authorized_keys_file"),
                    format!(
                        "{}:{line}: not an authorized_keys line: {e}",
                        path.display()
                    ),
                ),
            },
            Err(e) => cx.error(
                &at("authorized_keys_file"),
                format!("cannot read {}: {e}", path.display()),
            ),
        }
    }
    keys
}

/// The keys of `text`, or the first bad line's number (from 1) and why.
fn parse_lines(text: &str) -> Result<Vec<PublicKey>, (usize, String)> {
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match AuthorizedKeys::new(trimmed).next() {
            Some(Ok(entry)) => keys.push(entry.public_key().clone()),
            Some(Err(e)) => return Err((n + 1, e.to_string())),
            None => {}
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use crate::config::{ConfigError, EdgeConfig, load_str};

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr2/TVCeCnhF7+h+/suLUIaO+/EsnNojJ15OiDl/6GS alice@laptop";

    fn load(text: &str) -> Result<EdgeConfig, ConfigError> {
        load_str(
            &Arc::from("edge.yml"),
            text,
            Path::new("."),
            &sluice_modules::builtin_registry(),
        )
    }

    #[test]
    fn keys_load_and_bad_ones_are_located() -> Result<(), ConfigError> {
        let ok = format!(
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  ssh: 127.0.0.1:2222\nauthtokens:\n  - token: t\n    allow: [\"*\"]\n    authorized_keys:\n      - 'no-pty {KEY}'\n"
        );
        let c = load(&ok)?;
        assert_eq!(c.authtokens[0].authorized_keys.len(), 1);
        assert_eq!(c.ssh.map(|a| a.port()), Some(2222));
        let bad = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nauthtokens:\n  - token: t\n    allow: [\"*\"]\n    authorized_keys:\n      - ssh-ed25519 nonsense\n";
        let e = load(bad).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("edge.yml:8:9"), "{e}");
        assert!(e.contains("not an authorized_keys line"), "{e}");
        let no_keys = "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  ssh: 127.0.0.1:2222\nauthtokens:\n  - token: t\n    allow: [\"*\"]\n";
        let e = load(no_keys)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("needs authorized_keys"), "{e}");
        Ok(())
    }

    #[test]
    fn keepalive_interval_is_read_and_bounded() -> Result<(), ConfigError> {
        let base = format!(
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\n  ssh: 127.0.0.1:2222\nauthtokens:\n  - token: t\n    allow: [\"*\"]\n    authorized_keys: ['{KEY}']\n"
        );
        assert_eq!(load(&base)?.ssh_keepalive_interval.as_secs(), 15);
        let two = format!("{base}ssh:\n  keepalive_interval: 2s\n");
        assert_eq!(load(&two)?.ssh_keepalive_interval.as_secs(), 2);
        for bad in ["0s", "500ms", "2h", "soon"] {
            let text = format!("{base}ssh:\n  keepalive_interval: {bad}\n");
            let e = load(&text).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("edge.yml:10:23"), "{bad}: {e}");
            assert!(e.contains("between 1s and 1h"), "{bad}: {e}");
        }
        let no_listener =
            "version: 1\nlisteners:\n  http: 127.0.0.1:8080\nssh:\n  keepalive_interval: 2s\n";
        let e = load(no_listener)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("need the ssh listener"), "{e}");
        Ok(())
    }
}
