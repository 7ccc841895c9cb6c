//! The one piece of CEL lexing the policy environment does itself: finding where a string
//! literal ends, so that `${…}` templates split on the right `}` (see `super::template`).

/// Returns the index just past the string literal starting at `i` (a quote character): single
/// or triple quoted, with backslash escapes; the end of `bytes` when it is not closed.
pub(crate) fn skip_string(bytes: &[u8], i: usize) -> usize {
    let quote = bytes[i];
    let triple = i + 2 < bytes.len() && bytes[i + 1] == quote && bytes[i + 2] == quote;
    let mut j = if triple { i + 3 } else { i + 1 };
    while j < bytes.len() {
        let c = bytes[j];
        if c == b'\\' {
            j += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return j + 1;
            }
            if j + 2 < bytes.len() && bytes[j + 1] == quote && bytes[j + 2] == quote {
                return j + 3;
            }
        }
        j += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_skipped() {
        let end = |src: &str| skip_string(src.as_bytes(), 0);
        assert_eq!(end("'a}b' + x"), 5);
        assert_eq!(end(r#""c\"d" + x"#), 6);
        assert_eq!(end("'''x'y''' + x"), 9);
        assert_eq!(end("'open"), 5);
    }
}
