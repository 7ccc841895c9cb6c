//! `sluice tcp` and `sluice tls` against a real edge: PostgreSQL (`psql`) through a TCP
//! endpoint, and TLS passed through unopened (`openssl s_client` sees the upstream's
//! certificate).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use support::agent::{AgentProc, TunnelEdge, host_port, poll};
use support::{free_port, scratch_dir};
use tokio::io::AsyncWriteExt;

const INSTALL: &str = "PostgreSQL is needed by this test: install the Debian packages `postgresql` and `postgresql-client` (apt-get install postgresql postgresql-client)";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The folder holding `initdb` and `postgres`.
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|_| panic!("{INSTALL}"))
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").exists() && d.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| panic!("{INSTALL}"))
}

/// `program args…`, run as user `postgres` when we are root.
fn pg_command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A throwaway PostgreSQL server on a loopback port, stopped on drop.
struct Postgres {
    child: Child,
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "10", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Postgres {
    async fn start() -> Postgres {
        let bin = pg_bin();
        assert!(
            Command::new("psql").arg("--version").output().is_ok(),
            "{INSTALL}"
        );
        let dir = scratch_dir();
        let data = dir.join("data");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown the data folder to postgres");
        }
        let out = pg_command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = pg_command(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(&dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let pg = Postgres {
            child,
            bin,
            data,
            dir,
            port,
        };
        poll("postgres to listen", Duration::from_secs(30), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        pg
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_through_a_tcp_endpoint() {
    let pg = Postgres::start().await;
    let edge = TunnelEdge::start(true).await;
    let mut args = vec!["tcp".to_owned(), format!("127.0.0.1:{}", pg.port)];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    let (url, upstream) = agent.forwarding(1).await.remove(0);
    assert!(url.starts_with("tcp://"), "{url}");
    assert_eq!(upstream, format!("tcp://127.0.0.1:{}", pg.port));
    let (_, port) = host_port(&url);
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tA",
            "-c",
            "select 40+2",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap_or_else(|_| panic!("{INSTALL}"));
    assert!(
        out.status.success(),
        "psql failed: {}\nagent: {}",
        String::from_utf8_lossy(&out.stderr),
        agent.stderr()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

/// A TLS server with its own certificate (subject CN `sluice-tls-upstream`) that writes one
/// line per connection.
async fn tls_upstream(name: &str) -> u16 {
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sluice-tls-upstream");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind tls upstream");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(stream).await {
                    let _ = tls.write_all(b"hello from the tls upstream\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_shows_the_upstream_certificate() {
    let name = "tls-pass.localhost";
    let upstream = tls_upstream(name).await;
    let edge = TunnelEdge::start(false).await;
    let mut args = vec![
        "tls".to_owned(),
        format!("127.0.0.1:{upstream}"),
        "--url".into(),
        format!("tls://{name}"),
    ];
    args.extend(edge.agent_flags());
    let mut agent = AgentProc::spawn(&args);
    let (url, _) = agent.forwarding(1).await.remove(0);
    assert!(url.starts_with(&format!("tls://{name}")), "{url}");
    let out = Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", edge.https))
        .args(["-servername", name])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl (install the `openssl` package)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CN = sluice-tls-upstream") || text.contains("CN=sluice-tls-upstream"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
