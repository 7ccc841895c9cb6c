//! The splitter on chunk boundaries anywhere, line endings, the size limit, and rewriting.

use bytes::Bytes;

use super::parse::{Piece, SseSplitter};

const STREAM: &str = ": hi\r\nevent: a\ndata: one\ndata: two\r\rdata: three\n\nid: 9\r\ndata\n\n";

/// Feeds `input` cut at every `step` bytes; returns the messages' data and the bytes out.
fn run(input: &[u8], step: usize, limit: usize) -> (Vec<Option<String>>, Vec<u8>) {
    let mut splitter = SseSplitter::new(limit);
    let mut data = Vec::new();
    let mut out = Vec::new();
    let chunks: Vec<&[u8]> = input.chunks(step).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        for piece in splitter.feed(chunk, i + 1 == chunks.len()) {
            match piece {
                Piece::Message(m) => {
                    data.push(m.data());
                    out.extend_from_slice(&m.to_bytes());
                }
                Piece::Raw(b) => out.extend_from_slice(&b),
            }
        }
    }
    (data, out)
}

#[test]
fn messages_are_found_whatever_the_chunking_and_bytes_are_kept() {
    for step in 1..=STREAM.len() {
        let (data, out) = run(STREAM.as_bytes(), step, 1024);
        assert_eq!(
            data,
            [
                Some("one\ntwo".to_owned()),
                Some("three".to_owned()),
                Some(String::new())
            ],
            "step {step}"
        );
        assert_eq!(String::from_utf8_lossy(&out), STREAM, "step {step}");
    }
}

#[test]
fn a_message_over_the_limit_passes_through_unparsed_and_the_next_is_parsed() {
    let big = format!("data: {}\n\ndata: small\n\n", "x".repeat(100));
    for step in [1, 7, 64, big.len()] {
        let (data, out) = run(big.as_bytes(), step, 32);
        assert_eq!(data, [Some("small".to_owned())], "step {step}");
        assert_eq!(String::from_utf8_lossy(&out), big, "step {step}");
    }
}

#[test]
fn set_field_rewrites_data_lines_and_single_fields() {
    let mut splitter = SseSplitter::new(1024);
    let pieces = splitter.feed(b"id: 1\ndata: a\ndata: b\nretry:5\n\n", false);
    let Some(Piece::Message(mut m)) = pieces.into_iter().next() else {
        panic!("one message")
    };
    assert_eq!(m.field("retry"), Some("5"));
    m.set_field("data", "x\ny\nz");
    m.set_field("retry", "7");
    m.set_field("event", "absent fields stay absent");
    assert_eq!(
        m.to_bytes(),
        Bytes::from_static(b"id: 1\ndata: x\ndata: y\ndata: z\nretry: 7\n\n")
    );
}
