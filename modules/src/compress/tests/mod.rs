//! Tests for the `compress-response` building blocks, with shared helpers.

mod encoders;
mod flush_cost;
mod lzw;
mod memory;
mod negotiate;
mod plan;
mod unlzw;

use std::io::Read;

use bytes::Bytes;

use super::{Algorithm, encoder};

/// Small deterministic PRNG (xorshift64*), so tests need no extra crates.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish value in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Incompressible bytes.
pub(super) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Compressible, log-like text built from a small vocabulary and numbers.
pub(super) fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "proxy",
        "tunnel",
        "request",
        "response",
        "header",
        "stream",
        "event:",
        "data:",
        "GET",
        "POST",
        "/api/v1/items",
        "status",
        "200",
        "404",
        "ok",
        "error",
        "latency_ms",
        "user",
        "session",
        "{\"id\":",
        "\"name\":",
        "true",
        "false",
        "null",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        match rng.below(10) {
            0 => out.extend_from_slice(rng.next_u64().to_string().as_bytes()),
            1 => out.push(b'\n'),
            _ => out.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes()),
        }
        out.push(b' ');
    }
    out.truncate(len);
    out
}

/// Feeds `data` to a fresh encoder in `chunk`-byte pieces and returns the
/// concatenated output; `trailing_empty` ends with an extra empty call.
pub(super) fn encode_chunks(
    alg: Algorithm,
    data: &[u8],
    chunk: usize,
    trailing_empty: bool,
) -> Vec<u8> {
    let mut enc = encoder(alg);
    let mut out = Vec::new();
    let pieces: Vec<&[u8]> = data.chunks(chunk.max(1)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let end = !trailing_empty && i + 1 == pieces.len();
        out.extend_from_slice(
            &enc.transform(Bytes::copy_from_slice(piece), end)
                .expect("encode"),
        );
    }
    if trailing_empty || pieces.is_empty() {
        out.extend_from_slice(&enc.transform(Bytes::new(), true).expect("finish"));
    }
    out
}

/// Decodes a complete stream in `alg`'s format.
pub(super) fn decode(alg: Algorithm, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match alg {
        Algorithm::Gzip => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        Algorithm::Deflate => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
        Algorithm::Brotli => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
        Algorithm::Compress => return unlzw::unlzw(data).expect("valid .Z stream"),
    }
    .expect("valid compressed stream");
    out
}
