//! Measures what flushing after every chunk costs in compressed size.
//! Run with `cargo test flush_cost -- --ignored --nocapture`.

use std::time::Instant;

use super::{encode_chunks, text};
use crate::compress::Algorithm;

#[test]
#[ignore = "measurement report, not a check"]
fn flush_cost_report() {
    let data = text(256 * 1024, 21);
    println!(
        "{} bytes of text; size with a flush per chunk vs one chunk",
        data.len()
    );
    for alg in Algorithm::ALL {
        let whole = encode_chunks(alg, &data, data.len(), false).len();
        let mut line = format!(
            "{:>8}: whole {whole:>6} B ({:.1}%)",
            alg.id(),
            pct(whole, data.len())
        );
        for chunk in [16, 64, 256, 1024, 4096, 16_384, 65_536] {
            let started = Instant::now();
            let size = encode_chunks(alg, &data, chunk, false).len();
            line += &format!(
                " | {chunk}: +{:.0}% {:.0}ms",
                pct(size, whole) - 100.0,
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        println!("{line}");
    }
}

fn pct(a: usize, b: usize) -> f64 {
    a as f64 * 100.0 / b as f64
}
