//! `sluice-loadgen`: sends HTTP/1.1 GETs at a fixed rate over a fixed set of keep-alive
//! connections and prints latency percentiles as one JSON object.
//!
//! bench/ uses it for the fixed-rate scenario (what wrk2 or `oha -q` do) so that a fresh machine
//! does not compile a load tool with a few hundred dependencies. Latency is counted from the
//! moment a request was due: when every connection is busy, the wait for a free one is part
//! of the latency (no coordinated omission). When the generator is on time, it counts from
//! when it woke up, so its own timer slack is not charged to the server.

mod percentiles;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Fixed-rate HTTP/1.1 load with latency percentiles (JSON on stdout)")]
struct Args {
    /// Address to connect to (loopback only: this is a benchmark tool).
    #[arg(long)]
    addr: std::net::SocketAddr,
    /// Host header to send.
    #[arg(long)]
    host: String,
    /// Path to request.
    #[arg(long, default_value = "/")]
    path: String,
    /// Requests per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds to run (the number of requests is rate × duration).
    #[arg(long, default_value_t = 8)]
    duration: u32,
    /// Keep-alive connections opened before the run.
    #[arg(long, default_value_t = 64)]
    connections: usize,
}

/// One finished request: how long it took, and whether it got a 2xx with its whole body.
struct Sample {
    latency: Duration,
    ok: bool,
}

async fn connect(args: &Args) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let tcp = TcpStream::connect(args.addr)
        .await
        .with_context(|| format!("connecting to {}", args.addr))?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Longest wait for one response, or for a connection to come free.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Most requests in one run (the samples are kept in memory).
const MAX_REQUESTS: u64 = 10_000_000;

/// Sends one GET and reads the whole body; `Ok(true)` on a 2xx.
async fn get(sender: &mut SendRequest<Empty<Bytes>>, args: &Args) -> anyhow::Result<bool> {
    tokio::time::timeout(TIMEOUT, exchange(sender, args))
        .await
        .context("no response in 10 s")?
}

async fn exchange(sender: &mut SendRequest<Empty<Bytes>>, args: &Args) -> anyhow::Result<bool> {
    sender.ready().await?;
    let req = http::Request::get(args.path.as_str())
        .header(http::header::HOST, args.host.as_str())
        .body(Empty::new())?;
    let res = sender.send_request(req).await?;
    let ok = res.status().is_success();
    res.into_body().collect().await?;
    Ok(ok)
}

async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    if !args.addr.ip().is_loopback() {
        bail!("{} is not a loopback address", args.addr);
    }
    if args.rate == 0 || args.duration == 0 || args.connections == 0 {
        bail!("--rate, --duration and --connections must be at least 1");
    }
    let total = u64::from(args.rate) * u64::from(args.duration);
    if total > MAX_REQUESTS {
        bail!("rate × duration is {total}: at most {MAX_REQUESTS} requests per run");
    }
    let args = std::sync::Arc::new(args);
    // Idle connections wait here; a request takes one and gives it back when done.
    let (idle_tx, mut idle_rx) = mpsc::channel(args.connections);
    for _ in 0..args.connections {
        idle_tx.send(connect(&args).await?).await?;
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Sample>();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let started = Instant::now();
    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<Instant>();
    // Tokio's timer wakes on whole milliseconds; the schedule runs on its own thread with the
    // OS's finer sleep, so a 1 ms slot is not charged up to 1 ms of timer slack.
    let scheduler = std::thread::spawn(move || schedule(started, interval, total, due_tx));
    while let Some(start) = due_rx.recv().await {
        let mut sender = match tokio::time::timeout(TIMEOUT, idle_rx.recv()).await {
            Ok(Some(sender)) => sender,
            _ => bail!("no connection came free in 10 s (they failed or the server hangs)"),
        };
        let (args, idle_tx, done_tx) = (args.clone(), idle_tx.clone(), done_tx.clone());
        tokio::spawn(async move {
            let result = get(&mut sender, &args).await;
            let latency = start.elapsed();
            let ok = matches!(result, Ok(true));
            if result.is_err() {
                // A broken connection is replaced so the set stays the same size.
                match connect(&args).await {
                    Ok(fresh) => sender = fresh,
                    Err(_) => return drop(done_tx.send(Sample { latency, ok })),
                }
            }
            let _ = done_tx.send(Sample { latency, ok });
            let _ = idle_tx.send(sender).await;
        });
    }
    drop(done_tx);
    if scheduler.join().is_err() {
        bail!("the scheduler thread panicked");
    }
    let mut samples = Vec::with_capacity(total as usize);
    while let Some(s) = done_rx.recv().await {
        samples.push(s);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let errors = samples.iter().filter(|s| !s.ok).count();
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let p = percentiles::Percentiles::new(&mut latencies);
    Ok(serde_json::json!({
        "requests": samples.len(),
        "errors": errors,
        "achieved_rps": samples.len() as f64 / elapsed,
        "p50_ms": p.at(0.50),
        "p99_ms": p.at(0.99),
        "p999_ms": p.at(0.999),
        "max_ms": p.at(1.0),
    }))
}

/// Sends the start time of each of `total` requests, one every `interval`. A request normally
/// starts when the thread wakes for it; if the thread itself runs more than a slot late (an
/// overloaded machine), the request counts from when it was due instead.
fn schedule(
    started: Instant,
    interval: Duration,
    total: u64,
    due_tx: mpsc::UnboundedSender<Instant>,
) {
    for i in 0..total {
        let due = started + interval.mul_f64(i as f64);
        let now = Instant::now();
        let start = if now < due {
            std::thread::sleep(due - now);
            Instant::now()
        } else if now - due > interval {
            due
        } else {
            now
        };
        if due_tx.send(start).is_err() {
            return;
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(args))?;
    println!("{report}");
    Ok(())
}
