//! `[server]`, `[log]` and `[metrics]`: where the gateway listens, the origin users see, its
//! connections, and what it tells operators.

use std::net::SocketAddr;
use std::time::Duration;

use figment::Figment;
use serde::Deserialize;
use url::Url;

use super::read::{duration, lenient_bool, lenient_string, lenient_usize, required, section};
use crate::oidc::CALLBACK_PATH;

/// Default listen address: all interfaces, the port oauth2-proxy users already know.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:4180";

/// Default time a client connection may stay open with nothing moving on it, and may take to
/// send a request's headers. Longer than the idle timeout of load balancers in front (60 s
/// for an AWS ALB): they must be the ones to close an idle connection, never the gateway while
/// they reuse it.
pub const DEFAULT_IDLE_TIMEOUT_CONNECTION: Duration = Duration::from_secs(75);

/// Default time a client has to send the whole body of a request the gateway reads itself.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on client connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default bound on finishing requests in flight at shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// Default trusted proxies: loopback only (a sidecar's neighbours).
pub const DEFAULT_TRUSTED_PROXIES: [&str; 2] = ["127.0.0.0/8", "::1/128"];

/// Most `server.max_connections`: far more than a process has file descriptors for.
pub(super) const MAX_MAX_CONNECTIONS: usize = 1 << 24;

/// `[log]`: how the gateway logs.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Default filter (`RUST_LOG` overrides it), e.g. `info` or `portcullis=debug`.
    pub level: String,
    /// One access-log line per request.
    pub access: bool,
}

/// `[server]`: where the gateway listens and the origin users see.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `public_url`, parsed: an origin (`https://app.example.com/`).
    pub public_url: Url,
    /// The external origin, without a trailing slash, e.g. `https://app.example.com`.
    pub public_origin: String,
    /// Host (and port when not the default) of `public_origin`, sent as `X-Forwarded-Host`.
    pub public_host: String,
    /// `https` or `http`, sent as `X-Forwarded-Proto`.
    pub public_scheme: String,
    /// Peers whose `X-Forwarded-Method` / `X-Forwarded-Uri` / `X-Original-*` headers are believed
    /// at the forward-auth endpoint.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// On SIGTERM, how long requests in flight may take before their connections are dropped.
    pub shutdown_timeout: Duration,
    /// Threads serving requests; `None` for one per CPU.
    pub worker_threads: Option<usize>,
    /// A client connection on which nothing has moved for this long is closed (HTTP/1.1
    /// keep-alive and HTTP/2 alike); it is also the time allowed for a request's headers.
    pub idle_timeout: Duration,
    /// Time a client has to send the whole body of a request the gateway reads itself
    /// (back-channel logout); a body trickled a byte at a time does not hold a connection.
    pub body_timeout: Duration,
    /// Client connections open at once; past this, new ones wait to be accepted.
    pub max_connections: usize,
}

impl ServerSettings {
    /// Whether `peer` is a trusted proxy.
    pub fn trusts(&self, peer: std::net::IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

impl ServerSettings {
    /// The redirect URI registered at the issuer.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.public_origin, CALLBACK_PATH)
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.public_scheme == "https"
    }
}

#[derive(Default, Deserialize)]
pub(super) struct RawServer {
    #[serde(default, deserialize_with = "lenient_string")]
    listen: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    shutdown_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_usize")]
    worker_threads: Option<usize>,
    #[serde(default, deserialize_with = "lenient_string")]
    idle_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    body_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_usize")]
    max_connections: Option<usize>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawLog {
    #[serde(default, deserialize_with = "lenient_string")]
    format: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    level: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    access: Option<bool>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawMetrics {
    #[serde(default, deserialize_with = "lenient_string")]
    listen: Option<String>,
}

pub(super) fn validate_server(raw: RawServer, errors: &mut Vec<String>) -> Option<ServerSettings> {
    let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen = match listen_text.trim().parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(format!(
                "server.listen: {listen_text:?} is not an address like \"0.0.0.0:4180\""
            ));
            None
        }
    };
    let public = required(raw.public_url, "server.public_url", errors).and_then(|text| {
        match Url::parse(&text) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                errors.push("server.public_url: must be an http or https URL".to_string());
                None
            }
            Ok(url) if url.path() != "/" || url.query().is_some() || url.fragment().is_some() => {
                errors.push(format!(
                    "server.public_url: must be an origin without a path, e.g. {}",
                    url.origin().ascii_serialization()
                ));
                None
            }
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                errors.push("server.public_url: must not contain credentials".to_string());
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                errors.push(format!("server.public_url: {e}"));
                None
            }
        }
    });
    let trusted_proxies = raw
        .trusted_proxies
        .unwrap_or_else(|| {
            DEFAULT_TRUSTED_PROXIES
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
        .iter()
        .filter_map(|text| {
            // A bare address is a network of one.
            let parsed = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(net) => Some(net),
                Err(_) => {
                    errors.push(format!(
                        "server.trusted_proxies: {text:?} is not a CIDR like \"10.0.0.0/8\""
                    ));
                    None
                }
            }
        })
        .collect();
    let shutdown_timeout = duration(
        raw.shutdown_timeout,
        "server.shutdown_timeout",
        DEFAULT_SHUTDOWN_TIMEOUT,
        errors,
    );
    let idle_timeout = duration(
        raw.idle_timeout,
        "server.idle_timeout",
        DEFAULT_IDLE_TIMEOUT_CONNECTION,
        errors,
    );
    let body_timeout = duration(
        raw.body_timeout,
        "server.body_timeout",
        DEFAULT_BODY_TIMEOUT,
        errors,
    );
    let max_connections = raw.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if !(1..=MAX_MAX_CONNECTIONS).contains(&max_connections) {
        errors.push(format!(
            "server.max_connections: must be between 1 and {MAX_MAX_CONNECTIONS}"
        ));
    }
    let (listen, public) = (listen?, public?);
    let public_host = match (public.host_str(), public.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    };
    Some(ServerSettings {
        listen,
        public_origin: public.origin().ascii_serialization(),
        public_url: public.clone(),
        public_host,
        public_scheme: public.scheme().to_string(),
        trusted_proxies,
        shutdown_timeout,
        worker_threads: raw.worker_threads.filter(|&n| n > 0),
        idle_timeout,
        body_timeout,
        max_connections,
    })
}

pub(super) fn validate_log(raw: RawLog, errors: &mut Vec<String>) -> LogSettings {
    let json = match raw.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            errors.push(format!("log.format: {other:?} is not \"text\" or \"json\""));
            false
        }
    };
    let level = raw.level.unwrap_or_else(|| "info".to_string());
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        errors.push(format!(
            "log.level: {level:?} is not a log filter like \"info\""
        ));
    }
    LogSettings {
        json,
        level,
        access: raw.access.unwrap_or(true),
    }
}

/// `[server]`, checked.
pub(super) fn read(figment: &Figment, errors: &mut Vec<String>) -> Option<ServerSettings> {
    validate_server(section(figment, "server", errors), errors)
}

/// `[log]`, checked.
pub(super) fn read_log(figment: &Figment, errors: &mut Vec<String>) -> LogSettings {
    validate_log(section(figment, "log", errors), errors)
}

/// `[metrics] listen`, checked: where Prometheus metrics are served, if anywhere.
pub(super) fn read_metrics(figment: &Figment, errors: &mut Vec<String>) -> Option<SocketAddr> {
    let raw: RawMetrics = section(figment, "metrics", errors);
    raw.listen.and_then(|text| match text.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            errors.push(format!(
                "metrics.listen: {text:?} is not an address like \"127.0.0.1:9090\""
            ));
            None
        }
    })
}
