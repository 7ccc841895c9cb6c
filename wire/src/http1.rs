//! Strict checks of HTTP/1.1 request heads, on the bytes as the client sent them.
//!
//! The edge's HTTP/1 parser (Pingora over `httparse`) is lenient where leniency is a risk for a
//! shared edge: it percent-encodes spaces and control bytes in a request target instead of
//! refusing them, reads bare LF line ends, and answers a head with too many fields with a bare
//! 400. [`HeadScanner`] reads the head byte by byte as it arrives (no buffering, no allocation)
//! and refuses, per RFC 9112:
//! - a request line that is not exactly `method SP target SP HTTP/1.x CRLF` (one space each,
//!   a target of visible ASCII only: no space, control byte, NUL or non-ASCII byte);
//! - a bare LF, or a CR not followed by LF, anywhere in the head;
//! - a field line starting with whitespace (obsolete line folding), a field name that is empty
//!   or not a token (so `Transfer-Encoding : chunked` is refused), a control byte in a value;
//! - more field lines than a limit.
//!
//! [`transfer_encoding_is_chunked`] checks the framing header the same strict way.

use std::fmt;

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The request line is malformed (the text says how).
    RequestLine(&'static str),
    /// A line ends with a bare LF, or a CR is not followed by LF.
    LineEnd,
    /// A field line is malformed (the text says how).
    Field(&'static str),
    /// More field lines than the limit.
    TooManyFields,
}

impl HeadError {
    /// Whether the answer is 431 (too many fields) rather than 400.
    pub fn is_too_large(&self) -> bool {
        matches!(self, HeadError::TooManyFields)
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::RequestLine(why) => write!(f, "malformed request line: {why}"),
            HeadError::LineEnd => f.write_str("a line of the request head does not end in CRLF"),
            HeadError::Field(why) => write!(f, "malformed header field: {why}"),
            HeadError::TooManyFields => f.write_str("too many header fields"),
        }
    }
}

impl std::error::Error for HeadError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the request line (empty lines may precede it).
    Start,
    /// After a CR before the request line.
    StartCr,
    Method,
    /// The first byte of the target.
    TargetStart,
    Target,
    /// Matching `HTTP/1.` (index of the next byte).
    Version(u8),
    /// The minor version digit.
    VersionMinor,
    /// After the version, expecting CR.
    VersionEnd,
    /// After a CR, expecting LF; then a field line or the end.
    LineCr,
    /// At the start of a line after the request line.
    LineStart,
    /// In a field name.
    Name,
    /// In a field value.
    Value,
    /// The CR of the empty line that ends the head.
    EndCr,
    /// The head is complete.
    Done,
}

/// Checks an HTTP/1.1 request head as its bytes arrive.
#[derive(Debug, Clone)]
pub struct HeadScanner {
    state: State,
    fields: usize,
    max_fields: usize,
}

/// `VCHAR`s allowed in a token (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

const HTTP_1: &[u8; 7] = b"HTTP/1.";

impl HeadScanner {
    /// A scanner refusing heads with more than `max_fields` field lines.
    pub fn new(max_fields: usize) -> Self {
        HeadScanner {
            state: State::Start,
            fields: 0,
            max_fields,
        }
    }

    /// Starts over for the next request.
    pub fn reset(&mut self) {
        self.state = State::Start;
        self.fields = 0;
    }

    /// Whether the head ended (further input is body or the next request).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads the next bytes of the head. `Ok(Some(n))` when the head ended after `n` bytes of
    /// `input` (the rest is not looked at), `Ok(None)` when more is needed.
    pub fn feed(&mut self, input: &[u8]) -> Result<Option<usize>, HeadError> {
        use State::*;
        for (i, &b) in input.iter().enumerate() {
            self.state = match (self.state, b) {
                (Done, _) => return Ok(Some(i)),
                (Start, b'\r') => StartCr,
                (Start, b'\n') => return Err(HeadError::LineEnd),
                (StartCr, b'\n') => Start,
                (StartCr, _) => return Err(HeadError::LineEnd),
                (Start, b) if is_tchar(b) => Method,
                (Start, _) => return Err(HeadError::RequestLine("the method is not a token")),
                (Method, b' ') => TargetStart,
                (Method, b) if is_tchar(b) => Method,
                (Method, _) => {
                    return Err(HeadError::RequestLine(
                        "the method is not a token followed by one space",
                    ));
                }
                (TargetStart, b' ') => {
                    return Err(HeadError::RequestLine(
                        "more than one space after the method",
                    ));
                }
                (TargetStart | Target, 0x21..=0x7e) => Target,
                (Target, b' ') => Version(0),
                (TargetStart | Target, _) => {
                    return Err(HeadError::RequestLine(
                        "the target has a space, a control byte or a non-ASCII byte",
                    ));
                }
                (Version(n), b) if b == HTTP_1[usize::from(n)] => {
                    if usize::from(n) + 1 == HTTP_1.len() {
                        VersionMinor
                    } else {
                        Version(n + 1)
                    }
                }
                (Version(_), _) => {
                    return Err(HeadError::RequestLine(
                        "the target is not followed by one space and HTTP/1.x",
                    ));
                }
                (VersionMinor, b'0' | b'1') => VersionEnd,
                (VersionMinor, _) => {
                    return Err(HeadError::RequestLine(
                        "the version is not HTTP/1.0 or HTTP/1.1",
                    ));
                }
                (VersionEnd, b'\r') => LineCr,
                (VersionEnd, b'\n') => return Err(HeadError::LineEnd),
                (VersionEnd, _) => {
                    return Err(HeadError::RequestLine(
                        "the version is not followed by CRLF",
                    ));
                }
                (LineCr, b'\n') => LineStart,
                (LineCr, _) => return Err(HeadError::LineEnd),
                (LineStart, b'\r') => EndCr,
                (LineStart, b'\n') => return Err(HeadError::LineEnd),
                (LineStart, b' ' | b'\t') => {
                    return Err(HeadError::Field("a line starts with whitespace (folding)"));
                }
                (LineStart, b':') => return Err(HeadError::Field("an empty field name")),
                (LineStart, b) if is_tchar(b) => {
                    self.fields += 1;
                    if self.fields > self.max_fields {
                        return Err(HeadError::TooManyFields);
                    }
                    Name
                }
                (Name, b':') => Value,
                (Name, b) if is_tchar(b) => Name,
                (LineStart | Name, _) => {
                    return Err(HeadError::Field(
                        "a field name is not a token followed by a colon",
                    ));
                }
                (Value, b'\r') => LineCr,
                (Value, b'\n') => return Err(HeadError::LineEnd),
                (Value, b'\t' | 0x20..=0x7e | 0x80..=0xff) => Value,
                (Value, _) => return Err(HeadError::Field("a value has a control byte")),
                (EndCr, b'\n') => {
                    self.state = Done;
                    return Ok(Some(i + 1));
                }
                (EndCr, _) => return Err(HeadError::LineEnd),
            };
        }
        Ok(if self.state == Done { Some(0) } else { None })
    }
}

/// Whether a request's `Transfer-Encoding` field values say exactly `chunked` (one coding,
/// any case, optional surrounding whitespace): the only transfer coding the edge accepts from
/// clients. `identity, chunked`, `chunked, chunked`, `gzip, chunked` and `xchunked` are not.
pub fn transfer_encoding_is_chunked<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> bool {
    let (Some(v), None) = (values.next(), values.next()) else {
        return false;
    };
    v.trim_ascii().eq_ignore_ascii_case(b"chunked")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(head: &[u8]) -> Result<Option<usize>, HeadError> {
        HeadScanner::new(100).feed(head)
    }

    #[test]
    fn a_good_head_ends_where_it_ends() {
        let head = b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y: a\tb \xe9\r\n\r\nBODY";
        assert_eq!(scan(head), Ok(Some(head.len() - 4)));
        assert_eq!(
            scan(b"\r\nOPTIONS * HTTP/1.0\r\n\r\n"),
            Ok(Some(24)),
            "an empty line before the request line is allowed"
        );
        assert_eq!(
            scan(b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n"),
            Ok(None)
        );
    }

    #[test]
    fn byte_by_byte_is_the_same_as_at_once() {
        let head = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        let mut s = HeadScanner::new(100);
        let mut end = None;
        for (i, b) in head.iter().enumerate() {
            if let Some(n) = s.feed(std::slice::from_ref(b)).expect("valid") {
                end = Some(i + n);
                break;
            }
        }
        assert_eq!(end, Some(head.len() - 3));
        assert!(s.is_done());
        s.reset();
        assert!(!s.is_done());
    }

    #[test]
    fn bad_request_lines_are_refused() {
        for head in [
            &b"GET  /x HTTP/1.1\r\n"[..],
            b"GET /x  HTTP/1.1\r\n",
            b"GET /a b HTTP/1.1\r\n",
            b"GET /a\x00b HTTP/1.1\r\n",
            b"GET /a\x01 HTTP/1.1\r\n",
            b"GET /a\x7f HTTP/1.1\r\n",
            b"GET /\xc3\xa9 HTTP/1.1\r\n",
            b"GET /a\tb HTTP/1.1\r\n",
            b"G(T /x HTTP/1.1\r\n",
            b" GET /x HTTP/1.1\r\n",
            b"GET /x HTTP/2.0\r\n",
            b"GET /x HTTP/1.1 \r\n",
            b"GET /x http/1.1\r\n",
            b"GET /x\r\n",
            b"GET\r\n",
        ] {
            assert!(
                matches!(scan(head), Err(HeadError::RequestLine(_))),
                "{:?}: {:?}",
                head.escape_ascii().to_string(),
                scan(head)
            );
        }
    }

    #[test]
    fn bare_lf_and_lone_cr_are_refused() {
        for head in [
            &b"GET /x HTTP/1.1\n"[..],
            b"GET /x HTTP/1.1\r\nHost: x\n\r\n",
            b"GET /x HTTP/1.1\r\nHost: x\r\n\n",
            b"GET /x HTTP/1.1\r\nHost: x\rY: z\r\n",
            b"\nGET /x HTTP/1.1\r\n",
            b"\rGET /x HTTP/1.1\r\n",
        ] {
            assert_eq!(
                scan(head),
                Err(HeadError::LineEnd),
                "{}",
                head.escape_ascii()
            );
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        for head in [
            &b"GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n"[..],
            b"GET / HTTP/1.1\r\n: x\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\tfolded\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n",
            b"GET / HTTP/1.1\r\nX: a\x7fb\r\n",
        ] {
            assert!(
                matches!(scan(head), Err(HeadError::Field(_))),
                "{}: {:?}",
                head.escape_ascii(),
                scan(head)
            );
        }
    }

    #[test]
    fn too_many_fields_is_its_own_error() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..5 {
            head.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(HeadScanner::new(5).feed(&head).expect("5 fit").is_some());
        let err = HeadScanner::new(4).feed(&head).expect_err("5 > 4");
        assert_eq!(err, HeadError::TooManyFields);
        assert!(err.is_too_large());
    }

    #[test]
    fn only_plain_chunked_is_a_transfer_encoding() {
        let te = |vs: &[&str]| transfer_encoding_is_chunked(vs.iter().map(|v| v.as_bytes()));
        assert!(te(&["chunked"]));
        assert!(te(&[" Chunked "]));
        assert!(!te(&["identity, chunked"]));
        assert!(!te(&["chunked, chunked"]));
        assert!(!te(&["gzip, chunked"]));
        assert!(!te(&["xchunked"]));
        assert!(!te(&["chunked", "chunked"]));
        assert!(!te(&["identity"]));
        assert!(!te(&[]));
    }
}
