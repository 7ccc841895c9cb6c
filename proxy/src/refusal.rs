//! Answers the client stream wrapper ([`crate::metered::Metered`]) writes itself when an HTTP/1
//! request head is refused before Pingora parses it: too large, too many fields, or malformed
//! (see [`sluice_wire::http1`]). Each carries `sluice-error-code` and closes the connection.

use sluice_wire::HeadError;

/// Why a request head was refused as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRefusal {
    /// Over [`crate::metered::HEADER_LIMIT`] bytes.
    TooLarge,
    /// More than [`crate::errors::MAX_HEADER_FIELDS`] fields.
    TooManyFields,
    /// Breaks HTTP/1.1's syntax.
    Malformed,
}

/// Builds a complete plain-text error response at compile time (`$len`: the body's length,
/// checked by a test), with ngrok's header too when `ngrok` is given.
macro_rules! refusal {
    ($status:literal, $code:literal, $len:literal, $text:literal) => {
        refusal!(@ $status, $code, $len, $text, "")
    };
    ($status:literal, $code:literal, $len:literal, $text:literal, ngrok) => {
        refusal!(@ $status, $code, $len, $text, concat!("\r\nngrok-error-code: ERR_NGROK_", $code))
    };
    (@ $status:literal, $code:literal, $len:literal, $text:literal, $extra:expr) => {
        concat!(
            "HTTP/1.1 ",
            $status,
            "\r\nsluice-error-code: ERR_SLUICE_",
            $code,
            $extra,
            "\r\ncontent-type: text/plain; charset=utf-8\r\ncache-control: no-store\r\n",
            "connection: close\r\ncontent-length: ",
            $len,
            "\r\n\r\n",
            $text
        )
        .as_bytes()
    };
}

impl HeadRefusal {
    /// The refusal for a head the scanner rejected.
    pub fn of(e: &HeadError) -> Self {
        if e.is_too_large() {
            HeadRefusal::TooManyFields
        } else {
            HeadRefusal::Malformed
        }
    }

    /// The whole response to write; with `ngrok_code`, ngrok's `ngrok-error-code` too (the
    /// edge config's `ngrok_error_code_header`).
    pub fn response(self, ngrok_code: bool) -> &'static [u8] {
        match (self, ngrok_code) {
            (HeadRefusal::TooLarge, false) => refusal!(
                "431 Request Header Fields Too Large",
                "3906",
                "58",
                "The request header is larger than 1 MiB.\n\nERR_SLUICE_3906\n"
            ),
            (HeadRefusal::TooLarge, true) => refusal!(
                "431 Request Header Fields Too Large",
                "3906",
                "58",
                "The request header is larger than 1 MiB.\n\nERR_SLUICE_3906\n",
                ngrok
            ),
            (HeadRefusal::TooManyFields, false) => refusal!(
                "431 Request Header Fields Too Large",
                "3906",
                "62",
                "The request header has more than 256 fields.\n\nERR_SLUICE_3906\n"
            ),
            (HeadRefusal::TooManyFields, true) => refusal!(
                "431 Request Header Fields Too Large",
                "3906",
                "62",
                "The request header has more than 256 fields.\n\nERR_SLUICE_3906\n",
                ngrok
            ),
            (HeadRefusal::Malformed, false) => refusal!(
                "400 Bad Request",
                "3907",
                "52",
                "The request is not valid HTTP/1.1.\n\nERR_SLUICE_3907\n"
            ),
            (HeadRefusal::Malformed, true) => refusal!(
                "400 Bad Request",
                "3907",
                "52",
                "The request is not valid HTTP/1.1.\n\nERR_SLUICE_3907\n",
                ngrok
            ),
        }
    }

    /// What the failed read says.
    pub fn reason(self) -> &'static str {
        match self {
            HeadRefusal::TooLarge => "request header larger than 1 MiB",
            HeadRefusal::TooManyFields => "request header with too many fields",
            HeadRefusal::Malformed => "malformed request header",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_matches_the_body() {
        for (r, ngrok) in [
            HeadRefusal::TooLarge,
            HeadRefusal::TooManyFields,
            HeadRefusal::Malformed,
        ]
        .into_iter()
        .flat_map(|r| [(r, false), (r, true)])
        {
            let text = std::str::from_utf8(r.response(ngrok)).expect("utf-8");
            let (head, body) = text.split_once("\r\n\r\n").expect("head");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .expect("content-length");
            assert_eq!(len, body.len(), "{text}");
            assert!(head.contains("sluice-error-code: ERR_SLUICE_39"), "{text}");
            assert_eq!(
                head.contains("\r\nngrok-error-code: ERR_NGROK_39"),
                ngrok,
                "{text}"
            );
        }
    }
}
