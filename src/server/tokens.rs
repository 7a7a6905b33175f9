//! Tokens for the app: the session's access token in `X-Forwarded-Access-Token`
//! (`pass_access_token`), and the ID or access token as `Authorization: Bearer`
//! (`authorization`). A bearer request passes its own token. The session keeps the access token
//! only when a route passes it on, and it is refreshed with the session: the app never receives
//! an expired one from a live session.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::route::{AppAuthorization, Route};
use crate::session::Session;

/// The access token header (oauth2-proxy's name, which apps already read).
const X_FORWARDED_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-forwarded-access-token");

/// Sets the tokens `route` passes to its app in `headers`: the session's, or the bearer
/// request's own `bearer` token. Client copies are gone already (`X-Forwarded-Access-Token` is
/// a managed header); the client's `Authorization` is replaced on a route that sets it.
pub(super) fn pass(
    route: &Route,
    session: Option<&Session>,
    bearer: Option<&str>,
    headers: &mut HeaderMap,
) {
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
