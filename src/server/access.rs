//! The access decision for a request: who is asking (authentication, the one step with I/O), then
//! what the rules say of it ([`Policy::decide`](crate::policy::Policy::decide), a pure function),
//! with the denial logged and counted. Shared by the proxy and the forward-auth endpoint.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::authn::{Authn, authenticate};
use super::bearer::BearerFailure;
use super::{AppState, Live};
use crate::identity::Claims;
use crate::policy::{AuthFailure, CanonicalPath, Condition, Decision, Principal, Who};

/// What may happen to a request.
pub(super) enum Access {
    /// Through, with the identity (session or bearer claims) when there is one.
    Allowed {
        claims: Option<Arc<Claims>>,
        cookies: Vec<HeaderValue>,
    },
    /// Nobody is signed in and the route needs someone.
    SignIn { cookies: Vec<HeaderValue> },
    /// Refused by the rules (and logged with the rule that refused); `scope` when a bearer
    /// token lacked a required scope.
    Forbidden {
        claims: Option<Arc<Claims>>,
        cookies: Vec<HeaderValue>,
        scope: bool,
    },
    /// A bearer token that was not accepted: always 401, never a redirect.
    BadBearer,
    /// The session store cannot be reached.
    Unavailable,
    /// A bearer token's issuer has not been discovered yet.
    IssuerUnavailable,
}

/// Decides on `method` `path` for the request whose headers are `headers`, by the rules of
/// `live` (the caller's, so that the identity headers it then adds are of the same generation):
/// authentication first, then the rules' pure [`Policy::decide`](crate::policy::Policy::decide).
pub(super) async fn decide(
    app: &AppState,
    live: &Live,
    method: &Method,
    path: &CanonicalPath,
    headers: &HeaderMap,
) -> Access {
    let (claims, scopes, cookies, failure) = match authenticate(app, headers).await {
        Authn::SignedIn { session, cookies } => (Some(session.claims.clone()), None, cookies, None),
        Authn::Bearer(token) => (Some(token.claims), Some(token.scopes), Vec::new(), None),
        Authn::Anonymous { cookies } => (None, None, cookies, None),
        Authn::BadBearer(BearerFailure::Invalid) => {
            (None, None, Vec::new(), Some(AuthFailure::BadToken))
        }
        Authn::BadBearer(BearerFailure::IssuerUnavailable) => {
            (None, None, Vec::new(), Some(AuthFailure::IssuerUnavailable))
        }
        Authn::StoreUnavailable => (None, None, Vec::new(), Some(AuthFailure::StoreUnavailable)),
    };
    let who = match (&claims, failure) {
        (_, Some(failure)) => Who::Failed(failure),
        (Some(claims), None) => Who::Known(Principal {
            claims,
            scopes: scopes.as_deref(),
        }),
        (None, None) => Who::Anonymous,
    };
    match live.policy.decide(method, path, who) {
        Decision::Allow => Access::Allowed { claims, cookies },
        Decision::SignIn => Access::SignIn { cookies },
        Decision::Fail(AuthFailure::BadToken) => Access::BadBearer,
        Decision::Fail(AuthFailure::StoreUnavailable) => Access::Unavailable,
        Decision::Fail(AuthFailure::IssuerUnavailable) => Access::IssuerUnavailable,
        Decision::Deny(denial) => {
            let sub = claims
                .as_ref()
                .and_then(|c| c.get("sub"))
                .and_then(Value::as_str);
            // Plain values, for people and log pipelines alike: the rule's index as a number
            // and its pattern as configured (both absent under default deny).
            tracing::warn!(
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
            metrics::counter!(crate::metrics::DENIALS, "rule" => rule).increment(1);
            let scope = scopes.is_some() && denial.condition == Condition::Scopes;
            Access::Forbidden {
                claims,
                cookies,
                scope,
            }
        }
    }
}
