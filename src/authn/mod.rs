//! Who is asking: an API client's bearer token, when bearer tokens are enabled and the request
//! has one; else the request's session, with its tokens refreshed when they are due and its idle
//! clock advanced, plus the `Set-Cookie` values that record either. The one step of a request's
//! decision that does I/O (a refresh, the store); what the rules make of its answer is
//! [`Policy::decide`](crate::policy::Policy::decide)'s.

mod bearer;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use tokio::task::JoinHandle;

use crate::oidc::{BearerToken, Issuer, bearer_token, now_secs};
use crate::policy::AuthFailure;
use crate::session::{RefreshFailure, Refresher, SaveError, Session, SessionSettings, Sessions};
use bearer::Bearers;
pub use bearer::{BearerSettings, TrustedIssuer};

/// The idle clock in the cookie is advanced at most this often (or a tenth of the idle timeout,
/// if shorter), so a busy session does not rewrite its cookie on every request.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(300);

/// The outcome of authenticating a request.
pub enum Authn {
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

/// Authenticates requests: the gateway's issuer, its sessions, the refreshes in progress, and
/// the issuers trusted for bearer tokens.
pub struct Authenticator {
    issuer: Arc<Issuer>,
    sessions: Arc<Sessions>,
    refresher: Refresher,
    bearers: Option<Bearers>,
    /// Tokens are refreshed this long before they expire (`session.refresh_margin`).
    refresh_margin: Duration,
    /// `session.idle_timeout`.
    idle_timeout: Duration,
}

impl Authenticator {
    /// Authentication with the gateway's `issuer` and `sessions` (kept as `session` says), and
    /// bearer tokens as `bearer` says (none without it); nothing is contacted yet.
    pub fn new(
        bearer: Option<&BearerSettings>,
        session: &SessionSettings,
        issuer: Arc<Issuer>,
        sessions: Arc<Sessions>,
    ) -> Result<Self, String> {
        let bearers = bearer
            .map(|b| Bearers::new(b, issuer.settings()))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            issuer,
            sessions,
            refresher: Refresher::default(),
            bearers,
            refresh_margin: session.refresh_margin,
            idle_timeout: session.idle_timeout,
        })
    }

    /// Discovers the issuers trusted for bearer tokens in the background.
    pub fn spawn_discovery(&self) -> Vec<JoinHandle<()>> {
        self.bearers
            .as_ref()
            .map(Bearers::spawn_discovery)
            .unwrap_or_default()
    }

    /// Authenticates the request whose headers are `headers`.
    ///
    /// The rare steps that talk to the issuer or the store (refresh, saving, ending a session)
    /// are boxed: their futures are kilobytes large, and every request's future would otherwise
    /// carry, and copy, that space.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Authn {
        let inner = self;
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
        let mut changed = false;
        if session.refresh_due(now, inner.refresh_margin) {
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
        let touch_every = (inner.idle_timeout / 10).min(MAX_TOUCH_INTERVAL);
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
}
