//! Token refresh, single-flight per session: however many requests of one session arrive while
//! its tokens are due, one refresh goes to the issuer and all of them get its result. With the
//! Redis store this holds across replicas too: a lock in Redis elects the replica that refreshes,
//! the others wait for the session it saves. Results are
//! kept for [`RESULT_TTL`], so requests still carrying the pre-refresh cookie (sent before the
//! browser saw the new one) reuse the new tokens instead of spending a rotated refresh token
//! again. A failure because the issuer is unreachable is kept for [`RETRY_AFTER`] only, so the
//! issuer is retried soon, but not by every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use http::HeaderMap;

use super::{SaveError, Session, Sessions};
use crate::identity::Claims;
use crate::oidc::{ExchangeError, Expect, Issuer, now_secs};

/// How long a refresh result is shared with later requests of the same session generation.
pub const RESULT_TTL: Duration = Duration::from_secs(30);
/// How long after an unreachable issuer the next refresh of the same session is tried.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Lifetime of the Redis refresh lock: longer than any refresh (issuer timeouts are seconds).
const LOCK_TTL: Duration = Duration::from_secs(15);
/// How long a replica waits for another one's refresh before giving up for now.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting replica looks for the refreshed session.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// Why a refresh did not produce new tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The issuer refused the refresh token (`invalid_grant`) or sent tokens that do not
    /// validate: the session is over.
    Rejected,
    /// The issuer could not be reached: try again later; the session lives while its tokens do.
    Unavailable,
}

type Outcome = Result<Session, RefreshFailure>;

struct Flight {
    started: Instant,
    outcome: Arc<OnceCell<Outcome>>,
}

impl Flight {
    fn keep_for(&self) -> Duration {
        match self.outcome.get() {
            Some(Err(RefreshFailure::Unavailable)) => RETRY_AFTER,
            _ => RESULT_TTL,
        }
    }
}

/// Coordinates refreshes within this process.
#[derive(Default)]
pub struct Refresher {
    flights: Mutex<HashMap<String, Flight>>,
}

impl Refresher {
    /// The session with refreshed tokens, refreshing at most once per session generation.
    pub async fn refresh(
        &self,
        issuer: &Issuer,
        sessions: &Sessions,
        session: &Session,
    ) -> Outcome {
        // A generation is one set of tokens: the session id plus the ID token's signature, which
        // differs for every token (expiry times can repeat within a second).
        let signature = session.id_token.rsplit('.').next().unwrap_or("");
        let key = format!("{}:{signature}", session.id);
        let outcome = {
            // Held only to look up or insert, never across an await.
            let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
            flights.retain(|_, f| f.started.elapsed() < f.keep_for());
            Arc::clone(
                &flights
                    .entry(key)
                    .or_insert_with(|| Flight {
                        started: Instant::now(),
                        outcome: Arc::new(OnceCell::new()),
                    })
                    .outcome,
            )
        };
        outcome
            .get_or_init(|| refresh_shared(issuer, sessions, session))
            .await
            .clone()
    }
}

/// Refreshes once across replicas: directly for cookie sessions, under a Redis lock otherwise.
async fn refresh_shared(issuer: &Issuer, sessions: &Sessions, session: &Session) -> Outcome {
    let (Some(store), Some(ticket)) = (sessions.redis(), &session.ticket) else {
        return refresh_once(issuer, session).await;
    };
    let lock = format!("{}:refresh", store.session_key(ticket));
    let deadline = Instant::now() + LOCK_WAIT;
    let unavailable = |_| RefreshFailure::Unavailable;
    loop {
        if store.set_once(&lock, LOCK_TTL).await.map_err(unavailable)? {
            let result = refresh_locked(issuer, sessions, session).await;
            if store.release(&lock).await.is_err() {
                tracing::warn!(session = %session.id, "refresh lock left to expire");
            }
            return result;
        }
        // Another replica is refreshing: wait for the session it saves.
        tokio::time::sleep(LOCK_POLL).await;
        match sessions.reload(session).await.map_err(unavailable)? {
            Some(current) if current.id_token != session.id_token => return Ok(current),
            Some(_) if Instant::now() < deadline => {}
            Some(_) => return Err(RefreshFailure::Unavailable),
            None => return Err(RefreshFailure::Rejected),
        }
    }
}

/// Refreshes while holding the Redis lock, and saves before the lock is released so that
/// waiting replicas find the result.
async fn refresh_locked(issuer: &Issuer, sessions: &Sessions, session: &Session) -> Outcome {
    let unavailable = |_| RefreshFailure::Unavailable;
    // Another replica may have refreshed between this one's read and its lock.
    let current = sessions
        .reload(session)
        .await
        .map_err(unavailable)?
        .ok_or(RefreshFailure::Rejected)?;
    if current.id_token != session.id_token {
        return Ok(current);
    }
    let mut fresh = refresh_once(issuer, &current).await?;
    match sessions
        .save(&mut fresh, &HeaderMap::new(), now_secs())
        .await
    {
        Ok(_) => Ok(fresh),
        Err(SaveError::Ended) => Err(RefreshFailure::Rejected),
        Err(_) => Err(RefreshFailure::Unavailable),
    }
}

async fn refresh_once(issuer: &Issuer, session: &Session) -> Outcome {
    let outcome = exchange_refresh(issuer, session).await;
    let result = match &outcome {
        Ok(_) => "ok",
        Err(RefreshFailure::Rejected) => "rejected",
        Err(RefreshFailure::Unavailable) => "unavailable",
    };
    metrics::counter!(crate::metrics::REFRESHES, "result" => result).increment(1);
    outcome
}

async fn exchange_refresh(issuer: &Issuer, session: &Session) -> Outcome {
    let provider = issuer.provider().ok_or(RefreshFailure::Unavailable)?;
    let refresh_token = session
        .refresh_token
        .as_deref()
        .ok_or(RefreshFailure::Rejected)?;
    let tokens = issuer
        .refresh(&provider, refresh_token)
        .await
        .map_err(|e| {
            tracing::warn!(session = %session.id, error = %e, "token refresh failed");
            match e {
                ExchangeError::Refused(_) => RefreshFailure::Rejected,
                ExchangeError::Unavailable(_) => RefreshFailure::Unavailable,
            }
        })?;
    let Some(id_token) = tokens.id_token else {
        tracing::warn!(session = %session.id, "refresh returned no ID token");
        return Err(RefreshFailure::Rejected);
    };
    let claims = issuer
        .validate_id_token(
            &provider,
            &id_token,
            Expect::Refresh {
                sub: session.subject(),
            },
        )
        .await
        .map_err(|e| {
            tracing::warn!(session = %session.id, error = %e, "refreshed ID token rejected");
            RefreshFailure::Rejected
        })?;
    let mut fresh = session.clone();
    let rotated = tokens.refresh_token.is_some();
    let claims = Claims::new(claims, issuer.settings().email_trust);
    fresh.set_tokens(id_token, claims, tokens.refresh_token);
    // A refresh gives a new access token; the session keeps it only if a route passes it on.
    fresh.access_token = tokens.access_token;
    tracing::info!(session = %session.id, rotated, "tokens refreshed");
    Ok(fresh)
}
