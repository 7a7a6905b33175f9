//! What the app is told of who is asking, beyond the identity headers: the signed assertion,
//! and the tokens for the app: the session's access token in `X-Forwarded-Access-Token`
//! (`pass_access_token`), and the ID or access token as `Authorization: Bearer`
//! (`authorization`), and the ALB-style `x-amzn-oidc-*` headers (`alb_headers`). A bearer
//! request passes its own token. The session keeps the access token only when a route passes it
//! on, and it is refreshed with the session: the app never receives an expired one from a live
//! session.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::AppState;
use crate::assertion::Alb;
use crate::identity::Claims;
use crate::oidc::now_secs;
use crate::route::{AppAuthorization, Route};
use crate::session::Session;

/// The access token header (oauth2-proxy's name, which apps already read).
const X_FORWARDED_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-forwarded-access-token");

/// Sets the tokens `route` passes to its app in `headers`: the session's, or the bearer
/// request's own `bearer` token. Client copies are gone already (`X-Forwarded-Access-Token` is
/// a managed header); the client's `Authorization` is replaced on a route that sets it.
fn pass(route: &Route, session: Option<&Session>, bearer: Option<&str>, headers: &mut HeaderMap) {
    if !route.passes_tokens() {
        return;
    }
    let (id_token, access_token) = match session {
        Some(s) => (Some(s.id_token.as_str()), s.access_token.as_deref()),
        None => (bearer, bearer),
    };
    if route.pass_access_token {
        if let Some(value) = access_token.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(X_FORWARDED_ACCESS_TOKEN, value);
        }
    }
    let chosen = match route.authorization {
        AppAuthorization::None => return,
        AppAuthorization::IdToken => id_token,
        AppAuthorization::AccessToken => access_token,
    };
    headers.remove(AUTHORIZATION);
    if let Some(value) = chosen.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        headers.insert(AUTHORIZATION, value);
    }
}

/// Who a request is, for the headers that say so: its claims, its session (or its own bearer
/// token), and when the identity ends (Unix seconds).
pub(super) struct Credentials<'a> {
    pub(super) claims: &'a Claims,
    pub(super) session: Option<&'a Session>,
    pub(super) bearer: Option<&'a str>,
    pub(super) until: u64,
}

/// Sets what `route`'s app is told of `who` beyond the identity headers: the signed assertion
/// (with `[assertion]`), the tokens it passes on, and ALB's headers (with `alb_headers`).
pub(super) fn apply(app: &AppState, route: &Route, who: &Credentials<'_>, headers: &mut HeaderMap) {
    // The clock only when something signed is sent: most requests need none.
    let signed = app.0.assertions.is_some() || (route.alb_headers && app.0.alb.is_some());
    let now = if signed { now_secs() } else { 0 };
    if let Some(assertions) = &app.0.assertions {
        let roles = || route.policy.roles(who.claims);
        if let Some(value) =
            assertions.for_identity(who.claims, &route.audience, roles, who.until, now)
        {
            headers.insert(assertions.header().clone(), value);
        }
    }
    pass(route, who.session, who.bearer, headers);
    if route.alb_headers {
        alb(app.0.alb.as_ref(), who, now, headers);
    }
}

/// Sets ALB's headers: `x-amzn-oidc-identity` (the subject), `x-amzn-oidc-accesstoken` (the
/// access token, when there is one) and `x-amzn-oidc-data` (signed as ALB signs it).
fn alb(alb: Option<&Alb>, who: &Credentials<'_>, now: u64, headers: &mut HeaderMap) {
    let Some(alb) = alb else { return };
    let sub = who.claims.get("sub").and_then(serde_json::Value::as_str);
    if let Some(value) = sub.and_then(|s| HeaderValue::from_str(s).ok()) {
        headers.insert(HeaderName::from_static("x-amzn-oidc-identity"), value);
    }
    let access_token = match who.session {
        Some(s) => s.access_token.as_deref(),
        None => who.bearer,
    };
    if let Some(value) = access_token.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(HeaderName::from_static("x-amzn-oidc-accesstoken"), value);
    }
    if let Some(value) = alb.data(who.claims, who.until, now) {
        headers.insert(HeaderName::from_static("x-amzn-oidc-data"), value);
    }
}
