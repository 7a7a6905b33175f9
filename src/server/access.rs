//! The access decision for a request: its canonical path, the rule it falls under, and whether
//! the person (or client) behind it may pass. Shared by the proxy and the forward-auth endpoint.

use http::{HeaderMap, HeaderValue, Method};

use super::AppState;
use super::authn::{Authn, authenticate};
use crate::policy::{CanonicalPath, Denial, Principal, Route};
use crate::session::Session;

/// What may happen to a request.
pub(super) enum Access {
    /// Through, with the session's identity when there is one.
    Allowed {
        session: Option<Session>,
        cookies: Vec<HeaderValue>,
    },
    /// Nobody is signed in and the route needs someone.
    SignIn { cookies: Vec<HeaderValue> },
    /// Refused by the rules (and logged with the rule that refused).
    Forbidden {
        session: Option<Session>,
        cookies: Vec<HeaderValue>,
    },
    /// The session store cannot be reached.
    Unavailable,
}

/// Decides on `method` `path` for the request whose headers are `headers`.
pub(super) async fn decide(
    app: &AppState,
    method: &Method,
    path: &CanonicalPath,
    headers: &HeaderMap,
) -> Access {
    let policy = &app.0.settings.policy;
    let route = policy.route(method, path);
    let authn = authenticate(app, headers).await;
    let (session, cookies) = match authn {
        Authn::SignedIn { session, cookies } => (Some(session), cookies),
        Authn::Anonymous { cookies } => (None, cookies),
        // A public route does not need the store; the rest cannot be decided without it.
        Authn::StoreUnavailable if matches!(route, Route::Public(_)) => (None, Vec::new()),
        Authn::StoreUnavailable => return Access::Unavailable,
    };
    let denial = match (route, &session) {
        (Route::Public(_), _) => None,
        (Route::Denied, _) => Some(Denial {
            rule: None,
            condition: "default deny",
        }),
        (Route::Protected(_), None) => return Access::SignIn { cookies },
        (Route::Protected(rule), Some(s)) => policy
            .authorize(
                rule,
                &Principal {
                    claims: &s.claims,
                    scopes: None,
                },
            )
            .err(),
    };
    match denial {
        None => Access::Allowed { session, cookies },
        Some(denial) => {
            tracing::warn!(
                rule = ?denial.rule,
                condition = denial.condition,
                method = %method,
                path = path.as_str(),
                sub = session.as_ref().map(Session::subject).unwrap_or(""),
                "access denied"
            );
            Access::Forbidden { session, cookies }
        }
    }
}
