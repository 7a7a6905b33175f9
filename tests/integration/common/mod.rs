//! Test harness: an in-process mock Cognito issuer, an echoing upstream, a gateway between them,
//! all on loopback port 0, and a cookie-keeping browser that walks redirects one by one.

pub mod issuer;
pub mod nginx;
pub mod redis;
pub mod upstream;
pub mod webdriver;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use issuer::MockIssuer;
pub use upstream::MockUpstream;

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const SESSION_SECRET: &str = "an-integration-test-session-secret-of-48-bytes!!";

/// Polls `check` until it returns true, failing after 10 s. Used to wait for background work
/// (issuer discovery) whose completion has no other observable signal.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A loopback port nothing listens on now (for processes that must be told their port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running gateway.
pub struct Gateway {
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The configuration tests start from, with more `[oidc]` and `[session]` keys (TOML tables
/// cannot be reopened, so they are placed inside).
pub fn config(
    gateway_url: &str,
    issuer: &MockIssuer,
    upstream: &str,
    oidc_extra: &str,
    session_extra: &str,
) -> String {
    let app = format!("[upstream]\nurl = \"{upstream}\"\ntimeout = \"1s\"\n");
    config_for(gateway_url, issuer, &app, oidc_extra, session_extra)
}

/// Like [`config`], with `apps` (an `[upstream]` section, or `[[routes]]`) for the apps.
pub fn config_for(
    gateway_url: &str,
    issuer: &MockIssuer,
    apps: &str,
    oidc_extra: &str,
    session_extra: &str,
) -> String {
    let secret = if issuer.confidential() {
        format!("client_secret = \"{CLIENT_SECRET}\"")
    } else {
        String::new()
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
public_url = "{gateway_url}"

{apps}

[oidc]
issuer = "{issuer_url}"
client_id = "{CLIENT_ID}"
{secret}
{oidc_extra}

[[headers]]
name = "X-Roles"
claim = "custom:roles"
split = "|"

[session]
secret = "{SESSION_SECRET}"
{session_extra}
"#,
        issuer_url = issuer.issuer_url(),
    )
}

impl Gateway {
    /// Starts a gateway in front of `upstream`, signing in at `issuer`, and waits until it is ready.
    pub async fn start(issuer: &MockIssuer, upstream: &str) -> Self {
        Self::start_with(issuer, upstream, "", "").await
    }

    /// Like [`start`](Self::start) with extra `[oidc]` and `[session]` keys.
    pub async fn start_with(
        issuer: &MockIssuer,
        upstream: &str,
        oidc_extra: &str,
        session_extra: &str,
    ) -> Self {
        let gw = Self::spawn(issuer, upstream, oidc_extra, session_extra).await;
        gw.wait_ready().await;
        gw
    }

    /// Starts a gateway without waiting for it to be ready.
    pub async fn spawn(
        issuer: &MockIssuer,
        upstream: &str,
        oidc_extra: &str,
        session_extra: &str,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let toml = config(&url, issuer, upstream, oidc_extra, session_extra);
        Self::serve(listener, &toml)
    }

    /// Serves a gateway with the configuration `toml` on `listener` (not waiting for readiness).
    pub fn serve(listener: TcpListener, toml: &str) -> Self {
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let settings = portcullis::config::from_toml_str(toml).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            portcullis::serve(listener, settings, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            addr,
            stop: Some(stop),
        }
    }

    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.url);
        eventually("gateway readiness", || {
            let client = client.clone();
            let url = url.clone();
            async move { matches!(client.get(&url).send().await, Ok(r) if r.status() == 200) }
        })
        .await;
    }
}

/// A browser: keeps cookies, sends `Accept: text/html`, follows redirects itself so tests can
/// see every hop.
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

/// One hop of a walk: the URL requested and the response status.
#[derive(Debug)]
pub struct Hop {
    pub url: String,
    #[allow(dead_code)] // Read through `Debug`, in failed assertions' messages.
    pub status: u16,
    pub location: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self::resolving(&[], "127.0.0.1:0".parse().unwrap())
    }

    /// A browser for which each of `names` is at `addr` (host names a gateway routes by, all on
    /// loopback).
    pub fn resolving(names: &[&str], addr: SocketAddr) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            "text/html,application/xhtml+xml,*/*;q=0.8".parse().unwrap(),
        );
        let mut builder = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers);
        for name in names {
            builder = builder.resolve(name, addr);
        }
        let client = builder.build().unwrap();
        Self { client, jar }
    }

    /// GETs `url` and follows redirects (at most 10); returns the final response and the hops.
    pub async fn walk(&self, url: &str) -> (reqwest::Response, Vec<Hop>) {
        let mut url = url.to_string();
        let mut hops = Vec::new();
        for _ in 0..10 {
            let response = self.client.get(&url).send().await.unwrap();
            let location = response
                .headers()
                .get(LOCATION)
                .map(|l| l.to_str().unwrap().to_string());
            hops.push(Hop {
                url: url.clone(),
                status: response.status().as_u16(),
                location: location.clone(),
            });
            match location {
                Some(next) if response.status().is_redirection() => {
                    url = reqwest::Url::parse(&url)
                        .unwrap()
                        .join(&next)
                        .unwrap()
                        .to_string();
                }
                _ => return (response, hops),
            }
        }
        panic!("redirect loop: {hops:#?}");
    }

    /// Signs out at `gateway` (`query` is `?rd=...` or empty) as the sign-out button does: a
    /// POST from the gateway's own origin. The response is not followed.
    pub async fn sign_out(&self, gateway: &str, query: &str) -> reqwest::Response {
        self.client
            .post(format!("{gateway}/oauth2/sign_out{query}"))
            .header("Origin", gateway)
            .send()
            .await
            .unwrap()
    }

    /// GETs `url` once, without following redirects.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// The cookie header this browser would send to `url`.
    pub fn cookies_for(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&reqwest::Url::parse(url).unwrap())
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// Sends `request` and reads its answer as JSON (an echo of the mock upstream, most often).
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A signed-in browser: walks `gateway/` through the whole sign-in and returns the upstream's echo.
pub async fn sign_in(browser: &Browser, gateway: &Gateway) -> serde_json::Value {
    let (response, hops) = browser.walk(&format!("{}/", gateway.url)).await;
    assert_eq!(response.status(), 200, "sign-in failed: {hops:#?}");
    response.json().await.unwrap()
}

/// The full stack with defaults: issuer (confidential client), upstream, gateway.
pub async fn stack() -> (MockIssuer, MockUpstream, Gateway) {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    (issuer, upstream, gateway)
}

/// Sends a request with `target` exactly as written (HTTP clients normalise paths, which would
/// hide what the gateway itself does with them) and returns the status and the body.
pub async fn raw_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
