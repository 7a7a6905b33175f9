//! The Redis session store, for several replicas and for sessions too large for cookies.
//!
//! The browser holds a ticket: a random lookup id and a random key, sealed in the session cookie.
//! Redis holds the session under `{prefix}session:{SHA-256 of the id}`, encrypted with the ticket's
//! key. A Redis dump therefore reveals neither tokens nor anything that opens a session. The
//! connection is made in the background and re-made on failure; while Redis is away, requests that
//! carry a ticket get a 503 rather than being taken for signed out.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::Codec;
use crate::secret::Secret;

/// Time allowed for connecting to Redis and for each command.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between connection attempts.
const MAX_CONNECT_BACKOFF: Duration = Duration::from_secs(5);
const TICKET_ID_LEN: usize = 16;
const TICKET_KEY_LEN: usize = 32;

/// Redis could not be reached or answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("session store unavailable")]
pub struct StoreUnavailable;

impl From<redis::RedisError> for StoreUnavailable {
    fn from(e: redis::RedisError) -> Self {
        tracing::warn!(error = %e, "redis command failed");
        StoreUnavailable
    }
}

/// What the browser holds for a Redis session.
#[derive(Clone)]
pub struct Ticket {
    id: [u8; TICKET_ID_LEN],
    key: [u8; TICKET_KEY_LEN],
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket(***)")
    }
}

impl Ticket {
    /// A new random ticket.
    pub fn random() -> Self {
        let mut t = Self {
            id: [0; TICKET_ID_LEN],
            key: [0; TICKET_KEY_LEN],
        };
        rand::rngs::OsRng.fill_bytes(&mut t.id);
        rand::rngs::OsRng.fill_bytes(&mut t.key);
        t
    }

    /// The ticket as bytes, for sealing into the cookie.
    pub fn to_bytes(&self) -> Vec<u8> {
        [&self.id[..], &self.key[..]].concat()
    }

    /// A ticket from an opened cookie.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != TICKET_ID_LEN + TICKET_KEY_LEN {
            return None;
        }
        let (id, key) = bytes.split_at(TICKET_ID_LEN);
        Some(Self {
            id: id.try_into().ok()?,
            key: key.try_into().ok()?,
        })
    }

    /// The codec that seals this session's data in Redis.
    pub fn codec(&self) -> Codec {
        Codec::new(&self.key, "redis session v1")
    }

    /// The lookup name of this session in Redis (not the id itself).
    fn lookup(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.id))
    }
}

/// A connection to Redis, made in the background.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    conn: ArcSwapOption<ConnectionManager>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// A store for the Redis at `url`; nothing is connected yet.
    pub fn new(url: &Secret, prefix: &str) -> Result<Self, String> {
        // The error text of a bad URL could echo the password: say only what is wrong.
        let client =
            redis::Client::open(url.expose()).map_err(|_| "invalid redis URL".to_string())?;
        Ok(Self {
            client,
            prefix: prefix.to_string(),
            conn: ArcSwapOption::empty(),
        })
    }

    /// Connects in the background, retrying until Redis answers. Once connected, the connection
    /// manager reconnects by itself.
    pub fn spawn_connect(self: &Arc<Self>) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(REDIS_TIMEOUT)
                .set_response_timeout(REDIS_TIMEOUT)
                .set_number_of_retries(1)
                .set_max_delay(MAX_CONNECT_BACKOFF.as_millis() as u64);
            let mut delay = Duration::from_millis(100);
            loop {
                match ConnectionManager::new_with_config(this.client.clone(), config.clone()).await
                {
                    Ok(conn) => {
                        tracing::info!("connected to redis");
                        this.conn.store(Some(Arc::new(conn)));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "redis connection failed");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_CONNECT_BACKOFF);
                    }
                }
            }
        })
    }

    fn conn(&self) -> Result<ConnectionManager, StoreUnavailable> {
        self.conn
            .load_full()
            .map(|c| (*c).clone())
            .ok_or(StoreUnavailable)
    }

    /// The Redis key of a ticket's session.
    pub fn session_key(&self, ticket: &Ticket) -> String {
        format!("{}session:{}", self.prefix, ticket.lookup())
    }

    /// The Redis key of the set of sessions indexed under `kind` = `value` (e.g. `sub`, `sid`).
    pub fn index_key(&self, kind: &str, value: &str) -> String {
        format!(
            "{}{kind}:{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
        )
    }

    /// The sealed session stored at `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreUnavailable> {
        Ok(self.conn()?.get(key).await?)
    }

    /// Stores a sealed session for `ttl` seconds and adds it to `indexes` (kept as long). A
    /// session that is not `new` is only overwritten while it still exists, so a save racing a
    /// sign-out cannot bring it back; returns false when it no longer does.
    pub async fn put(
        &self,
        key: &str,
        value: &str,
        ttl: u64,
        new: bool,
        indexes: &[String],
    ) -> Result<bool, StoreUnavailable> {
        let ttl = ttl.max(1);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(key)
            .arg(value)
            .arg(if new { "NX" } else { "XX" })
            .arg("EX")
            .arg(ttl);
        for index in indexes {
            pipe.sadd(index, key).ignore();
            // Indexes outlive no session: extend, never shorten.
            pipe.cmd("EXPIRE").arg(index).arg(ttl).arg("GT").ignore();
            pipe.cmd("EXPIRE").arg(index).arg(ttl).arg("NX").ignore();
        }
        // The first reply is SET's: OK, or nil when NX/XX did not hold.
        let (stored,): (Option<String>,) = pipe.query_async(&mut self.conn()?).await?;
        Ok(stored.is_some())
    }

    /// Deletes the session at `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StoreUnavailable> {
        self.conn()?.del::<_, ()>(key).await?;
        Ok(())
    }

    /// Deletes every session in the index at `index`; returns how many there were.
    pub async fn delete_indexed(&self, index: &str) -> Result<usize, StoreUnavailable> {
        let mut conn = self.conn()?;
        let keys: Vec<String> = conn.smembers(index).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.del(key).ignore();
        }
        pipe.del(index).ignore();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(keys.len())
    }

    /// Records `value` under `key` for `ttl` seconds unless it is already there; true when newly set.
    pub async fn set_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreUnavailable> {
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg("1")
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut self.conn()?)
            .await?;
        Ok(set.is_some())
    }

    /// Releases a lock taken with [`set_once`](Self::set_once).
    pub async fn release(&self, key: &str) -> Result<(), StoreUnavailable> {
        self.delete(key).await
    }

    /// Whether Redis answers a PING.
    pub async fn ping(&self) -> bool {
        match self.conn() {
            Ok(mut c) => redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_name_a_hash() {
        let t = Ticket::random();
        let back = Ticket::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), t.to_bytes());
        assert!(Ticket::from_bytes(&[0; 10]).is_none());
        let store = RedisStore::new(&Secret::new("redis://127.0.0.1:1"), "p:").unwrap();
        let key = store.session_key(&t);
        assert!(key.starts_with("p:session:"));
        assert!(
            !key.contains(&URL_SAFE_NO_PAD.encode(t.id)),
            "the id itself is not in Redis"
        );
    }
}
