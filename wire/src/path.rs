//! Request path normalisation, so that a policy's `req.url.path` rules cannot be bypassed by
//! writing the same path another way (`/%61dmin`, `//admin`, `/./admin`, `/x/../admin`).
//!
//! The rules, in order (RFC 3986 §6.2.2 and nginx's defaults):
//! 1. percent-escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded, every other
//!    escape keeps its byte with upper-case hex digits;
//! 2. runs of `/` become one `/`;
//! 3. `.` and `..` segments are removed (RFC 3986 §5.2.4).
//!
//! Paths that cannot be normalised safely are refused: one that is not absolute, a malformed
//! escape, `..` above the root, an encoded `/` (`%2F`) or `\` (`%5C`), whose meaning depends on
//! the upstream, an encoded NUL (`%00`), and a raw `\`, which some servers read as `/`.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A `..` segment climbs above the root.
    AboveRoot,
    /// An encoded `/` or `\`: a separator only some upstreams see.
    EncodedSeparator,
    /// An encoded NUL byte.
    EncodedNul,
    /// A raw `\`, which some servers treat as `/`.
    Backslash,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::BadEscape => "the path has a % not followed by two hex digits",
            PathError::AboveRoot => "a .. segment in the path climbs above the root",
            PathError::EncodedSeparator => "the path has an encoded / or \\ (%2F or %5C)",
            PathError::EncodedNul => "the path has an encoded NUL (%00)",
            PathError::Backslash => "the path has a \\",
        })
    }
}

impl std::error::Error for PathError {}

/// Normalises a request path (without its query). `Ok(None)` when it is already normal (the
/// common case, which allocates nothing), `Ok(Some(p))` with the normal form otherwise.
pub fn normalize_path(path: &str) -> Result<Option<String>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(bytes)? {
        return Ok(None);
    }
    let decoded = decode_unreserved(bytes)?;
    Ok(Some(remove_dot_segments(&decoded)?))
}

/// Whether the path needs no change; refuses a raw `\` on the way. An escape is normal when
/// it is well formed, upper case, and of a byte that stays escaped.
fn is_normal(bytes: &[u8]) -> Result<bool, PathError> {
    // Bytes since the last `/`, while they are only dots (0, 1 or 2 means a `.`/`..`
    // segment or an empty one, once the next `/` or the end comes).
    let mut dots_since_slash: Option<usize> = Some(0);
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        match b {
            b'\\' => return Err(PathError::Backslash),
            b'%' => {
                let escape = bytes.get(i..i + 2).and_then(|h| {
                    let upper = !h.iter().any(u8::is_ascii_lowercase);
                    Some((hex(h[0])? << 4 | hex(h[1])?, upper))
                });
                match escape {
                    Some((v, true)) if !is_unreserved(v) && !matches!(v, 0 | b'/' | b'\\') => {
                        i += 2;
                    }
                    _ => return Ok(false),
                }
            }
            b'/' => {
                if matches!(dots_since_slash, Some(0..=2)) {
                    return Ok(false);
                }
                dots_since_slash = Some(0);
                continue;
            }
            b'.' => {
                dots_since_slash = dots_since_slash.map(|n| n + 1);
                continue;
            }
            _ => {}
        }
        dots_since_slash = None;
    }
    Ok(!matches!(dots_since_slash, Some(1..=2)))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escapes of unreserved characters; upper-cases the hex of the others.
fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            return Err(PathError::Backslash);
        }
        if b != b'%' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let v = hi << 4 | lo;
        match v {
            0 => return Err(PathError::EncodedNul),
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            v if is_unreserved(v) => out.push(char::from(v)),
            v => {
                out.push('%');
                out.push(char::from(HEX[usize::from(v >> 4)]));
                out.push(char::from(HEX[usize::from(v & 15)]));
            }
        }
        i += 3;
    }
    Ok(out)
}

/// Merges slashes and removes `.` and `..` segments of an absolute path.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path[1..].split('/').peekable();
    // Whether the output ends with `/` (an empty last segment, or a trailing `.`/`..`).
    let mut trailing_slash = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "" => {
                trailing_slash = last;
            }
            "." => trailing_slash = true,
            ".." => {
                if kept.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = true;
            }
            s => {
                kept.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &kept {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, PathError> {
        normalize_path(p).map(|o| o.unwrap_or_else(|| p.to_string()))
    }

    #[test]
    fn normal_paths_are_left_alone_without_allocating() {
        for p in [
            "/",
            "/admin",
            "/a/b/c",
            "/a/b/",
            "/a.b/c..d/.e/f.",
            "/...",
            "/a/.../b",
            "/~user/x-y_z",
            "/a%20b/%E2%82%AC",
        ] {
            assert_eq!(normalize_path(p), Ok(None), "{p}");
        }
    }

    #[test]
    fn every_spelling_of_admin_becomes_admin() {
        for p in [
            "/%61dmin",
            "/%61%64%6D%69%6E",
            "/%61%64%6d%69%6e",
            "//admin",
            "///admin",
            "/./admin",
            "/x/../admin",
            "/x/%2e%2e/admin",
            "/x/.%2E/admin",
            "/%2e/admin",
            "/a/b/../../admin",
            "/./x/./../admin",
        ] {
            assert_eq!(norm(p).as_deref(), Ok("/admin"), "{p}");
        }
    }

    #[test]
    fn trailing_dots_and_slashes() {
        assert_eq!(norm("/a/b/.").as_deref(), Ok("/a/b/"));
        assert_eq!(norm("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(norm("/a/..").as_deref(), Ok("/"));
        assert_eq!(norm("/.").as_deref(), Ok("/"));
        assert_eq!(norm("//").as_deref(), Ok("/"));
        assert_eq!(norm("/a//").as_deref(), Ok("/a/"));
        assert_eq!(norm("/a/.b/..c").as_deref(), Ok("/a/.b/..c"));
    }

    #[test]
    fn reserved_escapes_stay_encoded_in_upper_case() {
        assert_eq!(norm("/a%20b").as_deref(), Ok("/a%20b"));
        assert_eq!(norm("/a%3fb%3F").as_deref(), Ok("/a%3Fb%3F"));
        assert_eq!(norm("/%e2%82%ac").as_deref(), Ok("/%E2%82%AC"));
        assert_eq!(norm("/%25%61").as_deref(), Ok("/%25a"));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert_eq!(norm("admin"), Err(PathError::NotAbsolute));
        assert_eq!(norm(""), Err(PathError::NotAbsolute));
        assert_eq!(norm("*"), Err(PathError::NotAbsolute));
        assert_eq!(norm("/.."), Err(PathError::AboveRoot));
        assert_eq!(norm("/a/../.."), Err(PathError::AboveRoot));
        assert_eq!(norm("/../admin"), Err(PathError::AboveRoot));
        assert_eq!(norm("/%2e%2e/admin"), Err(PathError::AboveRoot));
        assert_eq!(norm("/%2Fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/x%2fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/x%5Cadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(norm("/x%00"), Err(PathError::EncodedNul));
        assert_eq!(norm("/x%"), Err(PathError::BadEscape));
        assert_eq!(norm("/x%4"), Err(PathError::BadEscape));
        assert_eq!(norm("/x%zz"), Err(PathError::BadEscape));
        assert_eq!(norm("/x\\admin"), Err(PathError::Backslash));
        assert_eq!(norm("//x\\admin"), Err(PathError::Backslash));
    }

    #[test]
    fn normalising_is_idempotent() {
        for p in [
            "/%61dmin//x/./y/../z%20",
            "/a/b/..",
            "/%7euser/%41",
            "/x/.%2e/./",
        ] {
            let once = norm(p).expect("normal");
            assert_eq!(normalize_path(&once), Ok(None), "{p} -> {once}");
        }
    }
}
