//! Who is asking: an API client's bearer token, when bearer tokens are enabled and the request
//! has one; else the request's session, with its tokens refreshed when they are due and its idle
//! clock advanced, plus the `Set-Cookie` values that record either.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::AppState;
use crate::oidc::{BearerToken, bearer_token, now_secs};
use crate::policy::AuthFailure;
use crate::session::{RefreshFailure, SaveError, Session};

/// The idle clock in the cookie is advanced at most this often (or a tenth of the idle timeout,
/// if shorter), so a busy session does not rewrite its cookie on every request.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(300);

/// The outcome of authenticating a request.
pub(super) enum Authn {
    /// A session that may be served; `cookies` update it in the browser.
    SignedIn {
        session: Arc<Session>,
        cookies: Vec<HeaderValue>,
    },
    /// A valid bearer token.
    Bearer(BearerToken),
    /// No session that may be served; `cookies` remove one that has ended for good.
    Anonymous { cookies: Vec<HeaderValue> },
    /// A bearer token that was not accepted or cannot be checked yet, or a session ticket whose
    /// store cannot be reached.
    Failed(AuthFailure),
}

/// Authenticates the request whose headers are `headers`.
///
/// The rare steps that talk to the issuer or the store (refresh, saving, ending a session) are
/// boxed: their futures are kilobytes large, and every request's future would otherwise carry,
/// and copy, that space.
pub(super) async fn authenticate(app: &AppState, headers: &HeaderMap) -> Authn {
    let inner = &app.0;
    if let (Some(bearers), Some(token)) = (&inner.bearers, bearer_token(headers)) {
        return match bearers.verify(&inner.issuer, token).await {
            Ok(token) => Authn::Bearer(token),
            Err(failure) => Authn::Failed(failure),
        };
    }
    let now = now_secs();
    let mut session = match inner.sessions.load(headers, now).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Authn::Anonymous {
                cookies: Vec::new(),
            };
        }
        Err(_) => return Authn::Failed(AuthFailure::StoreUnavailable),
    };
    let settings = &inner.settings.session;
    let mut changed = false;
    if session.refresh_due(now, settings.refresh_margin) {
        match Box::pin(
            inner
                .refresher
                .refresh(&inner.issuer, &inner.sessions, &session),
        )
        .await
        {
            Ok(fresh) => {
                session = Arc::new(fresh);
                changed = true;
            }
            Err(RefreshFailure::Rejected) => {
                return Authn::Anonymous {
                    cookies: Box::pin(inner.sessions.end(Some(&session), headers)).await,
                };
            }
            // The issuer is away: serve while the tokens last; the cookie stays for a later try.
            Err(RefreshFailure::Unavailable) if session.tokens_valid(now) => {}
            Err(RefreshFailure::Unavailable) => {
                return Authn::Anonymous {
                    cookies: Vec::new(),
                };
            }
        }
    }
    let touch_every = (settings.idle_timeout / 10).min(MAX_TOUCH_INTERVAL);
    if now.saturating_sub(session.last_seen) >= touch_every.as_secs() {
        Arc::make_mut(&mut session).last_seen = now;
        changed = true;
    }
    let cookies = if changed {
        match Box::pin(
            inner
                .sessions
                .save(Arc::make_mut(&mut session), headers, now),
        )
        .await
        {
            Ok(cookies) => cookies,
            // Signed out (here or on another replica) while this request was under way.
            Err(SaveError::Ended) => {
                return Authn::Anonymous {
                    cookies: Box::pin(inner.sessions.end(None, headers)).await,
                };
            }
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "session not updated");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    Authn::SignedIn { session, cookies }
}
