use std::io::Write;
use std::process::{Command, Stdio};

use super::unlzw::unlzw;
use super::{encode_chunks, random_bytes, text};
use crate::compress::Algorithm;

/// Data that drives the encoder through every code width, several table
/// resets (CLEAR) and both highly and barely compressible stretches.
fn corpus() -> Vec<u8> {
    let mut data = random_bytes(300_000, 11);
    data.extend(text(1_500_000, 12));
    data.extend(std::iter::repeat_n(b'a', 200_000));
    data.extend(random_bytes(50_000, 13));
    data
}

#[test]
fn header_is_unix_compress_with_16_bits_block_mode() {
    let encoded = encode_chunks(Algorithm::Compress, &[], 1, false);
    assert_eq!(&encoded[..], &[0x1f, 0x9d, 0x90], "header only");
    let encoded = encode_chunks(Algorithm::Compress, b"hello", 5, false);
    // Five 9-bit literal codes: 45 bits in 6 bytes.
    assert_eq!(encoded.len(), 3 + 6);
    assert_eq!(unlzw(&encoded).unwrap(), b"hello");
}

#[test]
fn reference_decoder_round_trips_edge_cases() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"a".to_vec(),
        b"abababababababab".to_vec(), // KwKwK codes
        vec![0; 100_000],
        (0..=255u8).cycle().take(300_000).collect(),
        corpus(),
    ];
    for data in cases {
        for chunk in [7, 4096, usize::MAX] {
            let encoded = encode_chunks(Algorithm::Compress, &data, chunk, false);
            let decoded = unlzw(&encoded).expect("decodes");
            assert!(decoded == data, "len {} chunk {chunk}", data.len());
        }
    }
}

/// Runs `cmd args` with `input` on stdin and returns its stdout, or `None`
/// when the tool is missing.
fn run_tool(cmd: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = match Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            println!("note: skipping `{cmd}` check: {err}");
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().expect("tool runs");
    writer.join().expect("writer thread").expect("write stdin");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{cmd} failed: {stderr}");
    Some(output.stdout)
}

#[test]
fn system_tools_decode_our_output() {
    let data = corpus();
    let encoded = encode_chunks(Algorithm::Compress, &data, 65_536, false);
    let mut checked = 0;
    let tools = [
        ("gzip", &["-dc"][..]),
        ("uncompress", &["-c"][..]),
        // ncompress, the reference implementation, when installed.
        ("compress", &["-dc"][..]),
    ];
    for (cmd, args) in tools {
        if let Some(decoded) = run_tool(cmd, args, &encoded) {
            assert!(
                decoded == data,
                "{cmd} output differs ({} vs {} bytes)",
                decoded.len(),
                data.len()
            );
            checked += 1;
        }
    }
    let empty = encode_chunks(Algorithm::Compress, &[], 1, false);
    if let Some(decoded) = run_tool("gzip", &["-dc"], &empty) {
        assert!(decoded.is_empty());
    }
    println!("checked .Z output with {checked} system tool(s)");
}

#[test]
fn reference_decoder_reads_real_compress_output() {
    let data = corpus();
    // `-f` makes ncompress write output even when it is larger than the input.
    match run_tool("compress", &["-cf"], &data) {
        Some(encoded) => assert!(unlzw(&encoded).expect("decodes") == data),
        None => println!("note: ncompress not installed; reference decoder not cross-checked"),
    }
}
