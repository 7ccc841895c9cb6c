//! Bulk transfer through one tunnel stream: 256 MiB edge → agent, verified by checksum.
//! Prints the throughput; asserts only completion and integrity.

mod common;

use std::time::Instant;

use common::{TOKEN, builder, edge, pki, soon};
use sluice_tunnel::{MuxConfig, Protocol, StreamHeader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BLOCK: usize = 1024 * 1024;
const BLOCKS: u64 = 256;

/// FNV-1a over little-endian u64 words, folded into `state`.
fn fold(mut state: u64, block: &[u8]) -> u64 {
    for w in block.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        state ^= u64::from_le_bytes(word);
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
    }
    state
}

fn base_block() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(BLOCK);
    while out.len() < BLOCK {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn mux_config() -> MuxConfig {
    let mut cfg = MuxConfig::default();
    if let Some(mib) = std::env::var("SLUICE_TUNNEL_WINDOW_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        cfg.window_budget = mib * 1024 * 1024;
    }
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarter_gib_in_one_stream() {
    let pki = pki();
    let edge = edge(&pki).await;
    let b = builder(&pki, &edge, TOKEN).mux_config(mux_config());
    let client = soon("connect", b.connect()).await.expect("connect");
    let session = soon("edge session", edge.server.accept())
        .await
        .expect("session");
    let header = StreamHeader {
        endpoint_url: "tcp://edge:20002".into(),
        client_addr: "203.0.113.9:4000".parse().expect("addr"),
        protocol: Protocol::Tcp,
        tls_terminated: false,
    };

    let receiver = tokio::spawn(async move {
        let (_, mut s) = client.accept().await.expect("accept");
        let mut block = vec![0u8; BLOCK];
        let (mut sum, mut total) = (0xcbf2_9ce4_8422_2325u64, 0u64);
        loop {
            match s.read_exact(&mut block).await {
                Ok(_) => {
                    sum = fold(sum, &block);
                    total += BLOCK as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("read failed: {e}"),
            }
        }
        s.write_all(&sum.to_le_bytes())
            .await
            .expect("send checksum");
        s.shutdown().await.expect("shutdown");
        (sum, total)
    });

    let base = base_block();
    let started = Instant::now();
    let mut s = session.open_stream(&header).await.expect("open");
    let mut sum = 0xcbf2_9ce4_8422_2325u64;
    let mut block = base.clone();
    for i in 0..BLOCKS {
        block[..8].copy_from_slice(&i.to_le_bytes());
        sum = fold(sum, &block);
        soon("write", s.write_all(&block)).await.expect("write");
    }
    s.shutdown().await.expect("half-close");
    let mut echoed = [0u8; 8];
    soon("checksum back", s.read_exact(&mut echoed))
        .await
        .expect("checksum");
    let secs = started.elapsed().as_secs_f64();
    let (their_sum, total) = soon("receiver", receiver).await.expect("receiver");
    assert_eq!(total, BLOCKS * BLOCK as u64);
    assert_eq!(their_sum, sum);
    assert_eq!(u64::from_le_bytes(echoed), sum);
    let mib = (BLOCKS * BLOCK as u64) as f64 / (1024.0 * 1024.0);
    println!(
        "single stream: {mib:.0} MiB in {secs:.2} s = {:.1} MiB/s (window budget {} MiB)",
        mib / secs,
        mux_config().window_budget / (1024 * 1024)
    );
}
