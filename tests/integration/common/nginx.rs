//! A real nginx (Debian package, installed by `.ci/run`) in front of the mock upstream, asking
//! the gateway through `auth_request` and sending browsers to sign in on 401: the documented
//! example `config/nginx.conf`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::eventually;

/// A running nginx; stopped and its directory removed on drop.
pub struct Nginx {
    dir: PathBuf,
    child: Child,
}

/// The documented example, `config/nginx.conf`, pointed at this test's ports.
pub fn site(port: u16, gateway: &str, app: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/nginx.conf");
    let text = std::fs::read_to_string(path).unwrap();
    for needle in [
        "listen 80;",
        "http://127.0.0.1:4180",
        "http://127.0.0.1:8080",
    ] {
        assert!(
            text.contains(needle),
            "config/nginx.conf no longer has {needle:?}"
        );
    }
    text.replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("http://127.0.0.1:4180", gateway)
        .replace("http://127.0.0.1:8080", app)
}

impl Nginx {
    /// Starts nginx on a free port with `site` (a `server` block) inside a minimal `http` block.
    pub async fn start(port: u16, site: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("portcullis-nginx-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    {site}
}}
"#
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        // Debian installs it in /usr/sbin, which is not on every PATH.
        let binary = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|b| !b.starts_with('/') || std::path::Path::new(b).exists())
            .unwrap_or("nginx");
        let child = Command::new(binary)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx must be installed (apt-get install -y nginx-light; .ci/run does it)");
        let nginx = Self { dir, child };
        eventually("nginx to accept connections", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
