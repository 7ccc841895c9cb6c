//! Splitting a `text/event-stream` body into messages as it streams, and writing them back.
//!
//! Hand-written rather than taken from an SSE client crate: those parse into their own event
//! type and drop what a proxy must keep (comments, the exact line endings, unknown fields,
//! an unterminated last message), while this keeps every byte of a message it does not change.
//!
//! Lines end with CRLF, LF or CR (the HTML standard's `text/event-stream` grammar); an empty
//! line ends a message. A message longer than the splitter's limit is passed through
//! untouched, in pieces, without being buffered.

use bytes::{Bytes, BytesMut};

/// One line of a message: a field (`name: value`, `name:value`, `name`) or a comment
/// (`: text`), with its original bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseLine {
    /// The line as received, without its terminator.
    raw: Bytes,
    /// Its terminator (`\n`, `\r\n` or `\r`).
    end: &'static [u8],
    /// The field name, or `None` for a comment (or a line that is not UTF-8).
    name: Option<String>,
    /// The field value, after the optional single space following the colon.
    value: String,
    /// Set when the value was changed: the line is written again as `name: value`.
    changed: bool,
}

impl SseLine {
    fn parse(raw: Bytes, end: &'static [u8]) -> SseLine {
        let (name, value) = match std::str::from_utf8(&raw) {
            Ok(text) if !text.starts_with(':') => match text.split_once(':') {
                Some((name, value)) => (
                    Some(name.to_owned()),
                    value.strip_prefix(' ').unwrap_or(value).to_owned(),
                ),
                None => (Some(text.to_owned()), String::new()),
            },
            _ => (None, String::new()),
        };
        SseLine {
            raw,
            end,
            name,
            value,
            changed: false,
        }
    }

    /// The field name (`data`, `event`, `id`, `retry`, …), or `None` for a comment.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The field value.
    pub fn value(&self) -> &str {
        &self.value
    }

    fn write(&self, out: &mut BytesMut) {
        match (&self.name, self.changed) {
            (Some(name), true) => {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(self.value.as_bytes());
            }
            _ => out.extend_from_slice(&self.raw),
        }
        out.extend_from_slice(self.end);
    }
}

/// One Server-Sent Events message: its lines, up to and including the empty line that ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    lines: Vec<SseLine>,
    /// The empty line's terminator; `None` for an unterminated last message.
    end: Option<&'static [u8]>,
}

impl SseMessage {
    /// The value of a field that occurs once (`event`, `id`, `retry`): its last occurrence.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.name() == Some(name))
            .map(SseLine::value)
    }

    /// The message's data: every `data` line's value, joined with `\n` (as a client sees it).
    pub fn data(&self) -> Option<String> {
        let values: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.name() == Some("data"))
            .map(SseLine::value)
            .collect();
        (!values.is_empty()).then(|| values.join("\n"))
    }

    /// Replaces the value of field `name`. For `data`, the new value's lines become the
    /// message's `data` lines (written where the first one was); for any other field, the
    /// last occurrence is replaced. A field the message lacks is left absent.
    pub fn set_field(&mut self, name: &str, value: &str) {
        if name == "data" {
            let Some(first) = self.lines.iter().position(|l| l.name() == Some("data")) else {
                return;
            };
            let end = self.lines[first].end;
            self.lines.retain(|l| l.name() != Some("data"));
            let new: Vec<SseLine> = value
                .split('\n')
                .map(|part| SseLine {
                    raw: Bytes::new(),
                    end,
                    name: Some("data".to_owned()),
                    value: part.to_owned(),
                    changed: true,
                })
                .collect();
            self.lines.splice(first..first, new);
            return;
        }
        if let Some(line) = self.lines.iter_mut().rev().find(|l| l.name() == Some(name))
            && line.value != value
        {
            line.value = value.to_owned();
            line.changed = true;
        }
    }

    /// The message's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        for line in &self.lines {
            line.write(&mut out);
        }
        if let Some(end) = self.end {
            out.extend_from_slice(end);
        }
        out.freeze()
    }
}

/// What the splitter found in a chunk, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A complete message.
    Message(SseMessage),
    /// Bytes passed through as they are (part of a message over the size limit).
    Raw(Bytes),
}

/// Splits a streamed body into messages, holding at most `limit` bytes of an unfinished one.
#[derive(Debug)]
pub struct SseSplitter {
    limit: usize,
    /// Bytes after the last complete line.
    partial: BytesMut,
    /// The complete lines of the message being read.
    lines: Vec<SseLine>,
    /// Bytes held for the message being read (its lines and the partial line).
    held: usize,
    /// The previous chunk ended in `\r`: a `\n` starting this one belongs to it.
    after_cr: bool,
    /// Inside a message over the limit: pass bytes through until it ends.
    passing: bool,
    /// While passing: bytes of the current line went out already (so it is not empty).
    line_started: bool,
}

impl SseSplitter {
    /// A splitter holding at most `limit` bytes of one message.
    pub fn new(limit: usize) -> Self {
        SseSplitter {
            limit,
            partial: BytesMut::new(),
            lines: Vec::new(),
            held: 0,
            after_cr: false,
            passing: false,
            line_started: false,
        }
    }

    /// Feeds the next chunk; `end` on the last one (an unterminated message is then returned
    /// as it is).
    pub fn feed(&mut self, chunk: &[u8], end: bool) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                // The CR that ended the last chunk was half of a CRLF.
                rest = &rest[1..];
                match self.lines.last_mut() {
                    Some(last) if !self.passing => last.end = b"\r\n",
                    _ => out.push(Piece::Raw(Bytes::from_static(b"\n"))),
                }
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let terminator: &'static [u8] = match (rest[i], rest.get(i + 1)) {
                (b'\r', Some(b'\n')) => b"\r\n",
                (b'\r', None) => {
                    self.after_cr = true;
                    b"\r"
                }
                (b'\r', _) => b"\r",
                _ => b"\n",
            };
            let line = &rest[..i];
            rest = &rest[i + terminator.len()..];
            self.line(line, terminator, &mut out);
        }
        if !rest.is_empty() {
            if self.passing {
                out.push(Piece::Raw(Bytes::copy_from_slice(rest)));
                self.line_started = true;
            } else {
                self.partial.extend_from_slice(rest);
                self.held += rest.len();
                self.spill_if_over(&mut out);
            }
        }
        if end {
            let mut tail = BytesMut::new();
            for line in self.lines.drain(..) {
                line.write(&mut tail);
            }
            tail.extend_from_slice(&self.partial.split());
            if !tail.is_empty() {
                out.push(Piece::Raw(tail.freeze()));
            }
            self.held = 0;
        }
        out
    }

    /// Handles one complete line.
    fn line(&mut self, line: &[u8], end: &'static [u8], out: &mut Vec<Piece>) {
        if self.passing {
            out.push(Piece::Raw(Bytes::copy_from_slice(line)));
            out.push(Piece::Raw(Bytes::from_static(end)));
            if line.is_empty() && !self.line_started {
                self.passing = false;
            }
            self.line_started = false;
            return;
        }
        let mut raw = self.partial.split();
        raw.extend_from_slice(line);
        if raw.is_empty() {
            out.push(Piece::Message(SseMessage {
                lines: std::mem::take(&mut self.lines),
                end: Some(end),
            }));
            self.held = 0;
            return;
        }
        self.held += line.len() + end.len();
        self.lines.push(SseLine::parse(raw.freeze(), end));
        self.spill_if_over(out);
    }

    /// Passes the message through unparsed once it holds more than the limit.
    fn spill_if_over(&mut self, out: &mut Vec<Piece>) {
        if self.held <= self.limit {
            return;
        }
        let mut spilled = BytesMut::new();
        for line in self.lines.drain(..) {
            line.write(&mut spilled);
        }
        let partial = self.partial.split();
        self.line_started = !partial.is_empty();
        spilled.extend_from_slice(&partial);
        out.push(Piece::Raw(spilled.freeze()));
        self.held = 0;
        self.passing = true;
    }
}
