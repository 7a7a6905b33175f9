//! The access decision for a request on a route: who is asking (authentication, the one step
//! with I/O), then what the route's rules say of it
//! ([`Policy::decide`](crate::policy::Policy::decide), a pure function), with the denial logged
//! and counted. Shared by the proxy and the forward-auth endpoint.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::AppState;
use crate::authn::Authn;
use crate::identity::Claims;
use crate::policy::{AuthFailure, CanonicalPath, Condition, Decision, Principal, Who};
use crate::route::Route;
use crate::session::Session;

/// What happens to a request: through, with the identity (session or bearer claims) when there
/// is one, when that identity ends (Unix seconds: the session's end, or the token's expiry),
/// the session (its tokens, for routes that pass them on; `None` for a bearer token), and the
/// `Set-Cookie` values of its session; or refused.
pub(super) enum Access {
    Allowed {
        claims: Option<Arc<Claims>>,
        until: u64,
        session: Option<Arc<Session>>,
        cookies: Vec<HeaderValue>,
    },
    Refused(Refusal),
}

/// A request that does not go through; [`respond`](super::respond) answers it.
pub(super) enum Refusal {
    /// Nobody is signed in and the route needs someone; `cookies` clear an ended session.
    SignIn { cookies: Vec<HeaderValue> },
    /// Refused by the rules (logged with the rule that refused); `scope` when a bearer token
    /// lacked a required scope.
    Forbidden {
        claims: Option<Arc<Claims>>,
        cookies: Vec<HeaderValue>,
        scope: bool,
    },
    /// Authentication failed: a bad bearer token (always 401, never a redirect), or the store
    /// or a token's issuer out of reach.
    Failed(AuthFailure),
}

/// Decides on `method` `path` for the request whose headers are `headers`, by the rules of
/// `route` (the caller's, so that the identity headers it then adds are of the same
/// generation): authentication first, then the rules' pure
/// [`Policy::decide`](crate::policy::Policy::decide).
pub(super) async fn decide(
    app: &AppState,
    route: &Route,
    method: &Method,
    path: &CanonicalPath,
    headers: &HeaderMap,
) -> Access {
    let mut session = None;
    let (claims, scopes, until, cookies, failure) = match app.0.authn.authenticate(headers).await {
        Authn::SignedIn {
            session: s,
            cookies,
        } => {
            let until = s.ends_at(app.0.settings.session.idle_timeout);
            let claims = s.claims.clone();
            session = Some(s);
            (Some(claims), None, until, cookies, None)
        }
        Authn::Bearer(token) => {
            let until = token.claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
            (
                Some(token.claims),
                Some(token.scopes),
                until,
                Vec::new(),
                None,
            )
        }
        Authn::Anonymous { cookies } => (None, None, 0, cookies, None),
        Authn::Failed(failure) => (None, None, 0, Vec::new(), Some(failure)),
    };
    let who = match (&claims, failure) {
        (_, Some(failure)) => Who::Failed(failure),
        (Some(claims), None) => Who::Known(Principal {
            claims,
            scopes: scopes.as_deref(),
        }),
        (None, None) => Who::Anonymous,
    };
    match route.policy.decide(method, path, who) {
        Decision::Allow => Access::Allowed {
            claims,
            until,
            session,
            cookies,
        },
        Decision::SignIn => Access::Refused(Refusal::SignIn { cookies }),
        Decision::Fail(failure) => Access::Refused(Refusal::Failed(failure)),
        Decision::Deny(denial) => {
            let sub = claims
                .as_ref()
                .and_then(|c| c.get("sub"))
                .and_then(Value::as_str);
            // Plain values, for people and log pipelines alike: the rule's index as a number
            // and its pattern as configured (both absent under default deny).
            tracing::warn!(
                route = route.name.as_str(),
                rule = denial.rule.map(|r| r.index as u64),
                rule_path = denial.rule.map(|r| r.path.as_str()),
                condition = denial.condition.as_str(),
                method = method.as_str(),
                path = path.as_str(),
                sub = sub.unwrap_or(""),
                "access denied"
            );
            let rule = denial
                .rule
                .map_or_else(|| "default".to_string(), |r| r.index.to_string());
            metrics::counter!(crate::metrics::DENIALS, "route" => route.name.clone(), "rule" => rule)
                .increment(1);
            let scope = scopes.is_some() && denial.condition == Condition::Scopes;
            Access::Refused(Refusal::Forbidden {
                claims,
                cookies,
                scope,
            })
        }
    }
}
