//! Configuration: a TOML file overlaid by `PORTCULLIS_*` environment variables, checked into typed
//! [`Settings`] before anything starts.
//!
//! Loading happens in two steps. The raw step reads every section leniently (all fields optional,
//! numbers accepted where strings are expected, unknown keys collected rather than fatal); the
//! validation step turns strings into URLs, durations, header names and keys. Both steps push
//! every problem they find into one list, so an operator sees all of them at once.
//!
//! One file per section: [`server`] (`[server]`, `[log]`, `[metrics]`), [`oidc`] (`[oidc]`,
//! `[bearer]`), [`session`], [`assertion`], and [`apps`] (`[upstream]` or `[[routes]]`, with
//! `[[rules]]`, `[[headers]]` and `[policy]`). Each checks its section into the settings type of the
//! component that uses it (the proxy's, the router's, the session store's, ...); this module
//! assembles them. [`read`] holds what reading every section shares, [`env`] the environment.

mod apps;
mod assertion;
mod env;
mod oidc;
mod read;
mod server;
mod session;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use figment::value::Value;

pub use apps::UPSTREAM_ROUTE_NAME;
pub use oidc::cognito_pool_region;
pub use server::{LogSettings, ServerSettings};

pub use crate::secret::Secret;

use crate::assertion::{AlbSettings, AssertionSettings};
use crate::authn::BearerSettings;
use crate::identity::IdentityHeaders;
use crate::oidc::OidcSettings;
use crate::route::RouteSettings;
use crate::session::SessionSettings;
use env::with_env;

/// Environment variable prefix; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "PORTCULLIS_";

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
    /// `[assertion]`: `None` unless enabled.
    pub assertion: Option<AssertionSettings>,
    /// `[alb]`: the signer of ALB-style headers, when given.
    pub alb: Option<AlbSettings>,
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

const SECTIONS: [&str; 13] = [
    "alb",
    "assertion",
    "server",
    "upstream",
    "routes",
    "oidc",
    "session",
    "headers",
    "policy",
    "rules",
    "bearer",
    "log",
    "metrics",
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
    let server = server::read(figment, &mut errors);
    let oidc = oidc::read(figment, &mut errors);
    let session = session::read(figment, &mut errors);
    let (identity, routes) = apps::read(figment, server.as_ref(), session.as_ref(), &mut errors);
    let mut session = session;
    if let (Some(session), Some(routes)) = (&mut session, &routes) {
        session.keep_access_token = routes.iter().any(RouteSettings::needs_access_token);
    }
    let bearer = oidc::read_bearer(figment, oidc.as_ref(), &mut errors);
    let assertion = assertion::read(figment, session.as_ref(), &mut errors);
    let alb = assertion::read_alb(figment, routes.as_deref(), &mut errors);
    let log = server::read_log(figment, &mut errors);
    let metrics_listen = server::read_metrics(figment, &mut errors);
    match (server, routes, oidc, session) {
        (Some(server), Some(routes), Some(oidc), Some(session)) if errors.is_empty() => {
            Ok(Settings {
                server,
                routes,
                oidc,
                session,
                identity,
                assertion,
                alb,
                bearer,
                log,
                metrics_listen,
                ignored_env: Vec::new(),
            })
        }
        _ => Err(ConfigErrors(errors)),
    }
}

#[cfg(test)]
mod tests;
