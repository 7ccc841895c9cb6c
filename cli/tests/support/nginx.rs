//! nginx as a real upstream: started in the foreground (`daemon off; master_process off;`)
//! from a config written into its own folder (pid, logs and temp paths inside it), on a free
//! loopback port, and killed on drop. A machine without nginx fails the test with a message
//! saying to install it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, scratch_dir};

/// A running nginx, killed on drop.
pub struct Nginx {
    child: Child,
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    /// Its folder (`-p` prefix): config, logs, temp files and the document root `html/`.
    pub dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The nginx binary: on `PATH`, else in the usual sbin folders.
fn nginx_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed: this test runs nginx as a real upstream; install the \
                 `nginx` package (e.g. `apt-get install -y nginx`)"
            )
        })
}

impl Nginx {
    /// Starts nginx with `server` (the inside of an `http { server { … } }` block, `{PORT}`
    /// replaced by its port) and the files `docs` (name, content) in its document root.
    pub async fn start(server: &str, docs: &[(&str, &[u8])]) -> Nginx {
        let bin = nginx_binary();
        let dir = scratch_dir();
        let port = free_port();
        let html = dir.join("html");
        for sub in ["logs", "tmp", "html"] {
            std::fs::create_dir_all(dir.join(sub)).expect("nginx folder");
        }
        for (name, content) in docs {
            std::fs::write(html.join(name), content).expect("nginx document");
        }
        let user = if is_root() { "user root;\n" } else { "" };
        let d = dir.display();
        let conf = format!(
            "{user}daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
             error_log {d}/logs/error.log warn;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/logs/access.log;\n  \
             client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n  \
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  \
             scgi_temp_path {d}/tmp/scgi;\n  default_type application/octet-stream;\n  \
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/html;\n{server}\n  }}\n}}\n",
            server = server.replace("{PORT}", &port.to_string()),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx config");
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
        let child = Command::new(&bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let mut nginx = Nginx { child, port, dir };
        for _ in 0..200 {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited early: {status}\n{}", nginx.logs());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return nginx;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "nginx did not listen on {port} within 10 s\n{}",
            nginx.logs()
        );
    }

    /// Its standard error and error log.
    pub fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(&self.dir.join("stderr.log")),
            read(&self.dir.join("logs/error.log"))
        )
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
