//! `/oauth2/userinfo`: who the session (or bearer token) belongs to, as JSON, by the global
//! identity headers: what the app would be told. A request without an identity is answered by
//! the one mapping of refusals, as an API (never a redirect).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::access::Refusal;
use super::error::with_cookies;
use super::respond::{Asked, Surface, refused};
use super::{AppState, USERINFO_PATH};
use crate::authn::Authn;

/// `GET /oauth2/userinfo`: who the session (or bearer token) belongs to, as the upstream sees it.
pub(super) async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let (claims, expires_at, cookies) = match app.0.authn.authenticate(&headers).await {
        Authn::SignedIn { session, cookies } => {
            let ends = session.ends_at(app.0.settings.session.idle_timeout);
            (session.claims.clone(), ends, cookies)
        }
        Authn::Bearer(token) => {
            let exp = token.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
            (token.claims, exp, Vec::new())
        }
        Authn::Anonymous { cookies } => {
            return userinfo_refused(&app, &method, &headers, Refusal::SignIn { cookies });
        }
        Authn::Failed(failure) => {
            return userinfo_refused(&app, &method, &headers, Refusal::Failed(failure));
        }
    };
    let live = app.live();
    let identity = &live.identity;
    let values = |header: &str| {
        identity
            .mapping(header)
            .map(|m| m.values(&claims))
            .unwrap_or_default()
    };
    let first = |header: &str| values(header).into_iter().next();
    let body = Json(serde_json::json!({
        "user": first("x-forwarded-user"),
        "email": first("x-forwarded-email"),
        "preferred_username": first("x-forwarded-preferred-username"),
        "groups": values("x-forwarded-groups"),
        "expires_at": expires_at,
    }));
    with_cookies(body.into_response(), cookies)
}

/// The answer of `/oauth2/userinfo` to a request without an identity.
fn userinfo_refused(
    app: &AppState,
    method: &Method,
    headers: &HeaderMap,
    refusal: Refusal,
) -> Response {
    let asked = Asked {
        method,
        headers,
        target: USERINFO_PATH,
        path: None,
        elsewhere: None,
    };
    refused(
        app,
        &app.live().identity,
        Surface::UserInfo,
        &asked,
        refusal,
    )
}
