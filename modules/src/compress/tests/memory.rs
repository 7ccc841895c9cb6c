//! Streams a large body through gzip and checks that output per call and
//! process memory stay bounded. Each check runs in a child process so that
//! other tests running in parallel do not disturb the RSS measurement.
//!
//! The 64 MiB check runs by default. The 1 GiB check is ignored to keep CI
//! fast; run it with
//! `cargo test -p sluice-modules --lib gzip_streams_1gib -- --ignored --nocapture`.

use std::io::{self, Write};
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;

use super::{Rng, text};
use crate::compress::{Algorithm, encoder};

const CHILD_ENV: &str = "SLUICE_COMPRESS_MEMORY_CHILD";
const CHUNK: usize = 64 * 1024;
/// Deflate never expands a chunk by more than a few bytes per stored block.
const MAX_OUT_PER_CALL: usize = CHUNK + 4096;
const MAX_RSS_GROWTH: u64 = 64 << 20;

/// Resident set size in bytes, if `/proc` is available.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) this process has used, in seconds, if known.
/// Wall time is unreliable on a shared machine.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of those, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Counts decoded bytes without keeping them.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn gzip_streams_64mib_in_bounded_memory() {
    stream_gzip("gzip_streams_64mib_in_bounded_memory", 64 << 20, false);
}

#[test]
#[ignore = "slow (1 GiB); run with --ignored"]
fn gzip_streams_1gib_in_bounded_memory() {
    stream_gzip("gzip_streams_1gib_in_bounded_memory", 1 << 30, true);
}

/// Streams `total` bytes through gzip in a child process running test `test`
/// (`ignored` says whether that test is `#[ignore]`d).
fn stream_gzip(test: &str, total: usize, ignored: bool) {
    if std::env::var_os(CHILD_ENV).is_none() {
        let path = module_path!();
        let name = format!("{}::{test}", &path[path.find("::").map_or(0, |i| i + 2)..]);
        let exe = std::env::current_exe().expect("test binary path");
        let output = Command::new(exe)
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .args(ignored.then_some("--ignored"))
            .env(CHILD_ENV, "1")
            .output()
            .expect("spawn child test process");
        print!("{}", String::from_utf8_lossy(&output.stdout));
        assert!(
            output.status.success(),
            "child failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "child ran the test"
        );
        return;
    }

    let started = Instant::now();
    let corpus = text(1 << 20, 42);
    let mut rng = Rng::new(43);
    let mut enc = encoder(Algorithm::Gzip);
    let mut dec = flate2::write::GzDecoder::new(Counter(0));
    let (mut fed, mut emitted, mut max_out) = (0usize, 0usize, 0usize);
    let mut baseline = None;
    let mut peak = 0;
    while fed < total {
        let offset = rng.below(corpus.len() - CHUNK);
        let chunk = Bytes::copy_from_slice(&corpus[offset..offset + CHUNK]);
        fed += CHUNK;
        let out = enc.transform(chunk, fed >= total).expect("encode");
        assert!(
            out.len() <= MAX_OUT_PER_CALL,
            "{} bytes out in one call",
            out.len()
        );
        max_out = max_out.max(out.len());
        emitted += out.len();
        dec.write_all(&out).expect("output decodes");
        let calls = fed / CHUNK;
        if calls == 16 {
            baseline = rss_bytes();
        } else if calls.is_multiple_of(256) {
            peak = peak.max(rss_bytes().unwrap_or(0));
        }
    }
    let decoded = dec.finish().expect("gzip trailer verifies").0;
    assert_eq!(decoded, total as u64);
    let growth = baseline.map(|b| peak.saturating_sub(b));
    println!(
        "gzip {} MiB: {:.1} s wall, {:.1} s CPU, {emitted} bytes out ({:.1}%), max {max_out} bytes per call, \
         RSS baseline {:?} MiB, growth {:?} KiB",
        total >> 20,
        started.elapsed().as_secs_f64(),
        cpu_seconds().unwrap_or(f64::NAN),
        emitted as f64 * 100.0 / total as f64,
        baseline.map(|b| b >> 20),
        growth.map(|g| g >> 10),
    );
    match growth {
        Some(growth) => assert!(growth < MAX_RSS_GROWTH, "RSS grew by {growth} bytes"),
        None => println!("note: /proc/self/status unavailable; RSS not checked"),
    }
}
