//! Configuration: a TOML file overlaid by `PORTCULLIS_*` environment variables, checked into typed
//! [`Settings`] before anything starts.
//!
//! Loading happens in two steps. The raw step reads every section leniently (all fields optional,
//! numbers accepted where strings are expected, unknown keys collected rather than fatal); the
//! validation step turns strings into URLs, durations, header names and keys. Both steps push
//! every problem they find into one list, so an operator sees all of them at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::identity::{ClaimPath, ClaimSource, EmailTrust, HeaderMapping, IdentityHeaders};
use crate::policy::{CanonicalPath, DefaultAction, PathPattern, Policy, Rule};
use crate::proxy::UpstreamSettings;
use crate::route::{HostPattern, MAX_ROUTES, RouteSettings};

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
/// Default scopes requested at the authorization endpoint.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
/// Default absolute session lifetime: a working day.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Default idle timeout: a session unused this long ends.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default time before token expiry at which the gateway refreshes them.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Default base name of the gateway's cookies.
pub const DEFAULT_COOKIE_NAME: &str = "portcullis";
/// Default clock leeway for `exp` / `iat` checks.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(30);
/// Default timeout for each call to the issuer (discovery, JWKS, token endpoint).
pub const DEFAULT_ISSUER_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time the upstream has to send response headers.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time allowed to open a connection to the upstream.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default prefix of the keys written to Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "portcullis:";
/// Minimum length of `session.secret`, in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Fewest distinct bytes a `session.secret` may have: 32 bytes of anything random have about
/// 16 (hex) to 28 (base64); `"0000..."` or `"abab..."` have one or two.
pub const MIN_SECRET_VARIETY: usize = 8;
/// Session secrets that were ever printed in portcullis's examples: public, so refused.
const SHIPPED_SECRETS: [&str; 3] = [
    "replace-with-at-least-32-random-bytes-xxxxxxxx",
    "replace-me-with-at-least-32-random-bytes-000000",
    "dev-only-session-secret-of-32-bytes-or-more",
];
/// Words of placeholder secrets (compared without case): a value holding one was copied from
/// an example, not generated.
const PLACEHOLDER_WORDS: [&str; 6] = [
    "replace-with",
    "replace-me",
    "change-me",
    "changeme",
    "example",
    "dev-only",
];
/// Longest duration any key takes: deadlines are added to the clock, and a century would
/// overflow it.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// Most `server.max_connections`: far more than a process has file descriptors for.
const MAX_MAX_CONNECTIONS: usize = 1 << 24;
/// The `route` label of the one route `[upstream]` stands for: what proxied requests were
/// labelled before there were routes.
pub const UPSTREAM_ROUTE_NAME: &str = "proxy";
/// `route` labels the gateway gives requests of its own, or requests no route took: no route
/// may be named so.
const RESERVED_ROUTE_NAMES: [&str; 3] = ["auth", "health", "none"];
/// Longest route name.
const MAX_ROUTE_NAME_LEN: usize = 32;
/// Environment variable prefix; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

/// Authorization-request parameters the gateway sets itself and a config may not override.
const RESERVED_AUTHORIZE_PARAMS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
];

/// A secret string: never printed by `Debug`, so it cannot reach logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent or used as key material.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything the gateway needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[[routes]]`, or the one route of `[upstream]` and `[[rules]]`.
    pub routes: Vec<RouteSettings>,
    /// `[oidc]`
    pub oidc: OidcSettings,
    /// `[session]`
    pub session: SessionSettings,
    /// The default identity headers plus every `[[headers]]` mapping: what every route sends
    /// (each route may add its own).
    pub identity: IdentityHeaders,
    /// `[bearer]`: `None` unless enabled.
    pub bearer: Option<BearerSettings>,
    /// `[log]`
    pub log: LogSettings,
    /// `[metrics]`: where Prometheus metrics are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// `PORTCULLIS_*` environment variables that Kubernetes sets for Services (service links),
    /// by name: ignored, and reported once at start.
    pub ignored_env: Vec<String>,
}

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

/// `[bearer]`: API clients presenting `Authorization: Bearer <JWT>`.
#[derive(Debug, Clone)]
pub struct BearerSettings {
    /// App clients whose tokens from the gateway's issuer are accepted (`client_id` of access
    /// tokens, `aud` of ID tokens).
    pub client_ids: Vec<String>,
    /// Other issuers whose tokens are accepted, each for one audience.
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// An issuer trusted for bearer tokens besides the gateway's own.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// Its issuer identifier (discovery is fetched from it).
    pub issuer: String,
    /// The `aud` (or `client_id`) its tokens must carry.
    pub audience: String,
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
        format!("{}{}", self.public_origin, crate::server::CALLBACK_PATH)
    }

    /// Whether cookies get `Secure` and the `__Host-` prefix.
    pub fn secure_cookies(&self) -> bool {
        self.public_scheme == "https"
    }
}

/// `[oidc]`: the issuer and this gateway's app client.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Issuer identifier; the discovery document must name exactly this.
    pub issuer: String,
    /// App client id.
    pub client_id: String,
    /// App client secret; `None` for a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Cognito hosted-UI origin, e.g. `https://myapp.auth.eu-west-1.amazoncognito.com`.
    pub cognito_domain: Option<Url>,
    /// Signature algorithms accepted on tokens.
    pub allowed_algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Clock leeway for `exp` and `iat`.
    pub clock_leeway: Duration,
    /// Extra authorization-request parameters (e.g. `identity_provider`).
    pub authorize_params: Vec<(String, String)>,
    /// Timeout for each call to the issuer.
    pub timeout: Duration,
    /// Whether an email whose token says nothing of `email_verified` counts as verified
    /// (`assume_email_verified`; off by default).
    pub email_trust: EmailTrust,
}

/// `[session]`: how signed-in state is kept.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Key material from which cookie keys are derived.
    pub secret: Secret,
    /// Absolute lifetime of a session, from sign-in; refreshing tokens does not extend it.
    pub lifetime: Duration,
    /// A session not used for this long ends.
    pub idle_timeout: Duration,
    /// Tokens are refreshed this long before they expire (at most half their lifetime).
    pub refresh_margin: Duration,
    /// Base name of every cookie the gateway sets (the `__Host-` prefix is added on https, or
    /// `__Secure-` with a `cookie_domain`).
    pub cookie_name: String,
    /// The domain the session cookie is valid for, with its subdomains; `None` for the public
    /// URL's host alone.
    pub cookie_domain: Option<String>,
    /// Where sessions are kept.
    pub store: StoreSettings,
}

/// `session.store`: where sessions live.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In the browser: a sealed, chunked cookie. No server state.
    Cookie,
    /// In Redis; the cookie holds an opaque ticket.
    Redis {
        /// `redis://` or `rediss://` (TLS) URL, credentials included: a secret.
        url: Secret,
        /// Prefix of every key the gateway writes.
        prefix: String,
    },
}

/// A configuration that could not be loaded: every problem, one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "config: {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// ---- raw sections, read leniently -------------------------------------------------------

#[derive(Default, Deserialize)]
struct RawServer {
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
struct RawUpstream {
    #[serde(default, deserialize_with = "lenient_string")]
    url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    connect_timeout: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawOidc {
    #[serde(default, deserialize_with = "lenient_string")]
    issuer: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    region: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    user_pool_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_secret: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_secret_file: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    cognito_domain: Option<String>,
    allowed_algorithms: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    clock_leeway: Option<String>,
    authorize_params: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    assume_email_verified: Option<bool>,
}

#[derive(Default, Deserialize)]
struct RawSession {
    #[serde(default, deserialize_with = "lenient_string")]
    secret: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    secret_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    lifetime: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    idle_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    refresh_margin: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    cookie_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    cookie_domain: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    store: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_url_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_prefix: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawRoute {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    host: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    upstream: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    strip_prefix: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    preserve_host: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    default: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    connect_timeout: Option<String>,
    rules: Option<Vec<RawRule>>,
    headers: Option<Vec<RawHeader>>,
}

#[derive(Default, Deserialize)]
struct RawHeader {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    claim: Option<OneOrMany>,
    #[serde(default, deserialize_with = "lenient_string")]
    split: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    join: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawLog {
    #[serde(default, deserialize_with = "lenient_string")]
    format: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    level: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    access: Option<bool>,
}

#[derive(Default, Deserialize)]
struct RawMetrics {
    #[serde(default, deserialize_with = "lenient_string")]
    listen: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawBearer {
    #[serde(default, deserialize_with = "lenient_bool")]
    enabled: Option<bool>,
    client_ids: Option<Vec<String>>,
    trusted_issuers: Option<Vec<RawTrustedIssuer>>,
}

#[derive(Default, Deserialize)]
struct RawTrustedIssuer {
    #[serde(default, deserialize_with = "lenient_string")]
    issuer: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    audience: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawPolicy {
    #[serde(default, deserialize_with = "lenient_string")]
    default: Option<String>,
    role_claims: Option<Vec<RawRoleClaim>>,
}

#[derive(Deserialize)]
struct RawRoleClaim {
    claim: Option<OneOrMany>,
    #[serde(default, deserialize_with = "lenient_string")]
    split: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawRule {
    #[serde(default, deserialize_with = "lenient_string")]
    path: Option<String>,
    methods: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    public: Option<bool>,
    groups: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    claims: Option<BTreeMap<String, OneOrMany>>,
    email_domains: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
}

/// `claim = "a"` or `claim = ["a", "b"]` (first one present wins).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Environment values arrive typed (`123` becomes a number): accept scalars where a string is meant,
/// so a numeric client id or secret set through the environment still works.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::U(u) => u.to_string(),
        Scalar::F(f) => f.to_string(),
        Scalar::B(b) => b.to_string(),
    }))
}

/// A boolean, also as the text `true` or `false` (environment values arrive as text).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Flag;
    impl<'de> Visitor<'de> for Flag {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
            Ok(Some(b))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            match s.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(Flag)
}

/// A whole number, also as text (environment values arrive as text).
fn lenient_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            s.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(Count)
}

const SECTIONS: [&str; 11] = [
    "server", "upstream", "routes", "oidc", "session", "headers", "policy", "rules", "bearer",
    "log", "metrics",
];

/// Loads and validates the configuration from `path` and the process environment.
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    if !path.exists() {
        return Err(ConfigErrors(vec![format!(
            "file {} does not exist",
            path.display()
        )]));
    }
    let toml = std::fs::read_to_string(path)
        .map_err(|e| ConfigErrors(vec![format!("file {} cannot be read: {e}", path.display())]))?;
    let env = Env::prefixed(ENV_PREFIX).split("__");
    from_sources(&toml, env.iter().map(|(k, v)| (k.into_string(), v)))
}

/// Validates a configuration given as a TOML document overlaid by environment variables, named
/// as figment names `PORTCULLIS_*` variables (prefix removed, lower case, `__` turned into `.`:
/// `oidc.client_id`). [`load`] reads both from the process; tests and the fuzzer give them here.
pub fn from_sources(
    toml: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigErrors> {
    let (figment, ignored_env) = with_env(Figment::from(Toml::string(toml)), vars.into_iter());
    let mut settings = from_figment(&figment)?;
    settings.ignored_env = ignored_env;
    Ok(settings)
}

/// Overlays `vars` (keys as figment gives them: lower case, `__` turned into `.`) on `figment`,
/// and returns the names of those that were ignored.
///
/// Kubernetes gives every pod variables for each Service of its namespace
/// (`PORTCULLIS_REDIS_SERVICE_HOST` and `PORTCULLIS_REDIS_PORT=tcp://...` for a Service named
/// `portcullis-redis`, `PORTCULLIS_PORT` for one named `portcullis`): those cannot be
/// configuration and must not stop the gateway, so they are ignored. Every other variable is
/// read as configuration, and one that names no section or key is an error like a typo in the
/// file (`PORTCULLIS_POLICY_DEFAULT`, one underscore short, must not silently leave the default
/// in force), named by its key alone.
fn with_env(
    mut figment: Figment,
    vars: impl Iterator<Item = (String, String)>,
) -> (Figment, Vec<String>) {
    let mut ignored = Vec::new();
    for (key, raw) in vars {
        // The config file's own path may be given as PORTCULLIS_CONFIG.
        if key == "config" {
            continue;
        }
        if is_service_link(&key) {
            ignored.push(format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()));
            continue;
        }
        figment = figment.merge((key, env_value(raw)));
    }
    ignored.sort();
    (figment, ignored)
}

/// Whether `key` (a variable's name without the prefix, lower case) is one Kubernetes sets for a
/// Service: `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT`, `{SVC}_SERVICE_PORT_{NAME}`, `{SVC}_PORT`,
/// and `{SVC}_PORT_{N}_{TCP|UDP|SCTP}` with `_PROTO`, `_PORT` or `_ADDR` (where `{SVC}` is the
/// rest of the Service's name after `portcullis`, possibly empty). No configuration key has
/// these shapes: keys are nested with `__`.
fn is_service_link(key: &str) -> bool {
    if key.contains('.') {
        return false;
    }
    let words: Vec<&str> = key.split('_').collect();
    let tail = |n: usize| words.len().checked_sub(n).map(|i| &words[i..]);
    let is_number = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    let is_protocol = |w: &str| matches!(w, "tcp" | "udp" | "sctp");
    if let Some(["service", "host" | "port"]) = tail(2) {
        return true;
    }
    if let Some(["port"]) = tail(1) {
        return true;
    }
    // `{SVC}_SERVICE_PORT_{NAME}`: a named port.
    if words.windows(2).any(|w| w == ["service", "port"]) && words.last() != Some(&"port") {
        return true;
    }
    match (tail(3), tail(4)) {
        (Some(["port", n, p]), _) if is_number(n) && is_protocol(p) => true,
        (_, Some(["port", n, p, "proto" | "port" | "addr"])) => is_number(n) && is_protocol(p),
        _ => false,
    }
}

/// An environment value as configuration: arrays and tables (`["openid","email"]`) are parsed;
/// everything else is taken verbatim as a string, so a secret such as `00123` or `"x"` reaches
/// the gateway exactly as it was set.
fn env_value(raw: String) -> Value {
    if raw.trim_start().starts_with(['[', '{']) {
        let Ok(v) = raw.parse::<Value>();
        return v;
    }
    Value::from(raw)
}

/// Validates a configuration given as a TOML string (environment not consulted); for tests and tools.
pub fn from_toml_str(toml: &str) -> Result<Settings, ConfigErrors> {
    from_sources(toml, [])
}

fn from_figment(figment: &Figment) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    match figment.extract::<BTreeMap<String, Value>>() {
        Ok(top) => {
            for key in top.keys().filter(|k| !SECTIONS.contains(&k.as_str())) {
                errors.push(format!("{key}: unknown section"));
            }
        }
        Err(e) => {
            // Not TOML at all: one error, and only its first line, since the parser's excerpt
            // of the offending line could hold a secret.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid TOML");
            return Err(ConfigErrors(vec![format!("not valid TOML: {first}")]));
        }
    }
    let server: RawServer = section(figment, "server", &mut errors);
    let has_upstream = figment.find_value("upstream").is_ok();
    let upstream: RawUpstream = section(figment, "upstream", &mut errors);
    let has_routes = figment.find_value("routes").is_ok();
    let routes: Vec<RawRoute> = section(figment, "routes", &mut errors);
    let has_rules = figment.find_value("rules").is_ok();
    let oidc: RawOidc = section(figment, "oidc", &mut errors);
    let session: RawSession = section(figment, "session", &mut errors);
    let headers: Vec<RawHeader> = section(figment, "headers", &mut errors);
    let policy: RawPolicy = section(figment, "policy", &mut errors);
    let rules: Vec<RawRule> = section(figment, "rules", &mut errors);
    let bearer: RawBearer = section(figment, "bearer", &mut errors);
    let log: RawLog = section(figment, "log", &mut errors);
    let metrics: RawMetrics = section(figment, "metrics", &mut errors);

    let server = validate_server(server, &mut errors);
    let oidc = validate_oidc(oidc, &mut errors);
    let session = validate_session(session, &mut errors);
    let identity =
        IdentityHeaders::with_defaults(validate_headers(headers, "headers", &mut errors));
    let defaults = validate_policy(policy, &mut errors);
    let routes = match (has_upstream, has_routes) {
        (true, true) => {
            errors.push(
                "routes: a configuration has either [upstream] (one app) or [[routes]], not both"
                    .into(),
            );
            None
        }
        (_, false) => {
            let rules = validate_rules(rules, "rules", None, &mut errors);
            let policy = Policy::new(rules, defaults.default, defaults.role_sources.clone());
            validate_upstream(upstream, server.as_ref(), policy, &mut errors).map(|r| vec![r])
        }
        (false, true) => {
            if has_rules {
                errors.push(
                    "rules: with [[routes]], each route has its own `rules`; top-level [[rules]] apply to [upstream] only"
                        .into(),
                );
            }
            let reach = server.as_ref().zip(session.as_ref());
            Some(validate_routes(routes, &defaults, reach, &mut errors))
        }
    };
    if let (Some(server), Some(session)) = (&server, &session) {
        check_cookie_domain(server, session, &mut errors);
    }
    let bearer = validate_bearer(bearer, oidc.as_ref(), &mut errors);
    let log = validate_log(log, &mut errors);
    let metrics_listen = metrics.listen.and_then(|text| match text.trim().parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            errors.push(format!(
                "metrics.listen: {text:?} is not an address like \"127.0.0.1:9090\""
            ));
            None
        }
    });

    match (server, routes, oidc, session) {
        (Some(server), Some(routes), Some(oidc), Some(session)) if errors.is_empty() => {
            Ok(Settings {
                server,
                routes,
                oidc,
                session,
                identity,
                bearer,
                log,
                metrics_listen,
                ignored_env: Vec::new(),
            })
        }
        _ => Err(ConfigErrors(errors)),
    }
}

/// Reads one section, recording unknown keys and type errors instead of stopping at the first.
fn section<T: DeserializeOwned + Default>(
    figment: &Figment,
    key: &str,
    errors: &mut Vec<String>,
) -> T {
    let value = match figment.find_value(key) {
        Ok(v) => v,
        Err(e) if e.missing() => return T::default(),
        Err(e) => {
            errors.push(format!("{key}: {e}"));
            return T::default();
        }
    };
    // A section set to a value (`PORTCULLIS_SESSION=...`, one `__KEY` short): said without the
    // value, which may be a secret.
    if !matches!(value, Value::Dict(..) | Value::Array(..)) {
        errors.push(format!(
            "{key}: a section, not a value (from the environment: PORTCULLIS_{}__KEY)",
            key.to_ascii_uppercase()
        ));
        return T::default();
    }
    let mut unknown = Vec::new();
    let result = serde_ignored::deserialize(&value, |path| unknown.push(path.to_string()));
    for path in unknown {
        errors.push(format!("{}: unknown key", key_path(key, &path)));
    }
    match result {
        Ok(v) => v,
        Err(e) => {
            let at = key_path(key, &e.path.join("."));
            errors.push(format!("{at}: {}", e.kind));
            T::default()
        }
    }
}

/// `headers` + `0.name` gives `headers[0].name`, the spelling every message uses.
fn key_path(section: &str, path: &str) -> String {
    let mut out = section.to_string();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(part);
        }
    }
    out
}

fn required(value: Option<String>, key: &str, errors: &mut Vec<String>) -> Option<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            errors.push(format!("{key}: required"));
            None
        }
    }
}

fn duration(
    value: Option<String>,
    key: &str,
    default: Duration,
    errors: &mut Vec<String>,
) -> Duration {
    let Some(text) = value else { return default };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d > MAX_DURATION => {
            errors.push(format!("{key}: at most 365 days"));
            default
        }
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errors.push(format!("{key}: must be greater than zero"));
            default
        }
        Err(e) => {
            errors.push(format!("{key}: {e} (use e.g. \"30s\", \"8h\")"));
            default
        }
    }
}

/// Whether `url` is https, or plain http to a loopback host (local development and tests).
pub(crate) fn is_https_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// Reads a secret given inline or as a file; exactly one of the two must be set when `required`.
fn read_secret(
    inline: Option<String>,
    file: Option<String>,
    key: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            errors.push(format!("{key}: set either {key} or {key}_file, not both"));
            None
        }
        (Some(v), None) => Some(Secret::new(v)),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            // Files written by editors and `kubectl create secret` often end in a newline.
            Ok(v) => Some(Secret::new(v.trim_end_matches(['\r', '\n']))),
            Err(e) => {
                errors.push(format!("{key}_file: cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => {
            if required {
                errors.push(format!("{key}: required (or {key}_file)"));
            }
            None
        }
    }
}

fn validate_server(raw: RawServer, errors: &mut Vec<String>) -> Option<ServerSettings> {
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

/// `[upstream]` and `[[rules]]`: one route, named [`UPSTREAM_ROUTE_NAME`], for every host and
/// path. It behaves as the gateway did before routes: the client's `Host` goes to the app, and
/// `X-Forwarded-Host` is the public URL's host.
fn validate_upstream(
    raw: RawUpstream,
    server: Option<&ServerSettings>,
    policy: Policy,
    errors: &mut Vec<String>,
) -> Option<RouteSettings> {
    let Some(url) = raw.url else {
        errors.push("upstream.url: required (or [[routes]] for several apps)".into());
        return None;
    };
    let mut upstream = upstream_settings(
        &url,
        raw.timeout,
        raw.connect_timeout,
        "upstream",
        "url",
        errors,
    )?;
    upstream.preserve_host = true;
    upstream.forwarded_host = server.and_then(|s| http::HeaderValue::from_str(&s.public_host).ok());
    Some(RouteSettings {
        name: UPSTREAM_ROUTE_NAME.to_string(),
        host: None,
        path: PathPattern::parse("/").ok()?,
        upstream,
        strip_prefix: false,
        policy,
        headers: Vec::new(),
    })
}

/// An upstream's URL and timeouts (`{key}.{url_key}`, `{key}.timeout`, `{key}.connect_timeout`).
fn upstream_settings(
    text: &str,
    timeout: Option<String>,
    connect_timeout: Option<String>,
    key: &str,
    url_key: &str,
    errors: &mut Vec<String>,
) -> Option<UpstreamSettings> {
    let timeout = duration(
        timeout,
        &format!("{key}.timeout"),
        DEFAULT_UPSTREAM_TIMEOUT,
        errors,
    );
    let connect_timeout = duration(
        connect_timeout,
        &format!("{key}.connect_timeout"),
        DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
        errors,
    );
    let key = format!("{key}.{url_key}");
    let url = match Url::parse(text.trim()) {
        Ok(u) => u,
        Err(e) => {
            errors.push(format!("{key}: {e}"));
            return None;
        }
    };
    if url.scheme() != "http" {
        errors.push(format!(
            "{key}: only http:// upstreams are supported (the app next to the gateway)"
        ));
        return None;
    }
    if url.path() != "/" || url.query().is_some() {
        errors.push(format!(
            "{key}: must not have a path or query; requests keep their own path"
        ));
        return None;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        errors.push(format!("{key}: needs a host"));
        return None;
    };
    // The Host the app is sent: as its URL names it, the port only when the URL gives one.
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    match (
        format!("{host}:{port}").parse(),
        http::HeaderValue::from_str(&host_header),
    ) {
        (Ok(origin), Ok(host)) => Some(UpstreamSettings {
            origin,
            host,
            timeout,
            connect_timeout,
            preserve_host: false,
            forwarded_host: None,
        }),
        _ => {
            errors.push(format!("{key}: host is not valid"));
            None
        }
    }
}

/// `[[routes]]`: each route's keys, then what only the whole list can show (names and
/// host-and-path pairs used twice).
fn validate_routes(
    raw: Vec<RawRoute>,
    defaults: &PolicyDefaults,
    reach: Option<(&ServerSettings, &SessionSettings)>,
    errors: &mut Vec<String>,
) -> Vec<RouteSettings> {
    if raw.is_empty() {
        errors.push("routes: an empty list serves nothing; add a [[routes]] entry".into());
    }
    if raw.len() > MAX_ROUTES {
        errors.push(format!("routes: at most {MAX_ROUTES} routes"));
    }
    let mut routes: Vec<RouteSettings> = Vec::new();
    // Where each route of `routes` is in the configuration (those with errors are left out).
    let mut at: Vec<usize> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let name = match r.name.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(format!("{key}.name: required"));
                None
            }
            Some(n)
                if n.len() > MAX_ROUTE_NAME_LEN
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                errors.push(format!(
                    "{key}.name: {n:?} must be 1-{MAX_ROUTE_NAME_LEN} of a-z, 0-9 and '-'"
                ));
                None
            }
            Some(n) if RESERVED_ROUTE_NAMES.contains(&n) => {
                errors.push(format!(
                    "{key}.name: {n:?} is reserved (the gateway labels its own requests so)"
                ));
                None
            }
            Some(n) => {
                if let Some(j) = routes.iter().position(|o| o.name == n) {
                    errors.push(format!(
                        "{key}.name: {n:?} is also the name of routes[{}]",
                        at[j]
                    ));
                }
                Some(n.to_string())
            }
        };
        let host = r.host.and_then(|h| {
            HostPattern::parse(&h)
                .map_err(|why| errors.push(format!("{key}.host: {why}")))
                .ok()
        });
        if let (Some(host), Some((server, session))) = (&host, reach) {
            if let Err(why) = cookie_reaches(host, server, session) {
                errors.push(format!("{key}.host: {why}"));
            }
        }
        let path_text = r.path.unwrap_or_else(|| "/".to_string());
        let path = route_path(&path_text)
            .map_err(|why| errors.push(format!("{key}.path: {why}")))
            .ok();
        let upstream = match r.upstream {
            Some(url) => {
                upstream_settings(&url, r.timeout, r.connect_timeout, &key, "upstream", errors)
            }
            None => {
                errors.push(format!("{key}.upstream: required"));
                None
            }
        };
        let default = match r.default.as_deref() {
            None => defaults.default,
            Some(text) => default_action(text, &format!("{key}.default"), errors),
        };
        let rules = validate_rules(
            r.rules.unwrap_or_default(),
            &format!("{key}.rules"),
            path.as_ref(),
            errors,
        );
        let headers = validate_headers(
            r.headers.unwrap_or_default(),
            &format!("{key}.headers"),
            errors,
        );
        let (Some(name), Some(path), Some(mut upstream)) = (name, path, upstream) else {
            continue;
        };
        upstream.preserve_host = r.preserve_host.unwrap_or(false);
        if let Some(j) = routes
            .iter()
            .position(|o| o.host == host && o.path.as_str() == path.as_str())
        {
            errors.push(format!(
                "{key}: routes[{}] has the same host and path ({} {}); one of them could never be reached",
                at[j],
                host.as_ref().map_or("any host".to_string(), ToString::to_string),
                path.as_str()
            ));
        }
        at.push(i);
        routes.push(RouteSettings {
            name,
            host,
            path,
            upstream,
            strip_prefix: r.strip_prefix.unwrap_or(false),
            policy: Policy::new(rules, default, defaults.role_sources.clone()),
            headers,
        });
    }
    routes
}

/// A route's `path`: a plain prefix of literal segments, as canonical as a request path is, so
/// that it reads one way only (`/grafana/` is `/grafana`).
fn route_path(text: &str) -> Result<PathPattern, String> {
    let canonical = CanonicalPath::parse(text.trim())
        .map_err(|e| format!("{text:?} is not a path like \"/grafana\" ({e})"))?;
    let plain = canonical.as_str().trim_end_matches('/');
    if text.contains('*') || text.contains(';') || plain.contains(';') {
        return Err(format!(
            "{text:?}: a route's path is a plain prefix, without '*', '**' or ';'"
        ));
    }
    PathPattern::parse(if plain.is_empty() { "/" } else { plain })
}

/// Whether `session.cookie_domain` covers the public URL's host, where the session cookie is set.
fn check_cookie_domain(
    server: &ServerSettings,
    session: &SessionSettings,
    errors: &mut Vec<String>,
) {
    let public = public_host(server);
    if let Some(domain) = &session.cookie_domain {
        if !public.is_within(domain) {
            errors.push(format!(
                "session.cookie_domain: {domain:?} does not cover server.public_url's host {public}, where the session cookie is set"
            ));
        }
    }
}

/// The public URL's host, as a route's host would name it.
fn public_host(server: &ServerSettings) -> HostPattern {
    HostPattern::Exact(crate::route::route_name(&server.public_host).into_owned())
}

/// Whether the session cookie reaches `host`: only the public URL's host without
/// `session.cookie_domain`, the domain and every host below it with one. A route host the
/// cookie never reaches would send its users through sign-in again and again.
fn cookie_reaches(
    host: &HostPattern,
    server: &ServerSettings,
    session: &SessionSettings,
) -> Result<(), String> {
    match &session.cookie_domain {
        Some(domain) if !host.is_within(domain) => Err(format!(
            "{host} is not {domain} or below it (session.cookie_domain): the session cookie would never reach it"
        )),
        None if *host != public_host(server) => Err(format!(
            "{host} is not server.public_url's host: set session.cookie_domain to a domain covering both, or the session cookie would never reach it"
        )),
        _ => Ok(()),
    }
}

/// Region part of a Cognito user pool id (`eu-west-1_AbC123` gives `eu-west-1`), if the id is well formed.
pub fn cognito_pool_region(pool_id: &str) -> Option<&str> {
    let (region, id) = pool_id.split_once('_')?;
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let parts: Vec<&str> = region.split('-').collect();
    // Shape `xx-name-1` or `xx-gov-name-1`.
    let region_ok = match parts.as_slice() {
        [cc, name, n] | [cc, _, name, n] => {
            cc.len() == 2
                && cc.bytes().all(|b| b.is_ascii_lowercase())
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase())
                && n.len() == 1
                && n.bytes().all(|b| b.is_ascii_digit())
                && (parts.len() == 3 || parts[1] == "gov")
        }
        _ => false,
    };
    (id_ok && region_ok).then_some(region)
}

fn validate_oidc(raw: RawOidc, errors: &mut Vec<String>) -> Option<OidcSettings> {
    let issuer = match (raw.issuer, raw.user_pool_id) {
        (Some(_), Some(_)) => {
            errors.push("oidc.issuer: set either issuer or user_pool_id, not both".into());
            None
        }
        (Some(issuer), None) => match Url::parse(issuer.trim()) {
            Ok(url) if is_https_or_loopback(&url) => Some(issuer.trim().to_string()),
            Ok(_) => {
                errors.push("oidc.issuer: must be https (plain http only on loopback)".into());
                None
            }
            Err(e) => {
                errors.push(format!("oidc.issuer: {e}"));
                None
            }
        },
        (None, Some(pool)) => {
            let pool = pool.trim();
            match cognito_pool_region(pool) {
                None => {
                    errors.push(format!(
                        "oidc.user_pool_id: {pool:?} is not a Cognito user pool id like \"eu-west-1_AbC123xyz\""
                    ));
                    None
                }
                Some(derived) => {
                    let region = raw.region.as_deref().map(str::trim).unwrap_or(derived);
                    if region != derived {
                        errors.push(format!(
                            "oidc.region: {region:?} does not match the user pool id's region {derived:?}"
                        ));
                        None
                    } else {
                        Some(format!("https://cognito-idp.{region}.amazonaws.com/{pool}"))
                    }
                }
            }
        }
        (None, None) => {
            if raw.region.is_some() {
                errors.push("oidc.user_pool_id: required with oidc.region".into());
            } else {
                errors.push("oidc.issuer: required (or oidc.user_pool_id for Cognito)".into());
            }
            None
        }
    };
    let client_id = required(raw.client_id, "oidc.client_id", errors);
    let client_secret = read_secret(
        raw.client_secret,
        raw.client_secret_file,
        "oidc.client_secret",
        false,
        errors,
    );
    let scopes = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect());
    if !scopes.iter().any(|s| s == "openid") {
        errors.push("oidc.scopes: must include \"openid\"".into());
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.bytes().any(|b| b <= b' ' || b == b'"' || b == b'\\'))
    {
        errors.push(format!("oidc.scopes: {bad:?} is not a valid scope token"));
    }
    let cognito_domain = raw.cognito_domain.and_then(|text| {
        let text = text.trim().trim_end_matches('/');
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("https://{text}")
        };
        match Url::parse(&with_scheme) {
            Ok(u) if is_https_or_loopback(&u) && u.path() == "/" && u.query().is_none() => Some(u),
            Ok(_) => {
                errors.push(
                    "oidc.cognito_domain: must be a domain like myapp.auth.eu-west-1.amazoncognito.com or an https origin"
                        .into(),
                );
                None
            }
            Err(e) => {
                errors.push(format!("oidc.cognito_domain: {e}"));
                None
            }
        }
    });
    let algorithm_names = raw
        .allowed_algorithms
        .unwrap_or_else(|| vec!["RS256".to_string()]);
    if algorithm_names.is_empty() {
        errors.push("oidc.allowed_algorithms: must name at least one algorithm".into());
    }
    let allowed_algorithms = algorithm_names
        .into_iter()
        .filter_map(|name| match crate::oidc::parse_algorithm(&name) {
            Ok(a) => Some(a),
            Err(why) => {
                errors.push(format!("oidc.allowed_algorithms: {why}"));
                None
            }
        })
        .collect::<Vec<_>>();
    let clock_leeway = duration(
        raw.clock_leeway,
        "oidc.clock_leeway",
        DEFAULT_CLOCK_LEEWAY,
        errors,
    );
    if clock_leeway > Duration::from_secs(300) {
        errors.push("oidc.clock_leeway: at most 5m".into());
    }
    let timeout = duration(raw.timeout, "oidc.timeout", DEFAULT_ISSUER_TIMEOUT, errors);
    let mut authorize_params = Vec::new();
    for (name, value) in raw.authorize_params.unwrap_or_default() {
        if RESERVED_AUTHORIZE_PARAMS.contains(&name.as_str()) {
            errors.push(format!(
                "oidc.authorize_params.{name}: set by the gateway itself and cannot be overridden"
            ));
        } else {
            authorize_params.push((name, value));
        }
    }
    Some(OidcSettings {
        issuer: issuer?,
        client_id: client_id?,
        client_secret,
        scopes,
        cognito_domain,
        allowed_algorithms,
        clock_leeway,
        authorize_params,
        timeout,
        email_trust: if raw.assume_email_verified.unwrap_or(false) {
            EmailTrust::AssumeVerifiedWhenUnsaid
        } else {
            EmailTrust::VerifiedOnly
        },
    })
}

fn validate_session(raw: RawSession, errors: &mut Vec<String>) -> Option<SessionSettings> {
    let secret = read_secret(raw.secret, raw.secret_file, "session.secret", true, errors);
    if let Some(why) = secret.as_ref().and_then(weak_secret) {
        errors.push(format!(
            "session.secret: {why} (generate one with `openssl rand -base64 48`)"
        ));
    }
    let lifetime = duration(
        raw.lifetime,
        "session.lifetime",
        DEFAULT_SESSION_LIFETIME,
        errors,
    );
    let idle_timeout = duration(
        raw.idle_timeout,
        "session.idle_timeout",
        DEFAULT_IDLE_TIMEOUT,
        errors,
    );
    let refresh_margin = duration(
        raw.refresh_margin,
        "session.refresh_margin",
        DEFAULT_REFRESH_MARGIN,
        errors,
    );
    let cookie_name = raw
        .cookie_name
        .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_string());
    let name_ok = !cookie_name.is_empty()
        && cookie_name.len() <= 64
        && !cookie_name.starts_with("__")
        && cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        errors.push(format!(
            "session.cookie_name: {cookie_name:?} must be 1-64 letters, digits, '-' or '_' (the __Host- prefix is added on https)"
        ));
    }
    let cookie_domain = raw.cookie_domain.and_then(|text| {
        let domain = text.trim().trim_start_matches('.').to_ascii_lowercase();
        match HostPattern::parse(&domain) {
            Ok(HostPattern::Exact(d)) if d.contains('.') => Some(d),
            _ => {
                errors.push(format!(
                    "session.cookie_domain: {text:?} is not a domain like \"example.com\""
                ));
                None
            }
        }
    });
    let redis_url = read_secret(
        raw.redis_url,
        raw.redis_url_file,
        "session.redis_url",
        false,
        errors,
    );
    let store = match raw.store.as_deref().map(str::trim) {
        None | Some("cookie") => {
            if redis_url.is_some() {
                errors.push("session.redis_url: only used with session.store = \"redis\"".into());
            }
            Some(StoreSettings::Cookie)
        }
        Some("redis") => match redis_url {
            Some(url) => match Url::parse(url.expose()) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.has_host() => {
                    Some(StoreSettings::Redis {
                        url,
                        prefix: raw
                            .redis_prefix
                            .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_string()),
                    })
                }
                // The URL may hold a password: never echo it.
                _ => {
                    errors.push(
                        "session.redis_url: must be a redis:// or rediss:// URL with a host".into(),
                    );
                    None
                }
            },
            None => {
                errors.push("session.redis_url: required with session.store = \"redis\"".into());
                None
            }
        },
        Some(other) => {
            errors.push(format!(
                "session.store: {other:?} is not \"cookie\" or \"redis\""
            ));
            None
        }
    };
    Some(SessionSettings {
        store: store?,
        secret: secret?,
        lifetime,
        idle_timeout,
        refresh_margin,
        cookie_name,
        cookie_domain,
    })
}

/// Why `secret` cannot key the session cookies, if it cannot: anyone who knows it can forge a
/// session, so a secret that is short, repetitive, or copied from an example is refused. (The
/// message never quotes the secret.)
fn weak_secret(secret: &Secret) -> Option<String> {
    let text = secret.expose();
    if text.len() < MIN_SECRET_LEN {
        return Some(format!("must be at least {MIN_SECRET_LEN} bytes"));
    }
    let lower = text.to_ascii_lowercase();
    if SHIPPED_SECRETS.contains(&text) || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return Some("is a placeholder from an example, known to everyone".into());
    }
    let mut seen = [false; 256];
    for b in text.bytes() {
        seen[b as usize] = true;
    }
    if seen.iter().filter(|&&s| s).count() < MIN_SECRET_VARIETY {
        return Some(format!(
            "has fewer than {MIN_SECRET_VARIETY} distinct characters: not random"
        ));
    }
    None
}

/// Identity header mappings configured at `section` (`headers`, `routes[0].headers`).
fn validate_headers(
    raw: Vec<RawHeader>,
    section: &str,
    errors: &mut Vec<String>,
) -> Vec<HeaderMapping> {
    let mut mappings = Vec::new();
    for (i, h) in raw.into_iter().enumerate() {
        let key = format!("{section}[{i}]");
        let name = match h
            .name
            .as_deref()
            .map(|n| http::HeaderName::from_bytes(n.as_bytes()))
        {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                errors.push(format!("{key}.name: not a valid header name"));
                None
            }
            None => {
                errors.push(format!("{key}.name: required"));
                None
            }
        };
        let claims = match h.claim {
            Some(OneOrMany::One(c)) => vec![c],
            Some(OneOrMany::Many(cs)) if !cs.is_empty() => cs,
            _ => {
                errors.push(format!("{key}.claim: required"));
                Vec::new()
            }
        };
        let mut paths = Vec::new();
        for c in &claims {
            match ClaimPath::parse(c) {
                Ok(p) => paths.push(p),
                Err(why) => errors.push(format!("{key}.claim: {why}")),
            }
        }
        if h.split.as_deref() == Some("") {
            errors.push(format!("{key}.split: must not be empty"));
        }
        let join = h.join.unwrap_or_else(|| ",".to_string());
        if join.bytes().any(|b| b.is_ascii_control()) {
            errors.push(format!("{key}.join: must not contain control characters"));
        }
        if let Some(name) = name {
            mappings.push(HeaderMapping {
                name,
                source: ClaimSource {
                    claims: paths,
                    split: h.split.filter(|s| !s.is_empty()),
                },
                join,
            });
        }
    }
    mappings
}

fn validate_log(raw: RawLog, errors: &mut Vec<String>) -> LogSettings {
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

fn validate_bearer(
    raw: RawBearer,
    oidc: Option<&OidcSettings>,
    errors: &mut Vec<String>,
) -> Option<BearerSettings> {
    let enabled = raw.enabled.unwrap_or(false);
    if !enabled {
        if raw.client_ids.is_some() || raw.trusted_issuers.is_some() {
            errors.push("bearer: set enabled = true to accept bearer tokens".into());
        }
        return None;
    }
    let client_ids = match raw.client_ids {
        Some(ids) if ids.is_empty() => {
            errors.push("bearer.client_ids: an empty list accepts nothing".into());
            Vec::new()
        }
        Some(ids) => ids,
        None => oidc.map(|o| vec![o.client_id.clone()]).unwrap_or_default(),
    };
    let mut trusted_issuers = Vec::new();
    for (i, t) in raw
        .trusted_issuers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("bearer.trusted_issuers[{i}]");
        let issuer = match t.issuer.as_deref().map(|i| (i, Url::parse(i))) {
            Some((text, Ok(url))) if is_https_or_loopback(&url) => {
                if oidc.is_some_and(|o| o.issuer == text) {
                    errors.push(format!(
                        "{key}.issuer: the gateway's own issuer; use bearer.client_ids instead"
                    ));
                }
                Some(text.to_string())
            }
            Some(_) => {
                errors.push(format!(
                    "{key}.issuer: must be an https URL (http only on loopback)"
                ));
                None
            }
            None => {
                errors.push(format!("{key}.issuer: required"));
                None
            }
        };
        let audience = t.audience.filter(|a| !a.is_empty());
        if audience.is_none() {
            errors.push(format!("{key}.audience: required"));
        }
        if let (Some(issuer), Some(audience)) = (issuer, audience) {
            trusted_issuers.push(TrustedIssuer { issuer, audience });
        }
    }
    Some(BearerSettings {
        client_ids,
        trusted_issuers,
    })
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// A list condition of a rule: absent, or a non-empty list.
fn condition(
    values: Option<Vec<String>>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<Vec<String>> {
    if values.as_ref().is_some_and(Vec::is_empty) {
        errors.push(format!(
            "{key}: an empty list never holds; remove the key instead"
        ));
    }
    values
}

/// `[policy]`: what every route's requests no rule matches get, unless the route says, and where
/// roles come from.
struct PolicyDefaults {
    default: DefaultAction,
    role_sources: Vec<ClaimSource>,
}

/// A `default` key's value.
fn default_action(text: &str, key: &str, errors: &mut Vec<String>) -> DefaultAction {
    match text {
        "authenticated" => DefaultAction::Authenticated,
        "deny" => DefaultAction::Deny,
        other => {
            errors.push(format!(
                "{key}: {other:?} is not \"authenticated\" or \"deny\""
            ));
            DefaultAction::Authenticated
        }
    }
}

fn validate_policy(raw: RawPolicy, errors: &mut Vec<String>) -> PolicyDefaults {
    let default = match raw.default.as_deref() {
        None => DefaultAction::Authenticated,
        Some(text) => default_action(text, "policy.default", errors),
    };
    let role_sources = match raw.role_claims {
        None => Policy::default_role_sources(),
        Some(list) => list
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let key = format!("policy.role_claims[{i}]");
                let claims: Vec<ClaimPath> = r
                    .claim
                    .map(OneOrMany::into_vec)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| {
                        ClaimPath::parse(c)
                            .map_err(|why| errors.push(format!("{key}.claim: {why}")))
                            .ok()
                    })
                    .collect();
                if claims.is_empty() {
                    errors.push(format!("{key}.claim: required"));
                    return None;
                }
                Some(ClaimSource {
                    claims,
                    split: r.split.filter(|s| !s.is_empty()),
                })
            })
            .collect(),
    };
    PolicyDefaults {
        default,
        role_sources,
    }
}

/// Rules configured at `section` (`rules`, `routes[0].rules`); their paths are joined to the
/// route's `prefix`, so that they match the request's whole path.
fn validate_rules(
    rules: Vec<RawRule>,
    section: &str,
    prefix: Option<&PathPattern>,
    errors: &mut Vec<String>,
) -> Vec<Rule> {
    let mut parsed = Vec::new();
    for (index, r) in rules.into_iter().enumerate() {
        let key = format!("{section}[{index}]");
        let full = r.path.as_deref().map(|p| match prefix {
            Some(prefix) if prefix.segments() > 0 && p.starts_with('/') => {
                let rest = if p.trim_end_matches('/').is_empty() {
                    ""
                } else {
                    p
                };
                format!("{}{rest}", prefix.as_str())
            }
            _ => p.to_string(),
        });
        let path = match full.as_deref().map(PathPattern::parse) {
            Some(Ok(p)) => Some(p),
            Some(Err(why)) => {
                errors.push(format!("{key}.path: {why}"));
                None
            }
            None => {
                errors.push(format!("{key}.path: required"));
                None
            }
        };
        let methods = r.methods.map(|ms| {
            if ms.is_empty() {
                errors.push(format!("{key}.methods: an empty list never matches"));
            }
            ms.iter()
                .filter_map(
                    |m| match http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
                        Ok(method) => Some(method),
                        Err(_) => {
                            errors.push(format!("{key}.methods: {m:?} is not an HTTP method"));
                            None
                        }
                    },
                )
                .collect::<Vec<_>>()
        });
        let public = r.public.unwrap_or(false);
        let groups = condition(r.groups, &format!("{key}.groups"), errors);
        let roles = condition(r.roles, &format!("{key}.roles"), errors);
        let email_domains = condition(r.email_domains, &format!("{key}.email_domains"), errors);
        let scopes = condition(r.scopes, &format!("{key}.scopes"), errors);
        let mut claims = Vec::new();
        for (name, values) in r.claims.unwrap_or_default() {
            let values = values.into_vec();
            match ClaimPath::parse(&name) {
                Ok(_) if values.is_empty() => errors.push(format!(
                    "{key}.claims.{name}: an empty list never holds; remove the key instead"
                )),
                Ok(path) => claims.push((path, values)),
                Err(why) => errors.push(format!("{key}.claims: {why}")),
            }
        }
        let has_conditions = groups.is_some()
            || roles.is_some()
            || email_domains.is_some()
            || scopes.is_some()
            || !claims.is_empty();
        if public && has_conditions {
            errors.push(format!(
                "{key}: a public rule takes no conditions (groups, roles, claims, email_domains, scopes)"
            ));
        }
        if let Some(path) = path {
            parsed.push(Rule {
                index,
                path,
                methods,
                public,
                groups,
                roles,
                claims,
                email_domains,
                scopes,
            });
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [server]
        public_url = "https://app.example.com"
        [upstream]
        url = "http://127.0.0.1:8080"
        [oidc]
        user_pool_id = "eu-west-1_AbC123"
        client_id = "abc"
        [session]
        secret = "0123456789abcdef0123456789abcdef"
    "#;

    #[test]
    fn minimal_cognito_config_derives_issuer() {
        let s = from_toml_str(MINIMAL).unwrap();
        assert_eq!(
            s.oidc.issuer,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
        );
        assert_eq!(s.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(
            s.server.redirect_uri(),
            "https://app.example.com/oauth2/callback"
        );
        assert!(s.server.secure_cookies());
        assert!(s.oidc.client_secret.is_none());
        assert_eq!(s.oidc.scopes, DEFAULT_SCOPES);
    }

    #[test]
    fn environment_variables_that_are_not_configuration_are_ignored() {
        let vars = [
            // Kubernetes service links for Services `portcullis-redis` and `portcullis`.
            ("redis_service_host", "10.0.0.7"),
            ("redis_port", "tcp://10.0.0.7:6379"),
            ("redis_port_6379_tcp_addr", "10.0.0.7"),
            ("service_host", "10.0.0.8"),
            ("port", "tcp://10.0.0.8:4180"),
            ("oidc_service_port", "443"),
            // A section alone names no key.
            ("port_4180_tcp", "tcp://10.0.0.8:4180"),
            ("port_4180_tcp_proto", "tcp"),
            ("redis_service_port_redis", "6379"),
            ("config", "/etc/portcullis.toml"),
            ("oidc.client_id", "from-env"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let (figment, ignored) = with_env(Figment::from(Toml::string(MINIMAL)), vars.into_iter());
        let settings = from_figment(&figment).unwrap();
        assert_eq!(settings.oidc.client_id, "from-env");
        assert_eq!(
            ignored,
            [
                "PORTCULLIS_OIDC_SERVICE_PORT",
                "PORTCULLIS_PORT",
                "PORTCULLIS_PORT_4180_TCP",
                "PORTCULLIS_PORT_4180_TCP_PROTO",
                "PORTCULLIS_REDIS_PORT",
                "PORTCULLIS_REDIS_PORT_6379_TCP_ADDR",
                "PORTCULLIS_REDIS_SERVICE_HOST",
                "PORTCULLIS_REDIS_SERVICE_PORT_REDIS",
                "PORTCULLIS_SERVICE_HOST",
            ]
        );
        // Anything else is configuration, and a name that is none is an error, never silently
        // dropped: one underscore short of `policy.default` would leave the default in force.
        for (typo, named) in [
            ("policy_default", "policy_default: unknown section"),
            ("session", "session: a section, not a value"),
            ("bearer_enabled", "bearer_enabled: unknown section"),
        ] {
            let vars = [(typo.to_string(), "deny".to_string())];
            let (figment, ignored) =
                with_env(Figment::from(Toml::string(MINIMAL)), vars.into_iter());
            assert!(ignored.is_empty(), "{typo}");
            let text = from_figment(&figment).unwrap_err().to_string();
            assert!(text.contains(named), "{typo}: {text}");
        }
        // A misspelled key under a known section is an error that names it, not its value.
        let typo = [("oidc.client_secrt".to_string(), "hunter2-value".to_string())];
        let (figment, ignored) = with_env(Figment::from(Toml::string(MINIMAL)), typo.into_iter());
        assert!(ignored.is_empty());
        let text = from_figment(&figment).unwrap_err().to_string();
        assert!(text.contains("oidc.client_secrt: unknown key"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn environment_values_of_every_type() {
        let vars = [
            ("oidc.assume_email_verified", "true"),
            ("server.max_connections", "5000"),
            ("server.idle_timeout", "2m"),
            ("log.access", "false"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = from_sources(MINIMAL, vars).unwrap();
        assert_eq!(s.oidc.email_trust, EmailTrust::AssumeVerifiedWhenUnsaid);
        assert_eq!(s.server.max_connections, 5000);
        assert_eq!(s.server.idle_timeout, Duration::from_secs(120));
        assert!(!s.log.access);
        // Type errors still name the key.
        let bad = [("log.access", "maybe"), ("server.max_connections", "-1")]
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let text = from_sources(MINIMAL, bad).unwrap_err().to_string();
        assert!(text.contains("log.access: invalid value"), "{text}");
        assert!(
            text.contains("server.max_connections: invalid value"),
            "{text}"
        );
        let text = from_toml_str(&format!("{MINIMAL}\n[log]\naccess = 3\n")).unwrap_err();
        assert!(
            text.to_string().contains("log.access: invalid type"),
            "{text}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = from_toml_str(
            r#"
            typo = 1
            [server]
            public_url = "ftp://x"
            lisen = "x"
            [upstream]
            [oidc]
            user_pool_id = "nope"
            client_id = "abc"
            allowed_algorithms = ["HS256", "none"]
            [session]
            secret = "short"
            lifetime = "forever"
            [[headers]]
            name = "bad header"
            "#,
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "typo: unknown section",
            "server.lisen: unknown key",
            "server.public_url",
            "upstream.url: required",
            "oidc.user_pool_id",
            "oidc.allowed_algorithms: HS256",
            "oidc.allowed_algorithms: none",
            "session.secret: must be at least 32 bytes",
            "session.lifetime",
            "headers[0].name",
            "headers[0].claim: required",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = from_toml_str(&format!(
            "{MINIMAL}\n[[headers]]\nname = \"X-A\"\nclaim = {{ a = 1 }}\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("headers"), "{err}");
    }

    #[test]
    fn trusted_proxies_match_ipv4_mapped_peers() {
        let s = from_toml_str(MINIMAL).unwrap();
        assert!(s.server.trusts("127.0.0.1".parse().unwrap()));
        assert!(s.server.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(s.server.trusts("::1".parse().unwrap()));
        assert!(!s.server.trusts("::ffff:10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn pool_ids() {
        assert_eq!(cognito_pool_region("us-east-1_AbC"), Some("us-east-1"));
        assert_eq!(
            cognito_pool_region("us-gov-west-1_x9"),
            Some("us-gov-west-1")
        );
        for bad in [
            "",
            "us-east-1",
            "us-east-1_",
            "US-east-1_a",
            "us-east-x_a",
            "us-east-1_a/b",
            "../_a",
        ] {
            assert_eq!(cognito_pool_region(bad), None, "{bad}");
        }
    }

    #[test]
    fn region_must_match_pool() {
        let cfg = MINIMAL.replace("[oidc]", "[oidc]\nregion = \"us-east-1\"");
        assert!(
            from_toml_str(&cfg)
                .unwrap_err()
                .to_string()
                .contains("oidc.region")
        );
    }

    #[test]
    fn rules_are_read_and_checked() {
        let ok = format!(
            r#"{MINIMAL}
            [policy]
            default = "deny"
            role_claims = [{{ claim = "custom:roles", split = "|" }}]
            [[rules]]
            path = "/health"
            public = true
            [[rules]]
            path = "/admin"
            methods = ["get", "POST"]
            groups = ["admins"]
            claims = {{ "custom:tier" = ["gold", "silver"], "address.country" = "NL" }}
            "#
        );
        let s = from_toml_str(&ok).unwrap();
        let policy = &s.routes[0].policy;
        assert_eq!(policy.default, DefaultAction::Deny);
        assert_eq!(policy.rules.len(), 2);
        assert_eq!(policy.rules[1].methods.as_ref().unwrap().len(), 2);
        assert_eq!(policy.rules[1].claims.len(), 2);

        let bad = format!(
            r#"{MINIMAL}
            [policy]
            default = "maybe"
            [[rules]]
            [[rules]]
            path = "admin"
            [[rules]]
            path = "/x"
            public = true
            groups = ["g"]
            [[rules]]
            path = "/y"
            roles = []
            methods = ["NOT A METHOD"]
            pubic = true
            "#
        );
        let text = from_toml_str(&bad).unwrap_err().to_string();
        for expected in [
            "policy.default",
            "rules[0].path: required",
            "rules[1].path",
            "rules[2]: a public rule takes no conditions",
            "rules[3].roles: an empty list never holds",
            "rules[3].methods",
            "rules[3].pubic: unknown key",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    /// MINIMAL without its `[upstream]`, for configurations with `[[routes]]`.
    fn without_upstream() -> String {
        MINIMAL.replace("[upstream]\n        url = \"http://127.0.0.1:8080\"\n", "")
    }

    #[test]
    fn routes_are_read_with_rules_under_their_prefix() {
        let cfg = format!(
            r#"{}
            [policy]
            default = "deny"
            [[headers]]
            name = "X-Team"
            claim = "custom:team"
            [[routes]]
            name = "grafana"
            path = "/grafana/"
            upstream = "http://127.0.0.1:3000"
            strip_prefix = true
            default = "authenticated"
            timeout = "5s"
            rules = [{{ path = "/admin", groups = ["admins"] }}, {{ path = "/", roles = ["viewer"] }}]
            headers = [{{ name = "X-Grafana-Role", claim = "custom:roles", split = "|" }}]
            [[routes]]
            name = "wiki"
            host = "Wiki.Example.com"
            upstream = "http://wiki.internal:80"
            preserve_host = true
            "#,
            without_upstream()
        );
        let cfg = cfg.replace(
            "[session]",
            "[session]\n        cookie_domain = \".example.com\"",
        );
        let s = from_toml_str(&cfg).unwrap();
        assert_eq!(s.session.cookie_domain.as_deref(), Some("example.com"));
        let [grafana, wiki] = &s.routes[..] else {
            panic!("{:?}", s.routes)
        };
        assert_eq!(grafana.path.as_str(), "/grafana");
        assert_eq!(grafana.policy.default, DefaultAction::Authenticated);
        let paths: Vec<&str> = grafana
            .policy
            .rules
            .iter()
            .map(|r| r.path.as_str())
            .collect();
        assert_eq!(paths, ["/grafana/admin", "/grafana"]);
        assert_eq!(grafana.upstream.timeout, Duration::from_secs(5));
        assert_eq!(grafana.upstream.host, "127.0.0.1:3000");
        assert!(grafana.strip_prefix && !grafana.upstream.preserve_host);
        assert_eq!(grafana.headers.len(), 1);
        assert_eq!(
            wiki.host,
            Some(HostPattern::Exact("wiki.example.com".into()))
        );
        assert_eq!(wiki.policy.default, DefaultAction::Deny);
        assert_eq!(wiki.upstream.host, "wiki.internal");
        assert_eq!(wiki.upstream.origin.as_str(), "wiki.internal:80");
        assert!(wiki.upstream.preserve_host && wiki.upstream.forwarded_host.is_none());
        // `[upstream]` is the one route it always was: the client's Host, the public one
        // forwarded.
        let legacy = from_toml_str(MINIMAL).unwrap();
        let [proxy] = &legacy.routes[..] else {
            panic!()
        };
        assert_eq!(proxy.name, UPSTREAM_ROUTE_NAME);
        assert!(proxy.upstream.preserve_host);
        assert_eq!(
            proxy.upstream.forwarded_host.as_ref().unwrap(),
            "app.example.com"
        );
    }

    #[test]
    fn route_errors_name_their_keys() {
        let both =
            format!("{MINIMAL}\n[[routes]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\n");
        let text = from_toml_str(&both).unwrap_err().to_string();
        assert!(
            text.contains("routes: a configuration has either [upstream]"),
            "{text}"
        );

        let bad = format!(
            r#"{}
            [[rules]]
            path = "/x"
            [[routes]]
            name = "Wiki"
            upstream = "http://127.0.0.1:1"
            [[routes]]
            name = "auth"
            upstream = "https://127.0.0.1:1"
            [[routes]]
            upstream = "http://127.0.0.1:1"
            path = "/a/*"
            [[routes]]
            name = "same"
            host = "wiki.example.com"
            upstream = "http://127.0.0.1:1"
            [[routes]]
            name = "same"
            host = "WIKI.example.com."
            path = "/"
            upstream = "http://127.0.0.1:2"
            [[routes]]
            name = "wild"
            host = "*.com"
            [[routes]]
            name = "far"
            host = "*.elsewhere.org"
            path = "/x;y"
            upstream = "http://127.0.0.1:1"
            default = "maybe"
            rules = [{{ path = "admin" }}]
            headers = [{{ name = "bad header", claim = "x" }}]
            "#,
            without_upstream()
        );
        let text = from_toml_str(&bad).unwrap_err().to_string();
        for expected in [
            "rules: with [[routes]], each route has its own `rules`",
            "routes[0].name: \"Wiki\" must be 1-32 of a-z, 0-9 and '-'",
            "routes[1].name: \"auth\" is reserved",
            "routes[1].upstream: only http:// upstreams",
            "routes[2].name: required",
            "routes[2].path: \"/a/*\": a route's path is a plain prefix",
            "routes[4].name: \"same\" is also the name of routes[3]",
            "routes[4]: routes[3] has the same host and path (wiki.example.com /)",
            "routes[5].host: \"*.com\": a wildcard needs a domain of at least two labels",
            "routes[5].upstream: required",
            "routes[6].path: \"/x;y\": a route's path is a plain prefix",
            "routes[6].default: \"maybe\" is not",
            "routes[6].rules[0].path",
            "routes[6].headers[0].name: not a valid header name",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        // Hosts the session cookie cannot reach.
        let cfg = format!(
            "{}\n[[routes]]\nname = \"wiki\"\nhost = \"wiki.example.com\"\nupstream = \"http://127.0.0.1:1\"\n",
            without_upstream()
        );
        let text = from_toml_str(&cfg).unwrap_err().to_string();
        assert!(
            text.contains("routes[0].host: wiki.example.com is not server.public_url's host"),
            "{text}"
        );
        let cfg = cfg.replace("[session]", "[session]\ncookie_domain = \"other.org\"");
        let text = from_toml_str(&cfg).unwrap_err().to_string();
        for expected in [
            "session.cookie_domain: \"other.org\" does not cover server.public_url's host app.example.com",
            "routes[0].host: wiki.example.com is not other.org or below it",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        let cfg = MINIMAL.replace("[session]", "[session]\ncookie_domain = \"com\"");
        let text = from_toml_str(&cfg).unwrap_err().to_string();
        assert!(
            text.contains("session.cookie_domain: \"com\" is not a domain"),
            "{text}"
        );
        let empty = format!(
            "{}\nroutes = []\n",
            without_upstream().replace("[server]", "routes = []\n[server]")
        );
        let text = from_toml_str(&empty.replace("\nroutes = []\n", "\n"))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("routes: an empty list serves nothing"),
            "{text}"
        );
    }

    #[test]
    fn syntax_errors_are_one_line_without_the_source() {
        let err = from_toml_str("[oidc]\nclient_secret = \"s3cr3t-value\n").unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn weak_session_secrets_are_refused() {
        let with = |secret: &str| {
            from_toml_str(&MINIMAL.replace("0123456789abcdef0123456789abcdef", secret))
                .err()
                .map(|e| e.to_string())
        };
        for weak in SHIPPED_SECRETS.iter().map(|s| s.to_string()).chain([
            "0".repeat(40),
            "ab".repeat(20),
            "short".into(),
            "my-Example-secret-that-is-long-enough-1234".into(),
            "ChangeMe0123456789abcdefghijklmnopqrst".into(),
        ]) {
            let err = with(&weak).unwrap_or_else(|| panic!("{weak:?} accepted"));
            assert!(err.contains("session.secret"), "{err}");
            assert!(!err.contains(&weak), "the secret is quoted: {err}");
        }
        // What `openssl rand -base64 48` and `-hex 16` give.
        for strong in [
            "q8Vt3mJ0y7Qe1nWc4s/RZb9KxPa2LdHf6UgToYiE5+MwNvAlSkXhIjBrCuDzGpF1",
            "9f86d081884c7d659a2feaa0c55ad015",
        ] {
            assert_eq!(with(strong), None, "{strong}");
        }
    }

    #[test]
    fn secret_is_not_printed() {
        let s = from_toml_str(MINIMAL).unwrap();
        assert!(!format!("{s:?}").contains("0123456789abcdef"));
    }

    #[test]
    fn plain_http_issuer_only_on_loopback() {
        let cfg = MINIMAL.replace(
            "user_pool_id = \"eu-west-1_AbC123\"",
            "issuer = \"http://idp.example.com\"",
        );
        assert!(
            from_toml_str(&cfg)
                .unwrap_err()
                .to_string()
                .contains("oidc.issuer")
        );
        let cfg = MINIMAL.replace(
            "user_pool_id = \"eu-west-1_AbC123\"",
            "issuer = \"http://127.0.0.1:9000/pool\"",
        );
        assert!(from_toml_str(&cfg).is_ok());
    }

    #[test]
    fn reserved_authorize_params_are_refused() {
        let cfg = format!("{MINIMAL}\n[oidc.authorize_params]\nstate = \"x\"\n");
        // MINIMAL already has an [oidc] table; TOML allows a sub-table after it.
        assert!(
            from_toml_str(&cfg)
                .unwrap_err()
                .to_string()
                .contains("authorize_params.state")
        );
    }
}
