//! Target for the strict HTTP/1 request-head checks and path normalisation in `sluice-wire`
//! (`wire/src/http1.rs`, `wire/src/path.rs`).

use sluice_wire::{HeadScanner, normalize_path, transfer_encoding_is_chunked};

/// Field-line limit used for the scanner (the edge's default order of magnitude).
const MAX_FIELDS: usize = 100;

/// The bytes as a request head, fed whole and then in chunks (the first byte picks the chunk
/// size): both must agree on where the head ends or that it is refused. Then the request
/// target, if any, as a path: a normalised path must already be normal, absolute and free of
/// dot segments and empty segments.
pub fn http_head(data: &[u8]) {
    let Some((&split, head)) = data.split_first() else {
        return;
    };
    let whole = HeadScanner::new(MAX_FIELDS).feed(head);
    let mut scanner = HeadScanner::new(MAX_FIELDS);
    let mut offset = 0;
    let mut chunked = Ok(None);
    for chunk in head.chunks(usize::from(split % 16) + 1) {
        match scanner.feed(chunk) {
            Ok(None) => offset += chunk.len(),
            Ok(Some(n)) => {
                chunked = Ok(Some(offset + n));
                break;
            }
            Err(e) => {
                chunked = Err(e);
                break;
            }
        }
    }
    assert_eq!(whole, chunked, "same verdict fed whole or in chunks");

    let _ = transfer_encoding_is_chunked(head.split(|&b| b == b'\n'));

    let Ok(text) = std::str::from_utf8(head) else {
        return;
    };
    let path = text.split(' ').nth(1).unwrap_or(text);
    let path = path.split('?').next().unwrap_or(path);
    if let Ok(Some(normal)) = normalize_path(path) {
        assert!(normal.starts_with('/'), "{normal:?} is absolute");
        assert_eq!(normalize_path(&normal), Ok(None), "{normal:?} is normal");
        for segment in normal.split('/').skip(1) {
            assert!(
                segment != "." && segment != "..",
                "{normal:?} has dot segments"
            );
        }
        assert!(!normal.contains("//"), "{normal:?} has empty segments");
    }
}
