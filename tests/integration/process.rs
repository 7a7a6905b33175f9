//! The `portcullis` binary as operators run it: SIGHUP reloads rules and header mappings (and
//! refuses a bad file), SIGTERM finishes requests in flight within the bound, logs carry request
//! ids and no secrets, in text or JSON.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::common::upstream::header;
use crate::common::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A gateway process; `logs` collects its standard error.
struct Process {
    child: Child,
    url: String,
    logs: Arc<Mutex<Vec<String>>>,
    config: PathBuf,
}

impl Process {
    async fn start(name: &str, config: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("portcullis-proc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("portcullis.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["run", "--config", path.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let mut listen = None;
        eventually("the gateway to listen", || {
            let found = logs.lock().unwrap().iter().find_map(|l| {
                let l = l.replace('"', "");
                l.contains("listening").then(|| {
                    l.split([' ', ',', '}'])
                        .find_map(|w| {
                            w.strip_prefix("listen=")
                                .or_else(|| w.strip_prefix("listen:"))
                        })
                        .map(str::to_string)
                })?
            });
            listen = found;
            let ready = listen.is_some();
            async move { ready }
        })
        .await;
        let url = format!("http://{}", listen.unwrap());
        let p = Self {
            child,
            url,
            logs,
            config: path,
        };
        let readyz = format!("{}/readyz", p.url);
        eventually("readiness", || async {
            matches!(reqwest::get(&readyz).await, Ok(r) if r.status() == 200)
        })
        .await;
        p
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

/// The standard test config, with the gateway's public URL left to the process (it listens on
/// port 0, so redirects use its real address through `public_url` = the loopback origin below).
fn base_config(issuer: &MockIssuer, upstream: &MockUpstream, public: &str, extra: &str) -> String {
    config(public, issuer, &upstream.url, "", extra)
}

fn with_listen(config: String, port: u16) -> String {
    config.replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    )
}

async fn signed_in(browser: &Browser, url: &str) {
    let (response, hops) = browser.walk(&format!("{url}/oauth2/start")).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
}

#[tokio::test]
async fn sighup_reloads_rules_and_headers_and_refuses_bad_files() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| {
        s.user.insert("cognito:groups".into(), json!(["staff"]));
    });
    let upstream = MockUpstream::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let rules = "[[rules]]\npath = \"/admin\"\ngroups = [\"admins\"]\n";
    let gw = Process::start(
        "hup",
        &with_listen(base_config(&issuer, &upstream, &public, rules), port),
    )
    .await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;
    assert_eq!(
        browser.get(&format!("{}/admin", gw.url)).await.status(),
        403
    );

    // New rules and a new header mapping, then SIGHUP.
    let rules = "[[rules]]\npath = \"/admin\"\ngroups = [\"staff\"]\n\n[[headers]]\nname = \"X-Team\"\nclaim = \"name\"\n";
    std::fs::write(
        &gw.config,
        with_listen(base_config(&issuer, &upstream, &public, rules), port),
    )
    .unwrap();
    gw.signal("-HUP");
    eventually("the reload", || async {
        browser.get(&format!("{}/admin", gw.url)).await.status() == 200
    })
    .await;
    let echo: serde_json::Value = browser
        .get(&format!("{}/x", gw.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(header(&echo, "x-team"), Some("Alice Example"));

    // A bad file is refused with a log line; the running configuration stays.
    std::fs::write(&gw.config, "this is = not [valid").unwrap();
    gw.signal("-HUP");
    eventually("the refusal in the log", || {
        let refused = gw
            .logs()
            .iter()
            .any(|l| l.contains("configuration not reloaded"));
        async move { refused }
    })
    .await;
    assert_eq!(
        browser.get(&format!("{}/admin", gw.url)).await.status(),
        200
    );

    // Access log lines: one per request, with a request id, and no secrets.
    let logs = gw.logs();
    let access: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("portcullis::access"))
        .collect();
    assert!(access.len() >= 5, "{logs:#?}");
    assert!(
        access.iter().all(|l| l.contains("request_id=")),
        "{access:#?}"
    );
    let cookies = browser.cookies_for(&gw.url);
    let session = cookies
        .split("; ")
        .find(|c| c.starts_with("portcullis"))
        .unwrap();
    let value = session.split('=').nth(1).unwrap();
    for line in &logs {
        assert!(!line.contains(&value[..40]), "a cookie in the log: {line}");
        assert!(
            !line.contains(CLIENT_SECRET),
            "the client secret in the log: {line}"
        );
        assert!(!line.contains("code="), "a code in the log: {line}");
    }
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_within_the_bound() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = with_listen(base_config(&issuer, &upstream, &public, ""), port);
    let mut gw = Process::start("term", &config).await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;

    // A request in flight when SIGTERM comes...
    let held = {
        let browser = browser.clone();
        let url = format!("{}/hold", gw.url);
        tokio::spawn(async move { browser.get(&url).await.status().as_u16() })
    };
    upstream.arrived.notified().await;
    gw.signal("-TERM");
    // ...new connections are refused...
    eventually("the listener to close", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    })
    .await;
    // ...and the one in flight completes.
    upstream.release.notify_one();
    assert_eq!(held.await.unwrap(), 200);
    assert!(gw.child.wait().await.unwrap().success());

    // With a request that does not end in time (the upstream timeout is 1 s), the bound
    // (200 ms here) ends the wait.
    let config = config.replace(
        &format!("listen = \"127.0.0.1:{port}\""),
        &format!("listen = \"127.0.0.1:{port}\"\nshutdown_timeout = \"200ms\""),
    );
    let mut gw = Process::start("term-bound", &config).await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;
    let url = format!("{}/hold", gw.url);
    let _stuck = tokio::spawn(async move { browser.get(&url).await });
    upstream.arrived.notified().await;
    gw.signal("-TERM");
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), gw.child.wait())
        .await
        .expect("exits within the bound")
        .unwrap();
    assert!(status.success());
    eventually("the warning about dropped requests", || {
        let found = gw.logs().iter().any(|l| l.contains("dropped"));
        async move { found }
    })
    .await;
}

#[tokio::test]
async fn json_logs_carry_the_request_id_sent_upstream() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = format!(
        "{}\n[log]\nformat = \"json\"\n",
        with_listen(base_config(&issuer, &upstream, &public, ""), port)
    );
    let gw = Process::start("json", &config).await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;
    let response = browser
        .client
        .get(format!("{}/traced", gw.url))
        .header("X-Request-Id", "lb-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "lb-7f3a");
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "x-request-id"), Some("lb-7f3a"));
    // A malformed id is replaced.
    let response = browser
        .client
        .get(format!("{}/traced", gw.url))
        .header("X-Request-Id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "bad id with spaces");
    eventually("the access line", || {
        let found = gw.logs().iter().any(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                v["request_id"] == "lb-7f3a" && v["path"] == "/traced" && v["status"] == 200
            })
        });
        async move { found }
    })
    .await;
    for line in gw.logs() {
        assert!(
            serde_json::from_str::<serde_json::Value>(&line).is_ok(),
            "not JSON: {line}"
        );
    }
}

#[tokio::test]
async fn identity_for_the_app_never_reaches_the_logs() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let extra = "\n[assertion]\nenabled = true\n\n[alb]\narn = \"arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/p/0123456789abcdef\"\n\n[log]\nlevel = \"debug\"\n";
    let config = with_listen(base_config(&issuer, &upstream, &public, extra), port).replace(
        "timeout = \"1s\"",
        "timeout = \"1s\"\npass_access_token = true\nauthorization = \"id_token\"\nalb_headers = true",
    );
    let gw = Process::start("tokens", &config).await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;
    let echo: serde_json::Value = browser
        .get(&format!("{}/logged", gw.url))
        .await
        .json()
        .await
        .unwrap();
    let sent: Vec<String> = [
        "x-portcullis-assertion",
        "x-forwarded-access-token",
        "authorization",
        "x-amzn-oidc-data",
        "x-amzn-oidc-accesstoken",
    ]
    .iter()
    .map(|h| {
        header(&echo, h)
            .unwrap_or_else(|| panic!("{h} not sent"))
            .to_string()
    })
    .collect();
    eventually("the access line", || {
        let found = gw
            .logs()
            .iter()
            .any(|l| l.contains("portcullis::access") && l.contains("/logged"));
        async move { found }
    })
    .await;
    // No token or assertion, nor any of their signatures, is in any log line.
    for line in gw.logs() {
        for value in &sent {
            let signature = value.rsplit('.').next().unwrap();
            assert!(
                !line.contains(&signature[..20]),
                "a token in the log: {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_reload_that_would_change_start_only_settings_is_refused() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let without = with_listen(base_config(&issuer, &upstream, &public, ""), port);
    let gw = Process::start("hup-assertion", &without).await;
    let browser = Browser::new();
    signed_in(&browser, &gw.url).await;
    // Assertions on: the key and header are read at start, so the reload is refused whole.
    let with = format!("{without}\n[assertion]\nenabled = true\n");
    std::fs::write(&gw.config, &with).unwrap();
    gw.signal("-HUP");
    eventually("the refusal in the log", || {
        let refused = gw.logs().iter().any(|l| {
            l.contains("configuration not reloaded: [assertion] changed")
                && l.contains("restart to apply it")
        });
        async move { refused }
    })
    .await;
    let echo: serde_json::Value = browser
        .get(&format!("{}/x", gw.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(header(&echo, "x-portcullis-assertion"), None);
    assert!(
        !gw.logs()
            .iter()
            .any(|l| l.contains("configuration reloaded"))
    );
}
