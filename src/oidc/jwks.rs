//! The JWKS cache: signing keys by `kid`, refetched when a token names a key it does not know
//! (keys rotate), at most once per [`REFETCH_COOLDOWN`] so that forged `kid`s cannot make the
//! gateway hammer its issuer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use url::Url;

use super::fetch::{FetchError, get_json};

/// Minimum time between two refetches caused by unknown key ids.
pub const REFETCH_COOLDOWN: Duration = Duration::from_secs(10);

/// One verification key.
pub struct Key {
    /// `kid`, when the JWK has one.
    pub kid: Option<String>,
    /// `alg`, when the JWK names one; tokens must then use exactly it.
    pub alg: Option<Algorithm>,
    /// The key itself.
    pub key: DecodingKey,
}

/// The keys of one JWKS document.
#[derive(Default)]
pub struct KeySet(Vec<Key>);

impl KeySet {
    /// Builds a key set, skipping keys that are not for signatures or that cannot be used.
    fn from_document(doc: JwksDocument) -> Self {
        let keys = doc
            .keys
            .into_iter()
            .filter_map(|raw| {
                // Parsed one by one: an unusual key (an encryption key, a new key type) must not
                // make the whole set unusable.
                let jwk: Jwk = serde_json::from_value(raw).ok()?;
                if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
                    return None;
                }
                let alg = match &jwk.common.key_algorithm {
                    Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
                    None => None,
                };
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                Some(Key {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                })
            })
            .collect();
        Self(keys)
    }

    /// The key for a token header: by `kid`, or the only key when the token names none.
    pub fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.0.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.0.len() == 1 => self.0.first(),
            None => None,
        }
    }
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

/// The issuer's keys, with rate-limited refetching.
pub struct KeyStore {
    http: reqwest::Client,
    uri: Url,
    current: ArcSwap<KeySet>,
    /// Bumped whenever a refetch replaces the keys, so that what was verified with the old ones
    /// can tell.
    generation: std::sync::atomic::AtomicU64,
    /// When an unknown `kid` last caused a refetch; also serialises refetches.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("uri", &self.uri.as_str())
            .field("keys", &self.len())
            .finish()
    }
}

impl KeyStore {
    /// Fetches the JWKS at `uri`.
    pub async fn load(http: reqwest::Client, uri: Url) -> Result<Self, FetchError> {
        let set = fetch(&http, &uri).await?;
        Ok(Self {
            http,
            uri,
            current: ArcSwap::from_pointee(set),
            generation: Default::default(),
            last_refetch: tokio::sync::Mutex::new(None),
        })
    }

    /// A key store starting from a JWKS document already at hand (later refetches use `uri`).
    pub fn from_document(
        http: reqwest::Client,
        uri: Url,
        document: serde_json::Value,
    ) -> Result<Self, FetchError> {
        let doc: JwksDocument =
            serde_json::from_value(document).map_err(|e| FetchError::Invalid {
                url: uri.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            uri,
            current: ArcSwap::from_pointee(KeySet::from_document(doc)),
            generation: Default::default(),
            last_refetch: tokio::sync::Mutex::new(None),
        })
    }

    /// Which set of keys is current: changes whenever a refetch replaces them.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Number of usable signing keys.
    pub fn len(&self) -> usize {
        self.current.load().0.len()
    }

    /// Whether no usable signing key is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current keys.
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Refetches the JWKS because a token named an unknown key, unless that happened less than
    /// [`REFETCH_COOLDOWN`] ago. Returns the keys to use from now on.
    pub async fn refetch(&self) -> Arc<KeySet> {
        let mut last = self.last_refetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < REFETCH_COOLDOWN) {
            return self.current();
        }
        *last = Some(Instant::now());
        match fetch(&self.http, &self.uri).await {
            Ok(set) => {
                tracing::info!(keys = set.0.len(), "JWKS refetched");
                self.current.store(Arc::new(set));
                self.generation
                    .fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            Err(e) => tracing::warn!(error = %e, "JWKS refetch failed"),
        }
        self.current()
    }
}

async fn fetch(http: &reqwest::Client, uri: &Url) -> Result<KeySet, FetchError> {
    let result = fetch_once(http, uri).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::counter!(crate::metrics::JWKS_FETCHES, "result" => outcome).increment(1);
    result
}

async fn fetch_once(http: &reqwest::Client, uri: &Url) -> Result<KeySet, FetchError> {
    let doc: JwksDocument = get_json(http, uri.as_str()).await?;
    let set = KeySet::from_document(doc);
    if set.0.is_empty() {
        return Err(FetchError::Invalid {
            url: uri.to_string(),
            reason: "no usable signing key".to_string(),
        });
    }
    Ok(set)
}
