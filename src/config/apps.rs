//! The apps: `[upstream]` with `[[rules]]` (one app), or `[[routes]]`; and what every route
//! shares, `[[headers]]` and `[policy]`.

use std::collections::BTreeMap;
use std::time::Duration;

use figment::Figment;
use serde::Deserialize;
use url::Url;

use super::read::{OneOrMany, duration, lenient_bool, lenient_string, section};
use super::server::ServerSettings;
use crate::identity::{ClaimPath, ClaimSource, HeaderMapping, IdentityHeaders};
use crate::policy::{CanonicalPath, DefaultAction, PathPattern, Policy, Rule};
use crate::proxy::UpstreamSettings;
use crate::route::{AppAuthorization, HostPattern, MAX_ROUTES, RouteSettings};
use crate::session::SessionSettings;

/// Default time the upstream has to send response headers.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time allowed to open a connection to the upstream.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `route` label of the one route `[upstream]` stands for: what proxied requests were
/// labelled before there were routes.
pub const UPSTREAM_ROUTE_NAME: &str = "proxy";

/// `route` labels the gateway gives requests of its own, or requests no route took: no route
/// may be named so.
pub(super) const RESERVED_ROUTE_NAMES: [&str; 3] = ["auth", "health", "none"];

/// Longest route name.
pub(super) const MAX_ROUTE_NAME_LEN: usize = 32;

#[derive(Default, Deserialize)]
pub(super) struct RawUpstream {
    #[serde(default, deserialize_with = "lenient_string")]
    url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    audience: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pass_access_token: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    authorization: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    alb_headers: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    connect_timeout: Option<String>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawRoute {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    host: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    path: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    upstream: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    audience: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pass_access_token: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    authorization: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    alb_headers: Option<bool>,
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
pub(super) struct RawHeader {
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    claim: Option<OneOrMany>,
    #[serde(default, deserialize_with = "lenient_string")]
    split: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    join: Option<String>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawPolicy {
    #[serde(default, deserialize_with = "lenient_string")]
    default: Option<String>,
    role_claims: Option<Vec<RawRoleClaim>>,
}

#[derive(Deserialize)]
pub(super) struct RawRoleClaim {
    claim: Option<OneOrMany>,
    #[serde(default, deserialize_with = "lenient_string")]
    split: Option<String>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawRule {
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

/// `[upstream]` and `[[rules]]`: one route, named [`UPSTREAM_ROUTE_NAME`], for every host and
/// path. It behaves as the gateway did before routes: the client's `Host` goes to the app, and
/// `X-Forwarded-Host` is the public URL's host.
pub(super) fn validate_upstream(
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
    let audience = audience(raw.audience, &url, "upstream.audience", errors)?;
    let authorization = app_authorization(raw.authorization, "upstream.authorization", errors);
    Some(RouteSettings {
        name: UPSTREAM_ROUTE_NAME.to_string(),
        key: "upstream".to_string(),
        audience,
        pass_access_token: raw.pass_access_token.unwrap_or(false),
        authorization,
        alb_headers: raw.alb_headers.unwrap_or(false),
        host: None,
        path: PathPattern::parse("/").ok()?,
        upstream,
        strip_prefix: false,
        policy,
        headers: Vec::new(),
    })
}

/// An upstream's URL and timeouts (`{key}.{url_key}`, `{key}.timeout`, `{key}.connect_timeout`).
pub(super) fn upstream_settings(
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
pub(super) fn validate_routes(
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
        let upstream = match &r.upstream {
            Some(url) => {
                upstream_settings(url, r.timeout, r.connect_timeout, &key, "upstream", errors)
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
        let audience = r
            .upstream
            .as_deref()
            .and_then(|url| audience(r.audience, url, &format!("{key}.audience"), errors));
        let authorization =
            app_authorization(r.authorization, &format!("{key}.authorization"), errors);
        let (Some(name), Some(path), Some(mut upstream), Some(audience)) =
            (name, path, upstream, audience)
        else {
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
            key,
            audience,
            pass_access_token: r.pass_access_token.unwrap_or(false),
            authorization,
            alb_headers: r.alb_headers.unwrap_or(false),
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
pub(super) fn route_path(text: &str) -> Result<PathPattern, String> {
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
pub(super) fn check_cookie_domain(
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
pub(super) fn public_host(server: &ServerSettings) -> HostPattern {
    HostPattern::Exact(crate::route::route_name(&server.public_host).into_owned())
}

/// Whether the session cookie reaches `host`: only the public URL's host without
/// `session.cookie_domain`, the domain and every host below it with one. A route host the
/// cookie never reaches would send its users through sign-in again and again.
pub(super) fn cookie_reaches(
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

/// Identity header mappings configured at `section` (`headers`, `routes[0].headers`).
pub(super) fn validate_headers(
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

/// A list condition of a rule: absent, or a non-empty list.
pub(super) fn condition(
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
pub(super) struct PolicyDefaults {
    default: DefaultAction,
    role_sources: Vec<ClaimSource>,
}

/// A `default` key's value.
pub(super) fn default_action(text: &str, key: &str, errors: &mut Vec<String>) -> DefaultAction {
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

pub(super) fn validate_policy(raw: RawPolicy, errors: &mut Vec<String>) -> PolicyDefaults {
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
pub(super) fn validate_rules(
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

/// The apps and what they share: the global identity headers, and the routes (`[upstream]`
/// with `[[rules]]` as one route, or `[[routes]]`; never both). `server` and `session` (when
/// they are valid) say which hosts the session cookie reaches.
pub(super) fn read(
    figment: &Figment,
    server: Option<&ServerSettings>,
    session: Option<&SessionSettings>,
    errors: &mut Vec<String>,
) -> (IdentityHeaders, Option<Vec<RouteSettings>>) {
    let present = |key: &str| figment.find_value(key).is_ok();
    let (has_upstream, has_routes, has_rules) =
        (present("upstream"), present("routes"), present("rules"));
    let upstream: RawUpstream = section(figment, "upstream", errors);
    let routes: Vec<RawRoute> = section(figment, "routes", errors);
    let headers: Vec<RawHeader> = section(figment, "headers", errors);
    let policy: RawPolicy = section(figment, "policy", errors);
    let rules: Vec<RawRule> = section(figment, "rules", errors);
    let identity = IdentityHeaders::with_defaults(validate_headers(headers, "headers", errors));
    let defaults = validate_policy(policy, errors);
    let routes = match (has_upstream, has_routes) {
        (true, true) => {
            errors.push(
                "routes: a configuration has either [upstream] (one app) or [[routes]], not both"
                    .into(),
            );
            None
        }
        (_, false) => {
            let rules = validate_rules(rules, "rules", None, errors);
            let policy = Policy::new(rules, defaults.default, defaults.role_sources.clone());
            validate_upstream(upstream, server, policy, errors).map(|r| vec![r])
        }
        (false, true) => {
            if has_rules {
                errors.push(
                    "rules: with [[routes]], each route has its own `rules`; top-level [[rules]] apply to [upstream] only"
                        .into(),
                );
            }
            Some(validate_routes(
                routes,
                &defaults,
                server.zip(session),
                errors,
            ))
        }
    };
    if let (Some(server), Some(session)) = (server, session) {
        check_cookie_domain(server, session, errors);
    }
    (identity, routes)
}

/// A route's `audience` (the `aud` of its assertions): as configured, or its upstream's origin
/// (`http://127.0.0.1:8081`), which names the app the assertion is for.
fn audience(
    configured: Option<String>,
    upstream: &str,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match configured {
        Some(text) if text.trim().is_empty() || text.chars().any(char::is_control) => {
            errors.push(format!(
                "{key}: must be a non-empty name of the app, like \"https://wiki.internal\""
            ));
            None
        }
        Some(text) => Some(text.trim().to_string()),
        None => Some(
            Url::parse(upstream.trim())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|_| upstream.trim().to_string()),
        ),
    }
}

/// A route's `authorization`: the token its app gets as `Authorization: Bearer`.
fn app_authorization(
    text: Option<String>,
    key: &str,
    errors: &mut Vec<String>,
) -> AppAuthorization {
    match text.as_deref().map(str::trim) {
        None | Some("none") => AppAuthorization::None,
        Some("id_token") => AppAuthorization::IdToken,
        Some("access_token") => AppAuthorization::AccessToken,
        Some(other) => {
            errors.push(format!(
                "{key}: {other:?} is not \"none\", \"id_token\" or \"access_token\""
            ));
            AppAuthorization::None
        }
    }
}
