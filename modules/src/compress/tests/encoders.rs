use std::io::Write;

use bytes::Bytes;

use super::{Rng, decode, encode_chunks, random_bytes, text};
use crate::compress::{Algorithm, encoder};
use sluice_policy::BodyError;

#[test]
fn round_trips_across_chunk_sizes() {
    let big_text = text(300_000, 1);
    let big_random = random_bytes(100_000, 2);
    let small_text = text(20_000, 3);
    let small_random = random_bytes(5_000, 4);
    for alg in Algorithm::ALL {
        for chunk in [1, 3, 61, 512] {
            for data in [&small_text, &small_random] {
                for trailing_empty in [false, true] {
                    let encoded = encode_chunks(alg, data, chunk, trailing_empty);
                    assert_eq!(&decode(alg, &encoded), data, "{alg} chunk {chunk}");
                }
            }
        }
        for chunk in [4096, 16_384, 65_536, 1 << 20] {
            for data in [&big_text, &big_random] {
                let encoded = encode_chunks(alg, data, chunk, false);
                assert_eq!(&decode(alg, &encoded), data, "{alg} chunk {chunk}");
            }
        }
    }
}

#[test]
fn round_trips_random_chunking_with_empty_chunks() {
    let data = text(200_000, 5);
    for alg in Algorithm::ALL {
        let mut rng = Rng::new(alg.id().len() as u64);
        let mut enc = encoder(alg);
        let mut out = Vec::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            let n = match rng.below(4) {
                0 => 0,
                1 => rng.below(16),
                _ => rng.below(20_000),
            }
            .min(rest.len());
            let (piece, tail) = rest.split_at(n);
            out.extend_from_slice(&enc.transform(Bytes::copy_from_slice(piece), false).unwrap());
            rest = tail;
        }
        out.extend_from_slice(&enc.transform(Bytes::new(), true).unwrap());
        assert_eq!(decode(alg, &out), data, "{alg}");
    }
}

#[test]
fn empty_bodies_produce_valid_streams() {
    for alg in Algorithm::ALL {
        let encoded = encode_chunks(alg, &[], 1, false);
        assert!(!encoded.is_empty(), "{alg} emits at least a header");
        assert!(decode(alg, &encoded).is_empty(), "{alg}");
    }
}

#[test]
fn text_actually_compresses() {
    let data = text(200_000, 6);
    for alg in Algorithm::ALL {
        let encoded = encode_chunks(alg, &data, 16_384, false);
        assert!(
            encoded.len() * 2 < data.len(),
            "{alg}: {} bytes",
            encoded.len()
        );
    }
}

#[test]
fn feeding_after_end_is_an_error() {
    for alg in Algorithm::ALL {
        let mut enc = encoder(alg);
        enc.transform(Bytes::from_static(b"hello"), true).unwrap();
        let err = enc
            .transform(Bytes::from_static(b"more"), false)
            .unwrap_err();
        assert!(
            matches!(&err, BodyError::Failed(m) if m.contains("after the end")),
            "{alg}: {err}"
        );
    }
}

/// Feeds compressed bytes and returns everything decoded so far.
type StreamingDecoder = Box<dyn FnMut(&[u8]) -> Vec<u8>>;

/// A decoder fed incrementally that reports everything decodable so far.
fn streaming_decoder(alg: Algorithm) -> StreamingDecoder {
    fn drive<W: Write + 'static>(mut w: W, get: fn(&W) -> &Vec<u8>) -> StreamingDecoder {
        Box::new(move |bytes: &[u8]| {
            w.write_all(bytes).expect("decode");
            w.flush().expect("flush");
            get(&w).clone()
        })
    }
    match alg {
        Algorithm::Gzip => drive(flate2::write::GzDecoder::new(Vec::new()), |w| w.get_ref()),
        Algorithm::Deflate => drive(flate2::write::ZlibDecoder::new(Vec::new()), |w| w.get_ref()),
        Algorithm::Brotli => drive(brotli::DecompressorWriter::new(Vec::new(), 4096), |w| {
            w.get_ref()
        }),
        Algorithm::Compress => unreachable!("compress cannot sync-flush"),
    }
}

#[test]
fn flushed_output_decodes_incrementally() {
    let events: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            format!(
                "event: tick\ndata: {{\"n\":{i},\"pad\":\"{}\"}}\n\n",
                "x".repeat(i * 7)
            )
            .into_bytes()
        })
        .collect();
    for alg in [Algorithm::Gzip, Algorithm::Deflate, Algorithm::Brotli] {
        let mut enc = encoder(alg);
        let mut dec = streaming_decoder(alg);
        let mut sent = Vec::new();
        for event in &events {
            sent.extend_from_slice(event);
            let out = enc.transform(Bytes::copy_from_slice(event), false).unwrap();
            assert!(!out.is_empty(), "{alg} emits on every chunk");
            assert_eq!(dec(&out), sent, "{alg} after {} bytes", sent.len());
        }
        let tail = enc.transform(Bytes::new(), true).unwrap();
        assert_eq!(dec(&tail), sent, "{alg} after end");
    }
}

#[test]
fn compress_emits_output_before_end() {
    let data = text(100_000, 8);
    let mut enc = encoder(Algorithm::Compress);
    let mut emitted = 0;
    for piece in data.chunks(10_000) {
        let out = enc.transform(Bytes::copy_from_slice(piece), false).unwrap();
        assert!(
            out.len() > 1000,
            "compress emits as it goes, got {}",
            out.len()
        );
        emitted += out.len();
    }
    let tail = enc.transform(Bytes::new(), true).unwrap();
    assert!(
        tail.len() <= 16,
        "only a few pending bytes at the end: {}",
        tail.len()
    );
    assert!(emitted > 0);
}
