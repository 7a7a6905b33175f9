//! The access decision for a request: its canonical path, the rule it falls under, and whether
//! the person (or client) behind it may pass. Shared by the proxy and the forward-auth endpoint.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::authn::{Authn, authenticate};
use super::bearer::BearerFailure;
use super::{AppState, Live};
use crate::identity::Claims;
use crate::policy::{CanonicalPath, Condition, Denial, Principal, Route};

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
/// `live` (the caller's, so that the identity headers it then adds are of the same generation).
pub(super) async fn decide(
    app: &AppState,
    live: &Live,
    method: &Method,
    path: &CanonicalPath,
    headers: &HeaderMap,
) -> Access {
    let policy = &live.policy;
    let route = policy.route(method, path);
    let authn = authenticate(app, headers).await;
    let public = matches!(route, Route::Public(_));
    let (claims, scopes, cookies) = match authn {
        Authn::SignedIn { session, cookies } => (Some(session.claims.clone()), None, cookies),
        Authn::Bearer(token) => (Some(token.claims), Some(token.scopes), Vec::new()),
        Authn::Anonymous { cookies } => (None, None, cookies),
        // A public route needs neither the store nor a valid token; the rest cannot be decided.
        Authn::StoreUnavailable | Authn::BadBearer(_) if public => (None, None, Vec::new()),
        Authn::BadBearer(BearerFailure::Invalid) => return Access::BadBearer,
        Authn::StoreUnavailable => return Access::Unavailable,
        Authn::BadBearer(BearerFailure::IssuerUnavailable) => return Access::IssuerUnavailable,
    };
    let denial = match (route, &claims) {
        (Route::Public(_), _) => None,
        (Route::Denied, _) => Some(Denial {
            rule: None,
            condition: Condition::DefaultDeny,
        }),
        (Route::Protected(_), None) => return Access::SignIn { cookies },
        (Route::Protected(rule), Some(claims)) => policy
            .authorize(
                rule,
                &Principal {
                    claims,
                    scopes: scopes.as_deref(),
                },
            )
            .err(),
    };
    match denial {
        None => Access::Allowed { claims, cookies },
        Some(denial) => {
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
            Access::Forbidden {
                claims,
                cookies,
                scope: scopes.is_some() && denial.condition == Condition::Scopes,
            }
        }
    }
}
