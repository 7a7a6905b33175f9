//! One mapping from a request that does not go through to its response, for every surface that
//! answers one: the proxy, forward-auth and `/oauth2/userinfo`. The surfaces differ only where
//! their clients do: who may be sent to sign in, and whether a refusal is a page or JSON.

use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, AUTHORIZATION};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use super::access::Refusal;
use super::auth::begin_login_at;
use super::error::with_cookies;
use super::{AppState, GatewayError, SIGN_OUT_PATH, START_PATH, error, escape_html, redirect};
use crate::identity::IdentityHeaders;
use crate::policy::{AuthFailure, CanonicalPath};
use crate::redirect::safe_target;

/// Where a refused request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Surface {
    /// A request for the app: browsers loading a page are sent to sign in; a refusal by the
    /// rules is a page for browsers, JSON for others.
    Proxy,
    /// A forward-auth check: browsers are sent to sign in only when the proxy asks for it
    /// (`?redirect=true`, Traefik), since the answer is otherwise the proxy's to act on; a
    /// refusal is always JSON.
    ForwardAuth { redirect: bool },
    /// `/oauth2/userinfo`: an API, never a redirect.
    UserInfo,
}

/// What was asked: the original request's method, headers, target (path and query, where a
/// sign-in returns to) and canonical path; and, when its route's host signs in on the public
/// URL's host rather than its own, its authority (`host[:port]`).
pub(super) struct Asked<'a> {
    pub(super) method: &'a Method,
    pub(super) headers: &'a HeaderMap,
    pub(super) target: &'a str,
    pub(super) path: Option<&'a CanonicalPath>,
    pub(super) elsewhere: Option<&'a str>,
}

impl Asked<'_> {
    /// Where the gateway's own pages are, seen from the page asked for: its own host (relative
    /// links), or the public URL's.
    fn gateway<'s>(&self, app: &'s AppState) -> &'s str {
        match self.elsewhere {
            Some(_) => &app.0.settings.server.public_origin,
            None => "",
        }
    }

    /// `path` (and query) on the host asked for, as a browser on the gateway's pages must be
    /// sent back to it: relative on the same host, absolute from the public URL's.
    fn back_to(&self, app: &AppState, path: &str) -> String {
        match self.elsewhere {
            Some(authority) => format!(
                "{}://{authority}{path}",
                app.0.settings.server.public_scheme
            ),
            None => path.to_string(),
        }
    }
}

/// Whether a browser is loading a page (`GET` or `HEAD`, accepting HTML, with no
/// `Authorization` header): the requests that are sent to sign in rather than refused with 401.
/// A client that presents credentials of its own is never sent to a sign-in page.
pub(super) fn is_page_load(method: &Method, headers: &HeaderMap) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && accepts_html(headers)
        && !headers.contains_key(AUTHORIZATION)
}

/// Whether the request comes from a browser page (it accepts HTML).
pub(super) fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// `value` percent-encoded for a query string.
fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The response to `refusal` on `surface`, with the refusal's `Set-Cookie` values.
/// `identity` is the route's identity headers the decision was made with: the 403 page names
/// the user by them.
pub(super) fn refused(
    app: &AppState,
    identity: &IdentityHeaders,
    surface: Surface,
    asked: &Asked<'_>,
    refusal: Refusal,
) -> Response {
    let (response, cookies) = match refusal {
        Refusal::Failed(failure) => (failed(failure), Vec::new()),
        Refusal::SignIn { cookies } => {
            let may_redirect = match surface {
                Surface::Proxy => true,
                Surface::ForwardAuth { redirect } => redirect,
                Surface::UserInfo => false,
            };
            let response = if !may_redirect || !is_page_load(asked.method, asked.headers) {
                GatewayError::Unauthorized.into_response()
            } else if asked.elsewhere.is_some() {
                // Sign-in state is kept on the public URL's host, where the callback lands: the
                // browser starts there, and comes back to this very URL.
                let back = asked.back_to(app, &safe_target(Some(asked.target)));
                redirect(&format!(
                    "{}{START_PATH}?rd={}",
                    asked.gateway(app),
                    query_value(&back)
                ))
            } else {
                begin_login_at(app, asked.headers, safe_target(Some(asked.target)))
            };
            (response, cookies)
        }
        Refusal::Forbidden {
            claims,
            cookies,
            scope,
        } => {
            let response = if scope {
                GatewayError::InsufficientScope.into_response()
            } else if surface == Surface::Proxy {
                forbidden(app, identity, asked, claims.as_deref().map(|c| &**c))
            } else {
                GatewayError::Forbidden.into_response()
            };
            (response, cookies)
        }
    };
    with_cookies(response, cookies)
}

/// The response when authentication failed.
fn failed(failure: AuthFailure) -> Response {
    match failure {
        AuthFailure::BadToken => GatewayError::InvalidToken,
        AuthFailure::StoreUnavailable => GatewayError::StoreUnavailable,
        AuthFailure::IssuerUnavailable => GatewayError::IssuerUnavailable,
    }
    .into_response()
}

/// A request refused by the rules: a page saying who the user is and how to sign in as someone
/// else for browsers, JSON for API clients.
fn forbidden(
    app: &AppState,
    identity: &IdentityHeaders,
    asked: &Asked<'_>,
    claims: Option<&Map<String, Value>>,
) -> Response {
    if !accepts_html(asked.headers) {
        return GatewayError::Forbidden.into_response();
    }
    let who = claims.map(|claims| {
        [
            "x-forwarded-email",
            "x-forwarded-preferred-username",
            "x-forwarded-user",
        ]
        .iter()
        .find_map(|h| {
            identity
                .mapping(h)
                .and_then(|m| m.values(claims).into_iter().next())
        })
        .unwrap_or_default()
    });
    let gateway = asked.gateway(app);
    let path = asked.path.map_or("/", CanonicalPath::as_str);
    let back = asked.back_to(app, path);
    let retry = query_value(&format!("{gateway}{START_PATH}?rd={}", query_value(&back)));
    let body = match who {
        Some(who) => format!(
            "<p>You are signed in as <strong>{}</strong>, and this account may not open this page.</p>\
             <p><a href=\"{}\">Sign in as someone else</a> \
             or <a href=\"{}\">sign out</a>.</p>",
            escape_html(&who),
            escape_html(&format!("{gateway}{SIGN_OUT_PATH}?rd={retry}")),
            escape_html(&format!("{gateway}{SIGN_OUT_PATH}")),
        ),
        None => "<p>This page is not available.</p>".to_string(),
    };
    error::html_page(StatusCode::FORBIDDEN, "Access denied", &body)
}
