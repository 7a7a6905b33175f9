//! Routing: which app a request is for, by its host and its canonical path.
//!
//! Each route (`[[routes]]`, or the one route `[upstream]` stands for) names an upstream, an
//! optional host (exact, or `*.` and one label more), and a path prefix matched segment by
//! segment on the canonical path, never on the raw one. A request goes to a route of its exact
//! host if one covers its path, else to a wildcard route of it, else to a route without host;
//! within each of those, the longest prefix wins. A request no route covers reaches no app.
//!
//! A route carries everything the rest of the request's path needs: its rules (whose paths
//! were joined to the route's prefix when the configuration was read), its identity headers
//! (the global ones, with the route's own added or replacing them), its upstream, and its
//! request counters.

mod host;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName};

pub use host::{HostError, HostPattern, is_authority, parent, request_authority, route_name};

use crate::assertion::Audience;
use crate::identity::{HeaderMapping, IdentityHeaders};
use crate::metrics::RequestCounter;
use crate::policy::{CanonicalPath, PathPattern, Policy};
use crate::proxy::{Upstream, UpstreamSettings};

/// Most routes a configuration may have.
pub const MAX_ROUTES: usize = 1000;

/// The token a route sends its app in `Authorization: Bearer` (`authorization`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AppAuthorization {
    /// None: the client's `Authorization` goes on as it came.
    #[default]
    None,
    /// The session's ID token (a bearer request's own token).
    IdToken,
    /// The session's access token (a bearer request's own token).
    AccessToken,
}

/// One route, as configured.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    /// Unique; its `route` label in logs and metrics.
    pub name: String,
    /// Where it is configured (`routes[2]`, or `upstream`), for messages about it.
    pub key: String,
    /// The `aud` of the assertions its app gets.
    pub audience: String,
    /// The host it serves; `None` for any.
    pub host: Option<HostPattern>,
    /// The path prefix it serves (literal segments only).
    pub path: PathPattern,
    /// The app behind it.
    pub upstream: UpstreamSettings,
    /// Send the path without `path`.
    pub strip_prefix: bool,
    /// Send the access token in `X-Forwarded-Access-Token`.
    pub pass_access_token: bool,
    /// The token sent in `Authorization`.
    pub authorization: AppAuthorization,
    /// Send the ALB-style `x-amzn-oidc-*` headers.
    pub alb_headers: bool,
    /// Its rules (paths already under `path`) and what unmatched requests get.
    pub policy: Policy,
    /// Its own identity headers, added to the global ones (replacing those of the same name).
    pub headers: Vec<HeaderMapping>,
}

/// A route ready to serve requests.
#[derive(Debug)]
pub struct Route {
    /// Its name, the `route` label.
    pub name: String,
    /// The host it serves; `None` for any.
    pub host: Option<HostPattern>,
    /// Its path prefix.
    pub path: PathPattern,
    strip_prefix: bool,
    /// Send the access token in `X-Forwarded-Access-Token`.
    pub pass_access_token: bool,
    /// The token sent in `Authorization`.
    pub authorization: AppAuthorization,
    /// Send the ALB-style `x-amzn-oidc-*` headers.
    pub alb_headers: bool,
    /// Its rules.
    pub policy: Policy,
    /// The identity headers its app receives.
    pub identity: IdentityHeaders,
    /// The `aud` of the assertions its app gets.
    pub audience: Audience,
    /// Its app.
    pub upstream: Upstream,
    /// `portcullis_requests_total{route=<name>}`; shared, so that a request counts once it is
    /// answered even if a reload has replaced the route meanwhile.
    pub requests: Arc<RequestCounter>,
}

impl RouteSettings {
    /// Whether the route sends its app the session's access token: sessions must keep it.
    pub fn needs_access_token(&self) -> bool {
        self.pass_access_token
            || self.alb_headers
            || self.authorization == AppAuthorization::AccessToken
    }
}

impl Route {
    /// Whether the route sends its app a token (in `X-Forwarded-Access-Token` or
    /// `Authorization`).
    pub fn passes_tokens(&self) -> bool {
        self.pass_access_token || self.alb_headers || self.authorization != AppAuthorization::None
    }

    /// The path its app gets for `path`: the canonical path, without the route's prefix when
    /// the route strips it.
    pub fn upstream_path<'p>(&self, path: &'p CanonicalPath) -> &'p str {
        if self.strip_prefix {
            path.without_segments(self.path.segments())
        } else {
            path.as_str()
        }
    }
}

/// Every route, indexed for choosing one per request without trying them all.
#[derive(Debug)]
pub struct Routes {
    routes: Vec<Route>,
    /// Routes by exact host, longest prefix first.
    exact: HashMap<String, Vec<usize>>,
    /// Wildcard routes by their domain (`example.com` for `*.example.com`), longest prefix first.
    wildcard: HashMap<String, Vec<usize>>,
    /// Routes without host, longest prefix first.
    any: Vec<usize>,
    /// Every identity header any route manages: a client's copy of each is removed on every
    /// route, since two routes may front the same app.
    managed: IdentityHeaders,
}

impl Routes {
    /// The routes of `settings`, with the `global` identity headers; `also_managed` are other
    /// headers the gateway sets (the assertion's), stripped from every client request too.
    /// WebSocket tunnels close after `idle`, and apps are told the public scheme is
    /// `public_scheme`.
    pub fn new(
        settings: &[RouteSettings],
        global: &IdentityHeaders,
        also_managed: &[HeaderName],
        idle: Duration,
        public_scheme: &str,
    ) -> Self {
        let mut managed = global.also_stripping(also_managed);
        let mut routes = Vec::with_capacity(settings.len());
        for s in settings {
            managed = managed.merged(&s.headers);
            routes.push(Route {
                name: s.name.clone(),
                host: s.host.clone(),
                path: s.path.clone(),
                strip_prefix: s.strip_prefix,
                pass_access_token: s.pass_access_token,
                authorization: s.authorization,
                alb_headers: s.alb_headers,
                policy: s.policy.clone(),
                identity: global.merged(&s.headers),
                audience: Audience::new(&s.audience),
                upstream: Upstream::new(s.upstream.clone(), idle, public_scheme),
                requests: Arc::new(RequestCounter::register(&s.name)),
            });
        }
        let (mut exact, mut wildcard, mut any) = (HashMap::new(), HashMap::new(), Vec::new());
        for (i, route) in routes.iter().enumerate() {
            let list = match &route.host {
                Some(HostPattern::Exact(h)) => exact.entry(h.clone()).or_insert_with(Vec::new),
                Some(HostPattern::Wildcard(d)) => {
                    wildcard.entry(d.clone()).or_insert_with(Vec::new)
                }
                None => &mut any,
            };
            list.push(i);
        }
        let longest_first = |list: &mut Vec<usize>| {
            list.sort_by_key(|&i| std::cmp::Reverse(routes[i].path.segments()))
        };
        exact.values_mut().for_each(longest_first);
        wildcard.values_mut().for_each(longest_first);
        longest_first(&mut any);
        Self {
            routes,
            exact,
            wildcard,
            any,
            managed,
        }
    }

    /// The route for a request to host `name` (as [`route_name`] gives it) and `path`.
    pub fn choose(&self, name: &str, path: &CanonicalPath) -> Option<&Route> {
        let exact = self.exact.get(name);
        let wildcard = parent(name).and_then(|domain| self.wildcard.get(domain));
        exact
            .into_iter()
            .chain(wildcard)
            .chain(std::iter::once(&self.any))
            .flatten()
            .map(|&i| &self.routes[i])
            .find(|route| route.path.matches(path))
    }

    /// Every route, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Removes from a client's request every header any route manages.
    pub fn strip(&self, headers: &mut HeaderMap) {
        self.managed.strip(headers);
    }
}

/// One line for `check`: the route's name, host, path, app and rules.
pub fn describe(route: &RouteSettings) -> String {
    let host = route
        .host
        .as_ref()
        .map_or_else(|| "any host".to_string(), ToString::to_string);
    let mut notes = vec![format!("{} rules", route.policy.rules.len())];
    if route.policy.default == crate::policy::DefaultAction::Deny {
        notes.push("default deny".into());
    }
    if route.strip_prefix {
        notes.push("strips its prefix".into());
    }
    if !route.headers.is_empty() {
        notes.push(format!("{} own headers", route.headers.len()));
    }
    format!(
        "route {}: {host} {} -> http://{} ({})",
        route.name,
        route.path.as_str(),
        route.upstream.origin,
        notes.join(", ")
    )
}

/// What `check` and a start or reload warn of in `routes`: a route another one always takes
/// first, a route whose path the gateway answers itself (`owned`: its own paths), and rules
/// that never match.
pub fn lint(routes: &[RouteSettings], owned: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let table = Routes::new(
        routes,
        &IdentityHeaders::with_defaults(Vec::new()),
        &[],
        Duration::from_secs(1),
        "http",
    );
    for route in routes {
        // A request that only this route should take: its own host (a name under a wildcard),
        // its own prefix.
        let at = &route.key;
        let name = match &route.host {
            Some(HostPattern::Exact(h)) => h.clone(),
            Some(HostPattern::Wildcard(d)) => format!("portcullis-probe.{d}"),
            None => "portcullis-probe.invalid".to_string(),
        };
        if let Ok(path) = CanonicalPath::parse(route.path.as_str()) {
            if let Some(other) = table.choose(&name, &path).filter(|r| r.name != route.name) {
                out.push(format!(
                    "{at} ({}): unreachable: route {:?} takes every request it would",
                    route.name, other.name
                ));
            }
        }
        let prefix = route.path.as_str().trim_end_matches('/');
        if let Some(path) = owned.iter().find(|p| **p == prefix) {
            out.push(format!(
                "{at} ({}): the gateway answers {path} itself; this route gets only the paths below it",
                route.name
            ));
        }
        // `[upstream]`'s rules are the top-level `[[rules]]`.
        let rules = match at.as_str() {
            "upstream" => "rules".to_string(),
            _ => format!("{at}.rules"),
        };
        out.extend(route.policy.lint(&rules));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::DefaultAction;
    use http::HeaderValue;
    use http::uri::Authority;

    fn route(name: &str, host: Option<&str>, path: &str) -> RouteSettings {
        RouteSettings {
            name: name.to_string(),
            key: format!("routes[{name}]"),
            audience: "http://127.0.0.1:8080".into(),
            host: host.map(|h| HostPattern::parse(h).unwrap()),
            path: PathPattern::parse(path).unwrap(),
            upstream: UpstreamSettings {
                origin: Authority::from_static("127.0.0.1:8080"),
                host: HeaderValue::from_static("127.0.0.1:8080"),
                timeout: Duration::from_secs(1),
                connect_timeout: Duration::from_secs(1),
                preserve_host: false,
                forwarded_host: None,
            },
            strip_prefix: false,
            pass_access_token: false,
            authorization: AppAuthorization::None,
            alb_headers: false,
            policy: Policy::new(
                Vec::new(),
                DefaultAction::Authenticated,
                Policy::default_role_sources(),
            ),
            headers: Vec::new(),
        }
    }

    fn table() -> Vec<RouteSettings> {
        vec![
            route("main", None, "/"),
            route("grafana", None, "/grafana"),
            route("grafana-api", None, "/grafana/api"),
            route("wiki", Some("wiki.example.com"), "/"),
            route("wiki-admin", Some("wiki.example.com"), "/admin"),
            route("tenants", Some("*.example.com"), "/"),
            route("tenant-docs", Some("*.example.com"), "/docs"),
            route("docs-only", Some("docs.example.com"), "/docs"),
        ]
    }

    #[test]
    fn exact_beats_wildcard_beats_any_and_the_longest_prefix_wins() {
        let routes = Routes::new(
            &table(),
            &IdentityHeaders::with_defaults(Vec::new()),
            &[],
            Duration::from_secs(1),
            "https",
        );
        for (host, path, want) in [
            ("app.internal", "/", Some("main")),
            ("app.internal", "/grafana", Some("grafana")),
            ("app.internal", "/grafana/", Some("grafana")),
            ("app.internal", "/grafana/d/1", Some("grafana")),
            ("app.internal", "/grafana/api/x", Some("grafana-api")),
            ("app.internal", "/grafanax", Some("main")),
            ("app.internal", "/grafana;x=1/api", Some("grafana-api")),
            ("app.internal", "/grafana/../admin", Some("main")),
            ("app.internal", "/x/../grafana/api", Some("grafana-api")),
            ("wiki.example.com", "/", Some("wiki")),
            ("wiki.example.com", "/admin/users", Some("wiki-admin")),
            ("wiki.example.com", "/administrator", Some("wiki")),
            ("wiki.example.com", "/docs", Some("wiki")),
            ("a.example.com", "/", Some("tenants")),
            ("a.example.com", "/docs/x", Some("tenant-docs")),
            ("a.b.example.com", "/", Some("main")),
            ("example.com", "/", Some("main")),
            // An exact host whose routes do not cover the path falls to the wildcard.
            ("docs.example.com", "/docs", Some("docs-only")),
            ("docs.example.com", "/other", Some("tenants")),
        ] {
            let path = CanonicalPath::parse(path).unwrap();
            assert_eq!(
                routes.choose(host, &path).map(|r| r.name.as_str()),
                want,
                "{host} {}",
                path.as_str()
            );
        }
        let only_hosts = Routes::new(
            &table()[3..],
            &IdentityHeaders::with_defaults(Vec::new()),
            &[],
            Duration::from_secs(1),
            "https",
        );
        let root = CanonicalPath::parse("/").unwrap();
        assert!(only_hosts.choose("app.internal", &root).is_none());
        assert!(only_hosts.choose("example.com", &root).is_none());
    }

    #[test]
    fn stripped_prefixes() {
        let mut s = route("grafana", None, "/grafana");
        s.strip_prefix = true;
        let routes = Routes::new(
            &[s],
            &IdentityHeaders::with_defaults(Vec::new()),
            &[],
            Duration::from_secs(1),
            "https",
        );
        let route = routes.iter().next().unwrap();
        for (path, want) in [
            ("/grafana/api/x", "/api/x"),
            ("/grafana", "/"),
            ("/grafana/", "/"),
        ] {
            let path = CanonicalPath::parse(path).unwrap();
            assert_eq!(route.upstream_path(&path), want);
        }
    }

    #[test]
    fn lint_names_unreachable_routes_and_owned_paths() {
        let mut routes = table();
        routes.push(route("auth-shadow", None, "/oauth2/start"));
        let warnings = lint(&routes, &["/oauth2/start", "/healthz"]).join("\n");
        assert!(
            warnings
                .contains("routes[auth-shadow] (auth-shadow): the gateway answers /oauth2/start"),
            "{warnings}"
        );
        assert!(!warnings.contains("unreachable"), "{warnings}");
    }
}
