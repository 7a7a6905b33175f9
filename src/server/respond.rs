//! One mapping from a request that does not go through to its response, for every surface that
//! answers one: the proxy, forward-auth and `/oauth2/userinfo`. The surfaces differ only where
//! their clients do: who may be sent to sign in, and whether a refusal is a page or JSON.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value};

use super::access::Refusal;
use super::auth::{accepts_html, begin_login_at, is_page_load, with_cookies};
use super::{AppState, GatewayError, Live, SIGN_OUT_PATH, START_PATH, error, escape_html};
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
/// sign-in returns to) and canonical path.
pub(super) struct Asked<'a> {
    pub(super) method: &'a Method,
    pub(super) headers: &'a HeaderMap,
    pub(super) target: &'a str,
    pub(super) path: Option<&'a CanonicalPath>,
}

/// The response to `refusal` on `surface`, with the refusal's `Set-Cookie` values.
/// `live` is the generation of the rules and headers the decision was made with: the 403 page
/// names the user by them.
pub(super) fn refused(
    app: &AppState,
    live: &Live,
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
            let response = if may_redirect && is_page_load(asked.method, asked.headers) {
                begin_login_at(app, asked.headers, safe_target(Some(asked.target)))
            } else {
                GatewayError::Unauthorized.into_response()
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
                let path = asked.path.map_or("/", CanonicalPath::as_str);
                forbidden(live, asked.headers, claims.as_deref().map(|c| &**c), path)
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
    live: &Live,
    headers: &HeaderMap,
    claims: Option<&Map<String, Value>>,
    path: &str,
) -> Response {
    if !accepts_html(headers) {
        return GatewayError::Forbidden.into_response();
    }
    let who = claims.map(|claims| {
        let identity = &live.identity;
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
    let retry: String = url::form_urlencoded::byte_serialize(
        format!(
            "{START_PATH}?rd={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        )
        .as_bytes(),
    )
    .collect();
    let body = match who {
        Some(who) => format!(
            "<p>You are signed in as <strong>{}</strong>, and this account may not open this page.</p>\
             <p><a href=\"{SIGN_OUT_PATH}?rd={retry}\">Sign in as someone else</a> \
             or <a href=\"{SIGN_OUT_PATH}\">sign out</a>.</p>",
            escape_html(&who)
        ),
        None => "<p>This page is not available.</p>".to_string(),
    };
    error::html_page(StatusCode::FORBIDDEN, "Access denied", &body)
}
