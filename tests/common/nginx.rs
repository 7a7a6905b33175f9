//! A real nginx (Debian package, installed by `.ci/run`) in front of the mock upstream, asking
//! the gateway through `auth_request` and sending browsers to sign in on 401: the configuration
//! documented in README.md.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::eventually;

pub struct Nginx {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

/// The nginx site of the README's example, with the gateway and the app on loopback ports.
pub fn site(port: u16, gateway: &str, app: &str) -> String {
    format!(
        r#"
server {{
    listen 127.0.0.1:{port};

    # Session cookies take two or more 3.8 KB chunks: room for them in requests and in the
    # gateway's answers (the defaults, 8 KB and 4 KB, are too small).
    large_client_header_buffers 4 32k;
    proxy_buffer_size 32k;
    proxy_buffers 8 32k;

    # The gateway's own routes: sign-in, callback, sign-out.
    location /oauth2/ {{
        proxy_pass {gateway};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}

    # The subrequest asking the gateway about each request.
    location = /oauth2/auth {{
        internal;
        proxy_pass {gateway};
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Host $host;
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
    }}

    location / {{
        auth_request /oauth2/auth;
        error_page 401 = @sign_in;

        auth_request_set $user $upstream_http_x_auth_request_user;
        auth_request_set $email $upstream_http_x_auth_request_email;
        auth_request_set $groups $upstream_http_x_auth_request_groups;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;

        proxy_set_header X-User $user;
        proxy_set_header X-Email $email;
        proxy_set_header X-Groups $groups;
        proxy_pass {app};
    }}

    location @sign_in {{
        return 302 /oauth2/start?rd=$request_uri;
    }}
}}
"#
    )
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
        let child = Command::new("nginx")
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
        let nginx = Self { port, dir, child };
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
