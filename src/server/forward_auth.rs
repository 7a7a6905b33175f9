//! Forward-auth for an ingress already in place (nginx `auth_request`, Traefik `forwardAuth`,
//! Envoy `ext_authz`): the proxy asks `/oauth2/auth` about each request and forwards it only on
//! a 2xx, copying the identity headers it got back.
//!
//! The original method, host and URI come from `X-Forwarded-Method` / `X-Original-Method`,
//! `X-Forwarded-Host`, and `X-Forwarded-Uri` / `X-Original-URI` / `X-Original-URL`, believed
//! only from `[server] trusted_proxies` (which must overwrite every one of them); or, for Envoy's
//! `path_prefix`, from the request itself (`/oauth2/auth/<original path>`, its own `Host`). The
//! host and path choose the route whose rules and headers answer; a request no route covers is
//! refused with 403, the one refusal every proxy passes on as such.
//!
//! Allowed requests get 202, except in the path-prefix form, which gets 200: Envoy's HTTP
//! authorization service lets a request through on exactly 200.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use super::access::{self, Access};
use super::error::with_cookies;
use super::respond::{self, Asked, Surface};
use super::{AppState, FORWARD_AUTH_PATH, GatewayError};
use crate::policy::CanonicalPath;
use crate::route::{is_authority, request_authority, route_name};

/// Response headers for the proxy, and the identity mapping each is read from.
const AUTH_REQUEST_HEADERS: [(&str, &str); 4] = [
    ("x-auth-request-user", "x-forwarded-user"),
    ("x-auth-request-email", "x-forwarded-email"),
    ("x-auth-request-groups", "x-forwarded-groups"),
    (
        "x-auth-request-preferred-username",
        "x-forwarded-preferred-username",
    ),
];

/// `/oauth2/auth` and `/oauth2/auth/<path>`, any method.
pub(super) async fn forward_auth(State(app): State<AppState>, req: Request<Body>) -> Response {
    let trusted = super::peer(&req).is_some_and(|p| app.0.settings.server.trusts(p.ip()));
    let Some((method, target, prefixed)) = original_request(&req, trusted) else {
        // A trusted proxy named the request in a way that cannot be read: no guessing.
        return GatewayError::BadPath.into_response();
    };
    let path_only = target.split('?').next().unwrap_or("/");
    let path = match CanonicalPath::parse(path_only) {
        Ok(p) => p,
        Err(_) => return GatewayError::BadPath.into_response(),
    };
    let headers = req.headers();
    let Some(authority) = original_authority(&req, trusted && !prefixed) else {
        return GatewayError::BadHost.into_response();
    };
    let name = route_name(authority);
    let live = app.live();
    let Some(route) = live.routes.choose(&name, &path) else {
        tracing::info!(host = %name, path = path.as_str(), "forward-auth: no route covers the request");
        return GatewayError::Forbidden.into_response();
    };
    match access::decide(&app, route, &method, &path, headers).await {
        Access::Allowed {
            claims,
            until,
            session,
            cookies,
        } => {
            let status = if prefixed {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            let mut response = status.into_response();
            if let Some(claims) = &claims {
                let identity = &route.identity;
                let out = response.headers_mut();
                for (name, mapping) in AUTH_REQUEST_HEADERS {
                    if let Some(v) = identity.mapping(mapping).and_then(|m| m.value(claims)) {
                        out.insert(HeaderName::from_static(name), v);
                    }
                }
                identity.apply(claims, out);
                let bearer =
                    crate::oidc::bearer_token(headers).and_then(|t| std::str::from_utf8(t).ok());
                let who = super::tokens::Credentials {
                    claims,
                    session: session.as_deref(),
                    bearer,
                    until,
                };
                super::tokens::apply(&app, route, &who, out);
            }
            with_cookies(response, cookies)
        }
        Access::Refused(refusal) => {
            // `?redirect=true` (Traefik, which returns this answer to the browser as it is):
            // browsers are sent to sign in and come back to the original URI.
            let redirect = req.uri().query().is_some_and(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .any(|(k, v)| k == "redirect" && v == "true")
            });
            let asked = Asked {
                method: &method,
                headers,
                target: &target,
                path: Some(&path),
                elsewhere: live.signs_in_elsewhere(route, &name).then_some(authority),
            };
            respond::refused(
                &app,
                &route.identity,
                Surface::ForwardAuth { redirect },
                &asked,
                refusal,
            )
        }
    }
}

/// The authority (`host[:port]`) the proxy is asking about: a trusted proxy's
/// `X-Forwarded-Host`, else the request's own `Host`; `None` when it cannot be read one way.
fn original_authority(req: &Request<Body>, trusted: bool) -> Option<&str> {
    let forwarded = trusted
        .then(|| req.headers().get("x-forwarded-host"))
        .flatten();
    match forwarded {
        // One plain `host[:port]`, as a Host header must be (not a list of them).
        Some(host) => host.to_str().ok().filter(|h| is_authority(h)),
        None => request_authority(req.uri(), req.headers()).ok(),
    }
}

/// The method and URI (path and query) the proxy is asking about, and whether they came in the
/// path-prefix form; `None` when a trusted proxy's headers cannot be read.
fn original_request(req: &Request<Body>, trusted: bool) -> Option<(Method, String, bool)> {
    let own_path = req.uri().path();
    if let Some(rest) = own_path
        .strip_prefix(FORWARD_AUTH_PATH)
        .filter(|r| r.starts_with('/'))
    {
        let target = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        return Some((req.method().clone(), target, true));
    }
    if !trusted {
        return Some((req.method().clone(), own_path.to_string(), false));
    }
    // The first of `names` present; unreadable (non-ASCII, empty) is an error, not absence.
    let header = |names: &[&str]| -> Result<Option<String>, ()> {
        match names.iter().find_map(|n| req.headers().get(*n)) {
            None => Ok(None),
            Some(v) => match v.to_str() {
                Ok(s) if !s.is_empty() => Ok(Some(s.to_string())),
                _ => Err(()),
            },
        }
    };
    let method = match header(&["x-forwarded-method", "x-original-method"]).ok()? {
        Some(m) => Method::from_bytes(m.as_bytes()).ok()?,
        None => req.method().clone(),
    };
    let target = match header(&["x-forwarded-uri", "x-original-uri"]).ok()? {
        Some(uri) => uri,
        // A full URL: only its path and query matter.
        None => match header(&["x-original-url"]).ok()? {
            Some(u) => {
                let url = url::Url::parse(&u).ok()?;
                match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                }
            }
            None => own_path.to_string(),
        },
    };
    // A raw '#' is read as the end of the path by some servers and not by others.
    if target.contains('#') {
        return None;
    }
    Some((method, target, false))
}
