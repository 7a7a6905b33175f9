//! Identity the app can verify: a signed assertion (a compact JWS, ES256) on every proxied
//! request that has an identity, in `X-Portcullis-Assertion` or the header configured, and the
//! JWKS that verifies it, served by the gateway at [`JWKS_PATH`].
//!
//! An app that trusts `X-Forwarded-User` trusts whoever can reach it; an app that verifies the
//! assertion trusts only the gateway's key. Every assertion names its audience (`aud`: the
//! route's `audience`, by default its upstream's origin), so an assertion made for one app is
//! refused by another, and it ends (`exp`) after `[assertion] lifetime`, never after the
//! session itself.
//!
//! Signing costs tens of microseconds: an assertion is made once per identity and route and
//! reused until shortly before it expires, so a signed-in request pays a cache lookup.

mod alb;
mod keys;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

pub use alb::{ALB_KEYS_PATH, Alb, AlbSettings};
pub use keys::{AssertionKey, PublicJwk, public_from_pem};

use crate::identity::{ClaimSource, Claims};

/// Where the gateway publishes the keys that verify its assertions (public, cacheable).
pub const JWKS_PATH: &str = "/.well-known/portcullis/jwks.json";
/// The header assertions are sent in, unless configured otherwise.
pub const DEFAULT_HEADER: &str = "x-portcullis-assertion";
/// How long an assertion is valid, unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// How long browsers and apps may keep the JWKS: long enough to spare the gateway, short
/// enough for a new key to be seen within minutes of a rotation.
const JWKS_MAX_AGE: u64 = 300;
/// Assertions kept, one per identity and route.
const CACHE_ENTRIES: usize = 100_000;

/// `[assertion]`, checked.
#[derive(Debug, Clone)]
pub struct AssertionSettings {
    /// The header the assertion goes in.
    pub header: HeaderName,
    /// The key that signs.
    pub key: AssertionKey,
    /// Older keys, still published while apps move over.
    pub previous: Vec<PublicJwk>,
    /// How long an assertion is valid.
    pub lifetime: Duration,
}

/// An assertion made, and when it expires.
struct Signed {
    exp: u64,
    value: HeaderValue,
}

/// Makes, keeps and publishes the gateway's assertions.
pub struct Assertions {
    header: HeaderName,
    key: AssertionKey,
    issuer: String,
    lifetime: u64,
    /// An assertion with less than this left is made anew.
    renew_within: u64,
    jwks: Vec<u8>,
    groups: ClaimSource,
    made: quick_cache::sync::Cache<u64, Arc<Signed>>,
}

impl Assertions {
    /// Assertions as `settings` says, issued by `issuer` (the gateway's public origin).
    pub fn new(settings: &AssertionSettings, issuer: &str) -> Self {
        let keys: Vec<Value> = std::iter::once(&settings.key.public)
            .chain(&settings.previous)
            .map(PublicJwk::to_json)
            .collect();
        let lifetime = settings.lifetime.as_secs().max(1);
        Self {
            header: settings.header.clone(),
            key: settings.key.clone(),
            issuer: issuer.to_string(),
            lifetime,
            renew_within: (lifetime / 4).min(60),
            jwks: json!({ "keys": keys }).to_string().into_bytes(),
            groups: ClaimSource::named(&["cognito:groups", "groups"], None),
            made: quick_cache::sync::Cache::new(CACHE_ENTRIES),
        }
    }

    /// The header assertions go in.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The JWKS document, and how long it may be cached (seconds).
    pub fn jwks(&self) -> (&[u8], u64) {
        (&self.jwks, JWKS_MAX_AGE)
    }

    /// The assertion for the identity `claims` to `audience` (whose key for the cache is
    /// `audience_key`), with `roles`, valid until `until` at the latest; made now or reused.
    /// `None` for an identity without a subject.
    pub fn for_identity(
        &self,
        claims: &Claims,
        audience: &str,
        audience_key: u64,
        roles: impl FnOnce() -> Vec<String>,
        until: u64,
        now: u64,
    ) -> Option<HeaderValue> {
        let key = identity_key(claims, audience_key);
        if let Some(signed) = self.made.get(&key) {
            if signed.exp > now + self.renew_within && signed.exp <= until.max(now) {
                return Some(signed.value.clone());
            }
        }
        let exp = (now + self.lifetime).min(until);
        if exp <= now {
            return None;
        }
        let payload = self.payload(claims, audience, roles(), now, exp)?;
        let value = HeaderValue::try_from(self.sign(&payload)).ok()?;
        self.made.insert(
            key,
            Arc::new(Signed {
                exp,
                value: value.clone(),
            }),
        );
        Some(value)
    }

    /// What the assertion says: who (`sub`, a verified `email`, `preferred_username`,
    /// `groups`, `roles`), to whom (`aud`), by whom (`iss`), and for how long.
    fn payload(
        &self,
        claims: &Claims,
        audience: &str,
        roles: Vec<String>,
        now: u64,
        exp: u64,
    ) -> Option<Map<String, Value>> {
        let sub = claims.get("sub").and_then(Value::as_str)?;
        let mut out = Map::new();
        out.insert("iss".into(), json!(self.issuer));
        out.insert("aud".into(), json!(audience));
        out.insert("sub".into(), json!(sub));
        // The identity's claims hold an email only once it is verified (`Claims::new`).
        if let Some(email) = claims.get("email").and_then(Value::as_str) {
            out.insert("email".into(), json!(email));
            out.insert("email_verified".into(), json!(true));
        }
        if let Some(name) = ["cognito:username", "preferred_username", "username"]
            .iter()
            .find_map(|c| claims.get(*c).and_then(Value::as_str))
        {
            out.insert("preferred_username".into(), json!(name));
        }
        out.insert("groups".into(), json!(self.groups.values(claims)));
        out.insert("roles".into(), json!(roles));
        out.insert("iat".into(), json!(now));
        out.insert("exp".into(), json!(exp));
        Some(out)
    }

    /// The compact JWS of `payload`: `{"alg":"ES256","typ":"JWT","kid":...}`, base64url without
    /// padding (RFC 7515).
    fn sign(&self, payload: &Map<String, Value>) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.key.public.kid });
        let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(Value::Object(payload.clone()).to_string()));
        let signature = self.key.sign(jws.as_bytes());
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
        jws
    }
}

/// The cache key of an identity's assertion to an audience: the identity's token (its subject,
/// when it was issued, when it expires, its id), so that a refreshed session gets a new one.
fn identity_key(claims: &Claims, audience_key: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    audience_key.hash(&mut hasher);
    for name in ["sub", "iat", "exp", "jti", "origin_jti", "auth_time"] {
        match claims.get(name) {
            Some(Value::String(s)) => s.hash(&mut hasher),
            Some(Value::Number(n)) => n.as_u64().hash(&mut hasher),
            _ => 0u8.hash(&mut hasher),
        }
    }
    hasher.finish()
}

/// The cache key part of an audience.
pub fn audience_key(audience: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    audience.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assertions(lifetime: u64) -> Assertions {
        Assertions::new(
            &AssertionSettings {
                header: HeaderName::from_static(DEFAULT_HEADER),
                key: AssertionKey::derive(b"0123456789abcdef0123456789abcdef"),
                previous: Vec::new(),
                lifetime: Duration::from_secs(lifetime),
            },
            "https://app.example.com",
        )
    }

    fn claims() -> Claims {
        Claims::from(
            json!({"sub": "s", "iat": 100, "exp": 4000, "email": "a@example.com",
                   "cognito:username": "alice", "cognito:groups": ["admins"]})
            .as_object()
            .unwrap()
            .clone(),
        )
    }

    fn decode(value: &HeaderValue) -> (Value, Value) {
        let text = value.to_str().unwrap();
        let parts: Vec<&str> = text.split('.').collect();
        let part = |i: usize| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[i]).unwrap()).unwrap()
        };
        (part(0), part(1))
    }

    #[test]
    fn an_assertion_names_its_audience_and_ends_with_the_session() {
        let a = assertions(300);
        let wiki = a
            .for_identity(
                &claims(),
                "https://wiki",
                audience_key("https://wiki"),
                || vec!["r".into()],
                10_000,
                1000,
            )
            .unwrap();
        let (header, payload) = decode(&wiki);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], a.key.public.kid.as_str());
        assert_eq!(payload["aud"], "https://wiki");
        assert_eq!(payload["iss"], "https://app.example.com");
        assert_eq!(payload["preferred_username"], "alice");
        assert_eq!(payload["groups"], json!(["admins"]));
        assert_eq!(payload["roles"], json!(["r"]));
        assert_eq!(
            (payload["iat"].as_u64(), payload["exp"].as_u64()),
            (Some(1000), Some(1300))
        );
        // Reused for the same identity and audience; another audience gets its own.
        let again = a
            .for_identity(
                &claims(),
                "https://wiki",
                audience_key("https://wiki"),
                Vec::new,
                10_000,
                1100,
            )
            .unwrap();
        assert_eq!(again, wiki);
        let grafana = a
            .for_identity(
                &claims(),
                "https://grafana",
                audience_key("https://grafana"),
                Vec::new,
                10_000,
                1100,
            )
            .unwrap();
        assert_ne!(grafana, wiki);
        // Made anew shortly before it expires.
        let late = a
            .for_identity(
                &claims(),
                "https://wiki",
                audience_key("https://wiki"),
                Vec::new,
                10_000,
                1260,
            )
            .unwrap();
        assert_ne!(late, wiki);
        // Never past the session's end; none once it has ended.
        let short = assertions(300)
            .for_identity(&claims(), "https://wiki", 1, Vec::new, 1050, 1000)
            .unwrap();
        assert_eq!(decode(&short).1["exp"], 1050);
        assert!(
            a.for_identity(&claims(), "https://x", 2, Vec::new, 999, 1000)
                .is_none()
        );
    }
}
