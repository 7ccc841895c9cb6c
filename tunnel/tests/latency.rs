//! Measurement, not a gate (`cargo test -p sluice-tunnel --test latency -- --ignored --nocapture`):
//! single-stream throughput over an emulated 20 ms RTT link, for several mux window budgets.
//! This is the frp lesson: stream bandwidth ≈ window / RTT.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{TOKEN, builder, edge, pki, soon};
use sluice_tunnel::transport::{BoxedIo, Transport};
use sluice_tunnel::{MuxConfig, Protocol, StreamHeader, TlsTransport, client_tls_config};
use sluice_tunnel::{Roots, TunnelError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Copies `from` → `to`, delivering every chunk `delay` after it was read.
fn delay_line<R, W>(mut from: R, mut to: W, delay: Duration)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(8192);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .await
                    .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
}

/// TLS to the edge through a local relay that adds `one_way` latency in each direction.
struct SlowLink {
    addr: String,
    one_way: Duration,
    tls: TlsTransport,
}

#[async_trait]
impl Transport for SlowLink {
    async fn connect(&self) -> sluice_tunnel::Result<BoxedIo> {
        // Relay listener on loopback: the TLS transport dials it, it dials the edge.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let relay = listener.local_addr()?.to_string();
        let (edge_addr, one_way) = (self.addr.clone(), self.one_way);
        tokio::spawn(async move {
            if let (Ok((inbound, _)), Ok(outbound)) =
                (listener.accept().await, TcpStream::connect(edge_addr).await)
            {
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                delay_line(ir, ow, one_way);
                delay_line(or, iw, one_way);
            }
        });
        let tls = self.tls.with_addr(relay);
        tls.connect().await
    }
}

async fn measure(window_mib: usize, one_way: Duration, mib: usize) -> Result<f64, TunnelError> {
    let pki = pki();
    let edge = edge(&pki).await;
    let tls = TlsTransport::new(
        edge.addr.clone(),
        "localhost",
        client_tls_config(&Roots::CaPem(pki.ca_pem.clone().into_bytes()))?,
        Duration::from_secs(10),
    )?;
    let link = SlowLink {
        addr: edge.addr.clone(),
        one_way,
        tls,
    };
    let mux = MuxConfig {
        window_budget: window_mib * 1024 * 1024,
        ..MuxConfig::default()
    };
    let b = builder(&pki, &edge, TOKEN)
        .transport(Arc::new(link))
        .mux_config(mux);
    let client = soon("connect", b.connect()).await?;
    let session = soon("session", edge.server.accept())
        .await
        .expect("session");
    let header = StreamHeader {
        endpoint_url: "tcp://edge:20003".into(),
        client_addr: "203.0.113.1:1".parse().expect("addr"),
        protocol: Protocol::Tcp,
        tls_terminated: false,
    };
    let reader = tokio::spawn(async move {
        let (_, mut s) = client.accept().await.expect("accept");
        let mut sink = tokio::io::sink();
        tokio::io::copy(&mut s, &mut sink).await
    });
    let block = vec![7u8; 1024 * 1024];
    let started = Instant::now();
    let mut s = session.open_stream(&header).await?;
    for _ in 0..mib {
        s.write_all(&block).await?;
    }
    s.shutdown().await?;
    let n = soon("reader", reader).await.expect("join")?;
    assert_eq!(n, (mib * 1024 * 1024) as u64);
    Ok(mib as f64 / started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn window_budget_over_20ms_rtt() {
    for window in [0usize, 4, 32] {
        let rate = measure(window, Duration::from_millis(10), 64)
            .await
            .expect("transfer");
        println!("20 ms RTT, window budget {window:>2} MiB: {rate:.1} MiB/s");
    }
}
