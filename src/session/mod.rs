//! Sessions and the other cookies the gateway keeps in the browser.
//!
//! A session is kept in a compact binary form (see [`stored`]). The default store is stateless:
//! the session is sealed (see [`codec`]) into a cookie, split into numbered chunks when it does
//! not fit one, with a hard bound on the chunk count. The Redis store (see [`redis`]) keeps it
//! server-side, the cookie holding only a sealed ticket. A sign-in in progress lives in its own
//! short-lived cookie named after its `state`, so sign-ins started in several tabs at once all
//! complete. Anything that does not open is simply "not signed in".

mod codec;
mod jar;
mod redis;
mod refresh;
mod stored;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use codec::Codec;
pub use jar::{CookieJar, request_cookies};
pub use redis::{RedisStore, StoreUnavailable, Ticket};
pub use refresh::{RefreshFailure, Refresher};

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::identity::{Claims, EmailTrust};
use crate::oidc::{LOGOUT_TOKEN_MAX_AGE, LogoutRequest};
use crate::secret::Secret;

/// `[session]`: how signed-in state is kept.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Key material from which cookie keys are derived.
    pub secret: Secret,
    /// Absolute lifetime of a session, from sign-in; refreshing tokens does not extend it.
    pub lifetime: Duration,
    /// A session not used for this long ends.
    pub idle_timeout: Duration,
    /// Tokens are refreshed this long before they expire (at most half their lifetime).
    pub refresh_margin: Duration,
    /// Base name of every cookie the gateway sets (the `__Host-` prefix is added on https, or
    /// `__Secure-` with a `cookie_domain`).
    pub cookie_name: String,
    /// The domain the session cookie is valid for, with its subdomains; `None` for the public
    /// URL's host alone.
    pub cookie_domain: Option<String>,
    /// Where sessions are kept.
    pub store: StoreSettings,
    /// Whether sessions keep the access token: some route passes it to its app. Otherwise it is
    /// dropped at sign-in and refresh, and costs the cookie nothing.
    pub keep_access_token: bool,
}

/// `session.store`: where sessions live.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// In the browser: a sealed, chunked cookie. No server state.
    Cookie,
    /// In Redis; the cookie holds an opaque ticket.
    Redis {
        /// `redis://` or `rediss://` (TLS) URL, credentials included: a secret.
        url: Secret,
        /// Prefix of every key the gateway writes.
        prefix: String,
    },
}

/// Largest sealed value placed in one cookie; with the name and attributes this stays under the
/// 4096 bytes every browser accepts.
pub const CHUNK_SIZE: usize = 3800;
/// Most chunks a session may take (and most the gateway will read).
pub const MAX_CHUNKS: usize = 5;
/// How long a sign-in may take from redirect to callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Sign-ins in progress at once per browser; beyond this the older ones are dropped.
pub const MAX_PENDING_LOGINS: usize = 5;
/// How long the post-sign-out target is kept while the issuer signs the user out.
const SIGN_OUT_TTL: Duration = Duration::from_secs(300);

/// A signed-in user. Stored in the compact form of [`Session::to_stored`].
#[derive(Clone)]
pub struct Session {
    /// Random identifier, safe to log; a new one at every sign-in.
    pub id: String,
    /// When the user signed in (Unix seconds).
    pub issued_at: u64,
    /// Absolute end of the session (Unix seconds): sign-in plus `session.lifetime`.
    pub expires_at: u64,
    /// Last time the session was used (Unix seconds), for the idle timeout; updated coarsely.
    pub last_seen: u64,
    /// The validated ID token: the source of the claims, and the `id_token_hint` at sign-out.
    pub id_token: String,
    /// The refresh token, when the issuer gave one.
    pub refresh_token: Option<String>,
    /// The access token, kept only when a route passes it to its app (see
    /// [`SessionSettings::keep_access_token`]); replaced at every refresh.
    pub access_token: Option<String>,
    /// When the ID token expires (Unix seconds).
    pub tokens_expire_at: u64,
    /// Claims of `id_token`, decoded on load (shared: sessions are cloned from a cache).
    pub claims: Arc<Claims>,
    /// Where the session lives in Redis (Redis store only; set on first save).
    pub ticket: Option<Ticket>,
}

/// Without its tokens: a session printed by mistake puts no token in a log.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("last_seen", &self.last_seen)
            .field("tokens_expire_at", &self.tokens_expire_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a freshly validated ID token.
    pub fn new(
        id_token: String,
        claims: Claims,
        refresh_token: Option<String>,
        lifetime: Duration,
        now: u64,
    ) -> Self {
        let mut session = Self {
            id: crate::oidc::random_token(16),
            issued_at: now,
            expires_at: now.saturating_add(lifetime.as_secs()),
            last_seen: now,
            id_token: String::new(),
            refresh_token: None,
            access_token: None,
            tokens_expire_at: now,
            claims: Arc::default(),
            ticket: None,
        };
        session.set_tokens(id_token, claims, refresh_token);
        session
    }

    /// Takes the tokens of a refresh. The refresh token is replaced only when the issuer sent a
    /// new one (rotation); otherwise the current one stays valid and is kept.
    pub fn set_tokens(&mut self, id_token: String, claims: Claims, refresh_token: Option<String>) {
        self.tokens_expire_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or(self.issued_at);
        self.id_token = id_token;
        self.claims = Arc::new(claims);
        if refresh_token.is_some() {
            self.refresh_token = refresh_token;
        }
    }

    /// Makes the tokens due for refresh when the access token expires, if it expires before the
    /// ID token: an issuer may give them different lifetimes (Cognito does, when configured so),
    /// and an app that gets the access token must never get an expired one.
    pub fn limit_to_access_token(&mut self) {
        let exp = self
            .access_token
            .as_deref()
            .and_then(|t| crate::oidc::unverified_claims(t).ok())
            .and_then(|claims| claims.get("exp").and_then(Value::as_u64));
        if let Some(exp) = exp {
            self.tokens_expire_at = self.tokens_expire_at.min(exp);
        }
    }

    /// When the session stops being honoured, refresh aside: the absolute lifetime, the idle
    /// timeout, and (without a refresh token, which could extend them) the tokens' expiry.
    pub fn ends_at(&self, idle_timeout: Duration) -> u64 {
        let mut end = self
            .expires_at
            .min(self.last_seen.saturating_add(idle_timeout.as_secs()));
        if self.refresh_token.is_none() {
            end = end.min(self.tokens_expire_at);
        }
        end
    }

    /// Whether the tokens are due for a refresh: within `margin` of expiry (at most half their
    /// lifetime, so short-lived tokens are not refreshed on every request).
    pub fn refresh_due(&self, now: u64, margin: Duration) -> bool {
        if self.refresh_token.is_none() {
            return false;
        }
        let issued = self.claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        let half_life = self.tokens_expire_at.saturating_sub(issued) / 2;
        now.saturating_add(margin.as_secs().min(half_life)) >= self.tokens_expire_at
    }

    /// Whether the ID token is still within its lifetime.
    pub fn tokens_valid(&self, now: u64) -> bool {
        now < self.tokens_expire_at
    }

    /// The `sub` claim.
    pub fn subject(&self) -> &str {
        self.claims.get("sub").and_then(Value::as_str).unwrap_or("")
    }
}

impl crate::cache::Weigh for Session {
    fn weight(&self) -> usize {
        // The tokens, and the decoded claims at about twice the ID token's payload.
        self.id_token.len() * 2
            + self.refresh_token.as_ref().map_or(0, String::len)
            + self.access_token.as_ref().map_or(0, String::len)
            + 256
    }
}

/// Most memory spent on sessions opened from cookies.
const SESSION_CACHE_BYTES: usize = 8 << 20;

/// The session a ticket names in Redis, if it is there and opens with the ticket's key.
async fn fetch(
    store: &RedisStore,
    ticket: Ticket,
    email: EmailTrust,
) -> Result<Option<Session>, StoreUnavailable> {
    let key = store.session_key(&ticket);
    let Some(value) = store.get(&key).await? else {
        return Ok(None);
    };
    let session = ticket
        .codec()
        .open(&key, &value)
        .and_then(|plain| Session::from_stored(&plain, email))
        .map(|mut s| {
            s.ticket = Some(ticket);
            s
        });
    Ok(session)
}

/// A sign-in in progress: what the callback needs to finish it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// `state` sent to the issuer.
    pub state: String,
    /// `nonce` sent to the issuer.
    pub nonce: String,
    /// PKCE verifier.
    pub verifier: String,
    /// Where to go after signing in (checked again before use).
    pub target: String,
    /// When the sign-in started (Unix seconds).
    pub started_at: u64,
}

/// A back-channel logout that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum BackchannelError {
    /// Sessions in cookies cannot be found by user or issuer session.
    #[error("back-channel logout needs session.store = \"redis\"")]
    NeedsServerStore,
    /// The logout token's `jti` was seen before.
    #[error("logout token replayed")]
    Replayed,
    /// The session store could not be reached.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// A session that could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// Too large for the cookie budget (cookie store only).
    #[error("session of {0} bytes does not fit in {MAX_CHUNKS} cookies")]
    TooLarge(usize),
    /// The session store could not be reached.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
    /// The session was ended (signed out) while this request was using it.
    #[error("session ended meanwhile")]
    Ended,
}

#[derive(Debug)]
enum Backend {
    Cookie,
    Redis(Arc<RedisStore>),
}

/// Reads and writes sessions and the gateway's other cookies.
#[derive(Debug)]
pub struct Sessions {
    codec: Codec,
    jar: CookieJar,
    idle_timeout: Duration,
    /// How the claims of a stored ID token are read, as at sign-in.
    email: EmailTrust,
    backend: Backend,
    /// Cookie store only: sessions already opened, by sealed value. (Redis sessions are read
    /// from Redis every time, so that a sign-out anywhere counts at once.)
    opened: Option<crate::cache::VerifiedCache<Session>>,
    /// Whether sessions keep their access token (some route passes it on).
    keep_access_token: bool,
}

impl Sessions {
    /// Sessions kept as `settings` says, in cookies that are `Secure` when `secure` (the public
    /// URL is https); the claims of stored ID tokens are read with `email` trust, as at sign-in.
    pub fn new(
        settings: &SessionSettings,
        secure: bool,
        email: EmailTrust,
    ) -> Result<Self, String> {
        let domain = settings.cookie_domain.as_deref();
        let base = match (secure, domain) {
            (true, None) => format!("__Host-{}", settings.cookie_name),
            // `__Host-` forbids a Domain; `__Secure-` still makes browsers refuse the cookie
            // from plain http.
            (true, Some(_)) => format!("__Secure-{}", settings.cookie_name),
            (false, _) => settings.cookie_name.clone(),
        };
        let opened = matches!(settings.store, StoreSettings::Cookie)
            .then(|| crate::cache::VerifiedCache::new(SESSION_CACHE_BYTES));
        let backend = match &settings.store {
            StoreSettings::Cookie => Backend::Cookie,
            StoreSettings::Redis { url, prefix } => {
                Backend::Redis(Arc::new(RedisStore::new(url, prefix)?))
            }
        };
        Ok(Self {
            codec: Codec::new(settings.secret.expose().as_bytes(), "cookie v1"),
            jar: CookieJar::new(base, secure, domain),
            idle_timeout: settings.idle_timeout,
            email,
            backend,
            opened,
            keep_access_token: settings.keep_access_token,
        })
    }

    /// Starts what the store needs in the background (the Redis connection).
    pub fn spawn_background(&self) -> Option<JoinHandle<()>> {
        match &self.backend {
            Backend::Cookie => None,
            Backend::Redis(store) => Some(store.spawn_connect()),
        }
    }

    /// Whether the store can serve sessions now.
    pub async fn ready(&self) -> bool {
        match &self.backend {
            Backend::Cookie => true,
            Backend::Redis(store) => store.ping().await,
        }
    }

    /// Which store is in use, for logs and metrics.
    pub fn store_name(&self) -> &'static str {
        match &self.backend {
            Backend::Cookie => "cookie",
            Backend::Redis(_) => "redis",
        }
    }

    /// The cookie names and attributes in use.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }

    /// The session carried by the request, if there is one that has not ended. Its tokens may
    /// still need a refresh. An unreachable store is an error, not "signed out".
    pub async fn load(
        &self,
        headers: &HeaderMap,
        now: u64,
    ) -> Result<Option<Arc<Session>>, StoreUnavailable> {
        let Some(sealed) = self.jar.read_chunks(headers, MAX_CHUNKS) else {
            return Ok(None);
        };
        if let Some(cached) = self.opened.as_ref().and_then(|c| c.get(&sealed)) {
            return Ok(Some(cached).filter(|s| s.ends_at(self.idle_timeout) > now));
        }
        let Some(plain) = self.codec.open(self.jar.base(), &sealed) else {
            return Ok(None);
        };
        let session = match &self.backend {
            Backend::Cookie => Session::from_stored(&plain, self.email)
                .map(Arc::new)
                .inspect(|s| {
                    if let Some(cache) = &self.opened {
                        cache.insert(sealed.into_owned(), s.clone());
                    }
                }),
            Backend::Redis(store) => match Ticket::from_bytes(&plain) {
                // Boxed: the store's future is large, and the cookie store never needs it.
                Some(ticket) => Box::pin(fetch(store, ticket, self.email))
                    .await?
                    .map(Arc::new),
                None => None,
            },
        };
        Ok(session.filter(|s| s.ends_at(self.idle_timeout) > now))
    }

    /// Saves `session` and returns the `Set-Cookie` values that carry it, replacing whatever
    /// session cookies the request had.
    pub async fn save(
        &self,
        session: &mut Session,
        request: &HeaderMap,
        now: u64,
    ) -> Result<Vec<HeaderValue>, SaveError> {
        if self.keep_access_token {
            session.limit_to_access_token();
        } else {
            session.access_token = None;
        }
        let plain = session.to_stored();
        let max_age = session.ends_at(self.idle_timeout).saturating_sub(now);
        let sealed = match &self.backend {
            Backend::Cookie => self.codec.seal(self.jar.base(), &plain),
            Backend::Redis(store) => {
                // Indexed by user and issuer session at the first save, for back-channel logout.
                let new = session.ticket.is_none();
                let mut indexes = Vec::new();
                if new {
                    indexes.push(store.index_key("sub", session.subject()));
                    if let Some(sid) = session.claims.get("sid").and_then(Value::as_str) {
                        indexes.push(store.index_key("sid", sid));
                    }
                }
                let ticket = session.ticket.get_or_insert_with(Ticket::random);
                let key = store.session_key(ticket);
                let value = ticket.codec().seal(&key, &plain);
                if !store.put(&key, &value, max_age, new, &indexes).await? {
                    return Err(SaveError::Ended);
                }
                self.codec.seal(self.jar.base(), &ticket.to_bytes())
            }
        };
        if sealed.len() > CHUNK_SIZE * MAX_CHUNKS {
            return Err(SaveError::TooLarge(sealed.len()));
        }
        Ok(self.jar.write_chunks(&sealed, CHUNK_SIZE, max_age, request))
    }

    /// Ends a session: removes it from the store (when server-side) and returns the
    /// `Set-Cookie` values that remove it from the browser (every chunk the request carried).
    pub async fn end(&self, session: Option<&Session>, request: &HeaderMap) -> Vec<HeaderValue> {
        if let (Backend::Redis(store), Some(ticket)) =
            (&self.backend, session.and_then(|s| s.ticket.as_ref()))
        {
            if store.delete(&store.session_key(ticket)).await.is_err() {
                tracing::warn!("session could not be removed from redis; it ends at its expiry");
            }
        }
        self.jar.write_chunks("", CHUNK_SIZE, 0, request)
    }

    /// Ends every session a back-channel logout names (by issuer session id, else by user), once
    /// per logout token. Returns how many sessions ended.
    pub async fn end_matching(&self, logout: &LogoutRequest) -> Result<usize, BackchannelError> {
        let Backend::Redis(store) = &self.backend else {
            return Err(BackchannelError::NeedsServerStore);
        };
        let jti_key = store.index_key("jti", &logout.jti);
        // Remembered a little longer than such tokens are accepted at all.
        let remember = Duration::from_secs(2 * LOGOUT_TOKEN_MAX_AGE);
        if !store.set_once(&jti_key, remember).await? {
            return Err(BackchannelError::Replayed);
        }
        let index = match (&logout.sid, &logout.sub) {
            (Some(sid), _) => store.index_key("sid", sid),
            (None, Some(sub)) => store.index_key("sub", sub),
            (None, None) => return Ok(0),
        };
        Ok(store.delete_indexed(&index).await?)
    }

    /// The Redis store, when sessions live there.
    pub fn redis(&self) -> Option<&Arc<RedisStore>> {
        match &self.backend {
            Backend::Cookie => None,
            Backend::Redis(store) => Some(store),
        }
    }

    /// The current version of a Redis session, as another replica may have saved it.
    pub async fn reload(&self, session: &Session) -> Result<Option<Session>, StoreUnavailable> {
        match (&self.backend, &session.ticket) {
            (Backend::Redis(store), Some(ticket)) => fetch(store, ticket.clone(), self.email).await,
            _ => Ok(Some(session.clone())),
        }
    }

    /// `Set-Cookie` values for a new sign-in in progress.
    pub fn begin_login(&self, login: &PendingLogin, request: &HeaderMap) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        let pending: Vec<&str> = request_cookies(request)
            .map(|(name, _)| name)
            .filter(|name| self.jar.is_login(name))
            .collect();
        // Bounded: a browser that keeps starting sign-ins does not grow its cookies forever.
        if pending.len() >= MAX_PENDING_LOGINS {
            out.extend(pending.into_iter().filter_map(|n| self.jar.expire(n)));
        }
        let name = self.jar.login_name(&login.state);
        if let Ok(plain) = serde_json::to_vec(login) {
            let sealed = self.codec.seal(&name, &plain);
            out.extend(self.jar.set(&name, &sealed, LOGIN_TTL.as_secs()));
        }
        out
    }

    /// The sign-in in progress for `state`, if this browser started it recently; its cookie is
    /// removed through the returned `Set-Cookie` in any case.
    pub fn take_login(
        &self,
        state: &str,
        request: &HeaderMap,
        now: u64,
    ) -> (Option<PendingLogin>, Option<HeaderValue>) {
        let name = self.jar.login_name(state);
        let Some(sealed) = request_cookies(request)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
        else {
            return (None, None);
        };
        let clear = self.jar.expire(&name);
        let login = self
            .codec
            .open(&name, sealed)
            .and_then(|plain| serde_json::from_slice::<PendingLogin>(&plain).ok())
            .filter(|l| crate::oidc::constant_time_eq(&l.state, state))
            .filter(|l| now < l.started_at.saturating_add(LOGIN_TTL.as_secs()));
        (login, clear)
    }

    /// `Set-Cookie` that remembers where to go once the issuer has signed the user out.
    pub fn remember_sign_out_target(&self, target: &str) -> Option<HeaderValue> {
        self.jar.set(
            &self.jar.sign_out_name(),
            &URL_SAFE_NO_PAD.encode(target),
            SIGN_OUT_TTL.as_secs(),
        )
    }

    /// The remembered post-sign-out target (unchecked; callers pass it through `redirect::Destinations::target`)
    /// and the `Set-Cookie` that forgets it.
    pub fn take_sign_out_target(
        &self,
        request: &HeaderMap,
    ) -> (Option<String>, Option<HeaderValue>) {
        let name = self.jar.sign_out_name();
        let Some(value) = request_cookies(request)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
        else {
            return (None, None);
        };
        let target = URL_SAFE_NO_PAD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        (target, self.jar.expire(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::COOKIE;
    use serde_json::json;

    #[test]
    fn an_access_token_that_expires_first_brings_the_refresh_forward() {
        let id_token = format!(
            "e30.{}.sig",
            URL_SAFE_NO_PAD.encode(json!({"sub": "u", "iat": 1000, "exp": 4600}).to_string())
        );
        let claims = crate::oidc::unverified_claims(&id_token).unwrap();
        let mut session = Session::new(
            id_token,
            claims.into(),
            Some("r".into()),
            Duration::from_secs(43_200),
            1000,
        );
        assert_eq!(session.tokens_expire_at, 4600);
        let access = |exp: u64| {
            format!(
                "e30.{}.sig",
                URL_SAFE_NO_PAD.encode(json!({"sub": "u", "exp": exp}).to_string())
            )
        };
        session.access_token = Some(access(9000));
        session.limit_to_access_token();
        assert_eq!(session.tokens_expire_at, 4600);
        session.access_token = Some(access(1900));
        session.limit_to_access_token();
        assert_eq!(session.tokens_expire_at, 1900);
        assert!(session.refresh_due(1700, Duration::from_secs(300)));
        // An opaque access token says nothing: the ID token's expiry stands.
        session.tokens_expire_at = 4600;
        session.access_token = Some("opaque".into());
        session.limit_to_access_token();
        assert_eq!(session.tokens_expire_at, 4600);
    }

    fn sessions(public_url: &str) -> Sessions {
        let settings = SessionSettings {
            secret: Secret::new("0123456789abcdef0123456789abcdef"),
            lifetime: Duration::from_secs(12 * 3600),
            idle_timeout: Duration::from_secs(3600),
            refresh_margin: Duration::from_secs(300),
            cookie_name: "portcullis".into(),
            cookie_domain: None,
            store: StoreSettings::Cookie,
            keep_access_token: false,
        };
        let secure = public_url.starts_with("https:");
        Sessions::new(&settings, secure, EmailTrust::VerifiedOnly).unwrap()
    }

    fn token(claims: serde_json::Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    fn request_with(set_cookies: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<&str> = set_cookies
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap())
            .collect();
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap());
        h
    }

    #[tokio::test]
    async fn https_uses_host_prefix_and_secure() {
        let s = sessions("https://app.example.com");
        let claims = json!({"sub": "u", "exp": 2000});
        let mut session = Session::new(
            token(claims.clone()),
            claims.as_object().unwrap().clone().into(),
            None,
            Duration::from_secs(60),
            1000,
        );
        let set = s.save(&mut session, &HeaderMap::new(), 1000).await.unwrap();
        let text = set[0].to_str().unwrap();
        assert!(text.starts_with("__Host-portcullis="), "{text}");
        assert!(
            text.contains("; Secure") && text.contains("HttpOnly") && text.contains("Max-Age=60")
        );
        let loaded = s.load(&request_with(&set), 1000).await.unwrap().unwrap();
        assert_eq!(loaded.claims["sub"], "u");
        // The session ends with the token or the lifetime, whichever is first.
        assert_eq!(loaded.ends_at(Duration::from_secs(3600)), 1060);
        assert!(s.load(&request_with(&set), 1060).await.unwrap().is_none());
        // A cookie sealed for http (no prefix) is foreign here.
        let plain = sessions("http://127.0.0.1:4180");
        let set = plain
            .save(&mut session, &HeaderMap::new(), 1000)
            .await
            .unwrap();
        assert!(set[0].to_str().unwrap().starts_with("portcullis="));
        assert!(!set[0].to_str().unwrap().contains("Secure"));
        assert!(s.load(&request_with(&set), 1000).await.unwrap().is_none());
    }

    #[test]
    fn session_ends_at_token_expiry_when_sooner() {
        let claims = json!({"sub": "u", "exp": 1100});
        let mut session = Session::new(
            token(claims.clone()),
            claims.as_object().unwrap().clone().into(),
            None,
            Duration::from_secs(3600),
            1000,
        );
        let idle = Duration::from_secs(600);
        assert_eq!(session.ends_at(idle), 1100);
        // A refresh token lets the session outlive its tokens, up to the idle timeout...
        session.refresh_token = Some("r".into());
        assert_eq!(session.ends_at(idle), 1600);
        // ...and the absolute lifetime.
        assert_eq!(session.ends_at(Duration::from_secs(86400)), 4600);
    }

    #[test]
    fn stale_or_foreign_sign_in_cookies_do_not_open() {
        let s = sessions("http://127.0.0.1:4180");
        let login = PendingLogin {
            state: "state-value-0123456789".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            target: "/x".into(),
            started_at: 1000,
        };
        let set = s.begin_login(&login, &HeaderMap::new());
        let req = request_with(&set);
        assert_eq!(
            s.take_login(&login.state, &req, 1001).0.unwrap().target,
            "/x"
        );
        assert!(
            s.take_login(&login.state, &req, 1000 + LOGIN_TTL.as_secs())
                .0
                .is_none()
        );
        assert!(
            s.take_login("state-value-0123456789-other", &req, 1001)
                .0
                .is_none()
        );
        assert!(s.take_login("state-value-", &req, 1001).0.is_none());
    }

    mod properties {
        use super::super::*;
        use super::{request_with, sessions, token};
        use http::header::COOKIE;
        use proptest::prelude::*;
        use serde_json::json;

        fn runtime() -> tokio::runtime::Runtime {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A saved session opens from its cookies as it was saved (chunked or not); a cookie
            /// with any one bit changed is "not signed in", never an error or another session.
            #[test]
            fn a_cookie_round_trips_and_any_bit_flip_is_not_signed_in(
                groups in proptest::collection::vec("[a-z0-9:_-]{1,40}", 0..200),
                roles in "[a-z/|]{0,200}",
                refresh in proptest::option::of("[A-Za-z0-9_.-]{1,2000}"),
                flip in any::<proptest::sample::Index>(),
                bit in 0u8..8,
            ) {
                let s = sessions("https://app.example.com");
                let now = 1_700_000_000;
                let claims = json!({
                    "sub": "u", "exp": now + 3600, "iat": now,
                    "cognito:groups": groups, "custom:roles": roles,
                });
                let mut session = Session::new(
                    token(claims.clone()),
                    claims.as_object().unwrap().clone().into(),
                    refresh,
                    Duration::from_secs(3600),
                    now,
                );
                let rt = runtime();
                let set = rt.block_on(s.save(&mut session, &HeaderMap::new(), now)).unwrap();
                let request = request_with(&set);
                let opened = rt.block_on(s.load(&request, now)).unwrap().unwrap();
                prop_assert_eq!(&opened.id_token, &session.id_token);
                prop_assert_eq!(&opened.refresh_token, &session.refresh_token);
                prop_assert_eq!(&**opened.claims, &**session.claims);

                // One bit of the Cookie header's values (never of a name or separator) changed.
                let mut cookie = request[COOKIE].as_bytes().to_vec();
                let values: Vec<usize> = (0..cookie.len())
                    .filter(|&i| {
                        let before = &cookie[..i];
                        let start = before.iter().rposition(|&b| b == b';').map_or(0, |p| p + 1);
                        before[start..].contains(&b'=')
                    })
                    .collect();
                let at = values[flip.index(values.len())];
                cookie[at] ^= 1 << bit;
                let Ok(value) = HeaderValue::from_bytes(&cookie) else {
                    return Ok(());
                };
                let mut tampered = HeaderMap::new();
                tampered.insert(COOKIE, value);
                let opened = rt.block_on(s.load(&tampered, now)).unwrap();
                prop_assert!(opened.is_none(), "bit {} of byte {} flipped and still opens", bit, at);
            }
        }
    }
}

/// The cookie budget: how many Cognito groups fit in a cookie session. Run with
/// `cargo test --lib cookie_budget -- --nocapture` to see the figures.
#[cfg(test)]
mod budget {
    use super::*;
    use serde_json::json;

    /// A Cognito-shaped ID token with `groups` group names of 24 characters, signed RS256
    /// (a 256-byte signature), and a refresh token of 1,800 characters, a JWE as Cognito issues them.
    fn cognito_session(groups: usize) -> Session {
        let names: Vec<String> = (0..groups)
            .map(|i| format!("app-team-group-name-{i:04}"))
            .collect();
        let claims = json!({
            "sub": "6f1c2a52-9e4f-4a6e-8d0b-3f1a2b3c4d5e",
            "cognito:groups": names,
            "email_verified": true,
            "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz",
            "cognito:username": "alice.example",
            "origin_jti": "0d7b6a7c-1f5e-4a3b-9c8d-7e6f5a4b3c2d",
            "aud": "3n4b5c6d7e8f9g0h1i2j3k4l5m",
            "event_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
            "token_use": "id",
            "auth_time": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
            "iat": 1_700_000_000u64,
            "jti": "1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9",
            "email": "alice@example.com",
            "custom:roles": "authp/admin|authp/user",
            "nonce": "n".repeat(43),
        });
        let header = URL_SAFE_NO_PAD
            .encode(br#"{"kid":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=","alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signature = URL_SAFE_NO_PAD.encode([7u8; 256]);
        let id_token = format!("{header}.{payload}.{signature}");
        // A JWE, as Cognito's refresh tokens are: header, encrypted key, IV, ciphertext, tag.
        let refresh = [
            &b"{\"cty\":\"JWT\",\"enc\":\"A256GCM\",\"alg\":\"RSA-OAEP\"}"[..],
            &[1; 256],
            &[2; 12],
            &[3; 1000],
            &[4; 16],
        ]
        .map(|part| URL_SAFE_NO_PAD.encode(part))
        .join(".");
        Session::new(
            id_token,
            claims.as_object().cloned().unwrap_or_default().into(),
            Some(refresh),
            Duration::from_secs(43_200),
            1_700_000_000,
        )
    }

    /// A Cognito access token's shape: RS256, about 1,050 characters with two groups.
    fn cognito_access_token() -> String {
        let claims = json!({
            "sub": "6f1c2a52-9e4f-4a6e-8d0b-3f1a2b3c4d5e",
            "cognito:groups": ["admins", "staff"],
            "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz",
            "version": 2,
            "client_id": "3n4b5c6d7e8f9g0h1i2j3k4l5m",
            "origin_jti": "0d7b6a7c-1f5e-4a3b-9c8d-7e6f5a4b3c2d",
            "event_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
            "token_use": "access",
            "scope": "openid profile email",
            "auth_time": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
            "iat": 1_700_000_000u64,
            "jti": "1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9",
            "username": "alice.example",
        });
        let header = URL_SAFE_NO_PAD
            .encode(br#"{"kid":"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=","alg":"RS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]))
    }

    fn sealed_len(groups: usize) -> usize {
        sealed(cognito_session(groups))
    }

    fn sealed(session: Session) -> usize {
        let plain = session.to_stored();
        Codec::new(b"0123456789abcdef0123456789abcdef", "cookie v1")
            .seal("__Host-portcullis", &plain)
            .len()
    }

    #[test]
    fn cookie_budget() {
        // Most groups a session fits with in `limit` bytes.
        let fitting = |limit: usize| {
            (0..2000)
                .take_while(|&n| sealed_len(n) <= limit)
                .last()
                .unwrap_or(0)
        };
        let budget = CHUNK_SIZE * MAX_CHUNKS;
        let base = sealed_len(0);
        let (one_cookie, most) = (fitting(CHUNK_SIZE), fitting(budget));
        println!(
            "cookie budget: {budget} bytes in {MAX_CHUNKS} chunks; a Cognito session without \
             groups takes {base} bytes; with groups of 24 characters, {one_cookie} fit in one \
             cookie and at most {most} in all"
        );
        // The figures documented in docs/sessions.md.
        assert!(one_cookie >= 15, "{one_cookie}");
        assert!(most >= 400, "{most}");
        // With the access token kept (a route passes it on).
        let mut with_access = cognito_session(0);
        let access = cognito_access_token();
        with_access.access_token = Some(access.clone());
        let kept = sealed(with_access);
        println!(
            "an access token of {} characters adds {} bytes: {kept} bytes, {} cookies",
            access.len(),
            kept - base,
            kept.div_ceil(CHUNK_SIZE)
        );
        // As bytes, sealed once: about its own length (as text, sealing would add a third).
        assert!(kept - base < access.len() + 64, "{kept} - {base}");
    }
}
