//! The User-Agent header split into `name/value` parts, and the lookups the product rules use.

/// Token names that are never a product name nor a device.
const NOT_A_PRODUCT: &[&str] = &[
    "Chrome",
    "Firefox",
    "Safari",
    "Version",
    "Mobile",
    "Mobile Safari",
    "Mozilla",
    "AppleWebKit",
    "Windows NT",
    "Windows Phone OS",
    "Android",
    "Macintosh",
    "Linux",
    "CrOS",
];

/// One `name/value` (or bare `name`) part of the header, in order.
#[derive(Debug)]
pub(super) struct Token {
    pub key: String,
    pub value: String,
}

/// The header's parts, in order of appearance.
#[derive(Debug, Default)]
pub(super) struct Tokens(pub Vec<Token>);

impl Tokens {
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|t| t.key == key)
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub(super) fn has_any(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.has(k))
    }

    /// The value of the first part named `key`, or "".
    pub(super) fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|t| t.key == key)
            .map_or("", |t| t.value.as_str())
    }

    /// Whether a part named `key` exists with a non-empty value.
    pub(super) fn has_value(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    pub(super) fn is_mobile(&self) -> bool {
        self.has_any(&["Mobile", "Mobile Safari"])
    }

    /// The version written in the first part whose name contains `OS` (`CPU iPhone OS 17_1`).
    pub(super) fn os_version(&self) -> String {
        self.version_in(|key| key.contains("OS"))
    }

    pub(super) fn version_in(&self, pick: impl Fn(&str) -> bool) -> String {
        for t in self.0.iter().filter(|t| pick(&t.key)) {
            for text in [&t.value, &t.key] {
                let v = first_version(text);
                if !v.is_empty() {
                    return v;
                }
            }
        }
        String::new()
    }

    /// The part after `Android x.y`, unless it is a language tag or a known product.
    pub(super) fn android_device(&self, android_at: usize) -> String {
        let Some(next) = self.0.get(android_at + 1) else {
            return String::new();
        };
        let dev = next.key.as_str();
        let language_tag = dev.len() == 2 || (dev.len() == 5 && dev.as_bytes()[2] == b'-');
        if language_tag || NOT_A_PRODUCT.contains(&dev) {
            return String::new();
        }
        dev.strip_suffix("Build").unwrap_or(dev).trim().to_string()
    }

    /// The first part that can name the product: with a version only, or then any.
    pub(super) fn best_name(&self, with_version_only: bool) -> Option<&Token> {
        let passes: &[bool] = if with_version_only {
            &[true]
        } else {
            &[true, false]
        };
        passes.iter().find_map(|&need_version| {
            self.0.iter().find(|t| {
                !NOT_A_PRODUCT.contains(&t.key.as_str())
                    && t.key != "GSA"
                    && !t.key.starts_with(|c: char| c.is_ascii_digit())
                    && (!need_version || !t.value.is_empty())
            })
        })
    }
}

/// The first run of digits, `.` and `_` in `text`, with `_` read as `.` (`10_15_7` → `10.15.7`).
fn first_version(text: &str) -> String {
    let is_part = |c: char| c.is_ascii_digit() || c == '.' || c == '_';
    let Some(start) = text.find(is_part) else {
        return String::new();
    };
    let rest = &text[start..];
    let end = rest.find(|c: char| !is_part(c)).unwrap_or(rest.len());
    rest[..end].replace('_', ".")
}

/// Parts that carry nothing (`Mozilla`, `compatible`, `KHTML, like Gecko`, a few languages).
fn ignored(part: &str) -> bool {
    matches!(
        part,
        "KHTML, like Gecko"
            | "U"
            | "compatible"
            | "Mozilla"
            | "WOW64"
            | "en"
            | "en-us"
            | "en-gb"
            | "ru-ru"
    )
}

/// Splits `Windows NT 10.0` into name and version for the few systems written that way.
fn split_version(part: &str) -> (String, String) {
    let Some(i) = part.rfind(' ') else {
        return (part.to_string(), String::new());
    };
    match &part[..i] {
        "Linux" | "Windows NT" | "Windows Phone OS" | "MSIE" | "Android" => {
            (part[..i].to_string(), part[i + 1..].to_string())
        }
        "CrOS x86_64" | "CrOS aarch64" => {
            let j = part[..i].rfind(' ').unwrap_or(0);
            (part[..j].to_string(), part[j + 1..i].to_string())
        }
        _ => (part.to_string(), String::new()),
    }
}

/// Reads the header into parts: `name/value` separated by spaces, `;` inside `(…)` and `[…]`,
/// and URLs kept whole.
pub(super) fn tokenize(ua: &str) -> Tokens {
    struct Scan {
        out: Vec<Token>,
        name: Vec<u8>,
        value: Vec<u8>,
        in_value: bool,
        in_url: bool,
    }
    impl Scan {
        fn flush(&mut self) {
            if !self.name.is_empty() {
                let name = String::from_utf8_lossy(&self.name);
                let mut part = name.trim();
                if !ignored(part) {
                    if self.in_url {
                        part = part.strip_prefix('+').unwrap_or(part);
                    }
                    let (key, value) = if self.value.is_empty() {
                        split_version(part)
                    } else {
                        let value = String::from_utf8_lossy(&self.value);
                        (part.to_string(), value.trim().to_string())
                    };
                    self.out.push(Token { key, value });
                }
            }
            self.name.clear();
            self.value.clear();
            self.in_value = false;
            self.in_url = false;
        }
    }
    let bytes = ua.as_bytes();
    let mut scan = Scan {
        out: Vec::with_capacity(8),
        name: Vec::with_capacity(32),
        value: Vec::with_capacity(32),
        in_value: false,
        in_url: false,
    };
    let (mut in_parens, mut in_brackets) = (false, false);
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b')' => {
                scan.flush();
                in_parens = false;
            }
            b';' if in_parens || in_brackets => scan.flush(),
            b'(' => {
                scan.flush();
                in_parens = true;
            }
            b'[' => {
                scan.flush();
                in_brackets = true;
            }
            b']' => {
                scan.flush();
                in_brackets = false;
            }
            b' ' if scan.in_value => scan.flush(),
            _ if scan.in_value => scan.value.push(c),
            b'/' if !scan.in_url => {
                let starts_url = bytes.get(i + 1) == Some(&b'/')
                    && (scan.name.ends_with(b"http:") || scan.name.ends_with(b"https:"));
                if starts_url {
                    scan.name.push(c);
                    scan.in_url = true;
                } else {
                    scan.in_value = true;
                }
            }
            _ => scan.name.push(c),
        }
    }
    scan.flush();
    Tokens(scan.out)
}
