//! What both kinds of signed token share: the compact JWS, and a cache that makes one per
//! identity and audience and hands it out until shortly before it expires, so that a request
//! pays a lookup rather than a signature.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use base64::Engine;
use http::HeaderValue;
use serde_json::Value;

use super::AssertionKey;
use crate::identity::Claims;

/// Tokens kept, one per identity and audience.
const CACHE_ENTRIES: usize = 100_000;

/// Who a token is for: its `aud` (none for ALB's), and the key it is cached under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// The `aud` claim.
    pub name: String,
    key: u64,
}

impl Audience {
    /// The audience named `name`.
    pub fn new(name: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        Self {
            name: name.to_string(),
            key: hasher.finish(),
        }
    }
}

/// A token made, for whom, and until when.
struct Minted {
    sub: String,
    audience: String,
    exp: u64,
    value: HeaderValue,
}

/// Tokens made, one per identity (its token: subject, issue time, expiry, id) and audience.
pub(super) struct Mint {
    lifetime: u64,
    /// A token with less than this left is made anew.
    renew_within: u64,
    made: quick_cache::sync::Cache<u64, Arc<Minted>>,
}

impl Mint {
    /// Tokens valid for `lifetime` seconds, renewed in their last quarter (at most a minute).
    pub(super) fn new(lifetime: u64) -> Self {
        let lifetime = lifetime.max(1);
        Self {
            lifetime,
            renew_within: (lifetime / 4).min(60),
            made: quick_cache::sync::Cache::new(CACHE_ENTRIES),
        }
    }

    /// The token for `claims` to `audience`, valid until `until` at the latest: one made before
    /// for this very subject and audience, or `make(sub, exp)`'s. `None` for an identity
    /// without a subject, or one whose end has come.
    pub(super) fn get_or_make(
        &self,
        claims: &Claims,
        audience: &Audience,
        until: u64,
        now: u64,
        make: impl FnOnce(&str, u64) -> Option<String>,
    ) -> Option<HeaderValue> {
        let sub = claims.get("sub").and_then(Value::as_str)?;
        let key = identity_key(claims, audience.key);
        if let Some(made) = self.made.get(&key) {
            // The key is a hash: a token is handed out only to the subject and audience it
            // names, whatever collides.
            let same = made.sub == sub && made.audience == audience.name;
            if same && made.exp > now + self.renew_within && made.exp <= until.max(now) {
                return Some(made.value.clone());
            }
        }
        let exp = (now + self.lifetime).min(until);
        if exp <= now {
            return None;
        }
        let value = HeaderValue::try_from(make(sub, exp)?).ok()?;
        self.made.insert(
            key,
            Arc::new(Minted {
                sub: sub.to_string(),
                audience: audience.name.clone(),
                exp,
                value: value.clone(),
            }),
        );
        Some(value)
    }
}

/// The cache key of an identity's token to an audience: what identifies the identity's own
/// token, so that a refreshed session (a new token) gets a new one.
fn identity_key(claims: &Claims, audience: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    audience.hash(&mut hasher);
    for name in ["sub", "iat", "exp", "jti", "origin_jti", "auth_time"] {
        // Each claim tagged by kind, so that absent, a number and a string never read alike.
        match claims.get(name) {
            Some(Value::String(s)) => (1u8, s).hash(&mut hasher),
            Some(Value::Number(n)) => (2u8, n.to_string()).hash(&mut hasher),
            _ => 0u8.hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// The compact JWS of `header` and `payload` signed with `key` (ES256), each segment in
/// `engine`'s base64url: without padding as JWS has it, or with it as ALB writes it.
pub(super) fn compact(
    key: &AssertionKey,
    header: &Value,
    payload: &Value,
    engine: &impl Engine,
) -> String {
    let mut jws = engine.encode(header.to_string());
    jws.push('.');
    jws.push_str(&engine.encode(payload.to_string()));
    let signature = key.sign(jws.as_bytes());
    jws.push('.');
    jws.push_str(&engine.encode(signature));
    jws
}
