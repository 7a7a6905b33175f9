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
mod mint;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

pub use alb::{ALB_KEYS_PATH, Alb, AlbSettings};
pub use keys::{ALB_KEY_LABEL, ASSERTION_KEY_LABEL, AssertionKey, PublicJwk, public_from_pem};
pub use mint::Audience;

use crate::identity::{ClaimSource, Claims};
use mint::{Mint, compact};

/// Where the gateway publishes the keys that verify its assertions (public, cacheable).
pub const JWKS_PATH: &str = "/.well-known/portcullis/jwks.json";
/// The header assertions are sent in, unless configured otherwise.
pub const DEFAULT_HEADER: &str = "x-portcullis-assertion";
/// How long an assertion is valid, unless configured otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// How long browsers and apps may keep the JWKS: long enough to spare the gateway, short
/// enough for a new key to be seen within minutes of a rotation.
const JWKS_MAX_AGE: u64 = 300;

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

/// Makes, keeps and publishes the gateway's assertions.
pub struct Assertions {
    header: HeaderName,
    key: AssertionKey,
    issuer: String,
    jwks: bytes::Bytes,
    groups: ClaimSource,
    mint: Mint,
}

impl Assertions {
    /// Assertions as `settings` says, issued by `issuer` (the gateway's public origin).
    pub fn new(settings: &AssertionSettings, issuer: &str) -> Self {
        let keys: Vec<Value> = std::iter::once(&settings.key.public)
            .chain(&settings.previous)
            .map(PublicJwk::to_json)
            .collect();
        Self {
            header: settings.header.clone(),
            key: settings.key.clone(),
            issuer: issuer.to_string(),
            jwks: json!({ "keys": keys }).to_string().into(),
            groups: ClaimSource::named(&["cognito:groups", "groups"], None),
            mint: Mint::new(settings.lifetime.as_secs()),
        }
    }

    /// The header assertions go in.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The JWKS document, and how long it may be cached (seconds).
    pub fn jwks(&self) -> (bytes::Bytes, u64) {
        (self.jwks.clone(), JWKS_MAX_AGE)
    }

    /// The assertion for the identity `claims` to `audience`, with `roles`, valid until
    /// `until` at the latest; made now or reused. `None` for an identity without a subject.
    pub fn for_identity(
        &self,
        claims: &Claims,
        audience: &Audience,
        roles: impl FnOnce() -> Vec<String>,
        until: u64,
        now: u64,
    ) -> Option<HeaderValue> {
        self.mint
            .get_or_make(claims, audience, until, now, |sub, exp| {
                let payload = self.payload(claims, sub, &audience.name, roles(), now, exp);
                let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.key.public.kid });
                Some(compact(&self.key, &header, &payload, &URL_SAFE_NO_PAD))
            })
    }

    /// What the assertion says: who (`sub`, a verified `email`, `preferred_username`,
    /// `groups`, `roles`), to whom (`aud`), by whom (`iss`), and for how long.
    fn payload(
        &self,
        claims: &Claims,
        sub: &str,
        audience: &str,
        roles: Vec<String>,
        now: u64,
        exp: u64,
    ) -> Value {
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
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn assertions(lifetime: u64) -> Assertions {
        Assertions::new(
            &AssertionSettings {
                header: HeaderName::from_static(DEFAULT_HEADER),
                key: AssertionKey::derive(
                    b"0123456789abcdef0123456789abcdef",
                    keys::ASSERTION_KEY_LABEL,
                ),
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
        let (wiki_aud, grafana_aud) = (
            Audience::new("https://wiki"),
            Audience::new("https://grafana"),
        );
        let at = |audience: &Audience, until: u64, now: u64| {
            a.for_identity(&claims(), audience, || vec!["r".into()], until, now)
        };
        let wiki = at(&wiki_aud, 10_000, 1000).unwrap();
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
        assert_eq!(at(&wiki_aud, 10_000, 1100).unwrap(), wiki);
        assert_ne!(at(&grafana_aud, 10_000, 1100).unwrap(), wiki);
        // Made anew shortly before it expires.
        assert_ne!(at(&wiki_aud, 10_000, 1260).unwrap(), wiki);
        // Never past the session's end; none once it has ended.
        let short = assertions(300)
            .for_identity(&claims(), &wiki_aud, Vec::new, 1050, 1000)
            .unwrap();
        assert_eq!(decode(&short).1["exp"], 1050);
        assert!(at(&Audience::new("https://x"), 999, 1000).is_none());
    }

    #[test]
    fn another_subject_never_gets_a_cached_assertion() {
        let a = assertions(300);
        let audience = Audience::new("https://wiki");
        let mine = a
            .for_identity(&claims(), &audience, Vec::new, 10_000, 1000)
            .unwrap();
        // Another user whose token has the same times and ids: a new assertion, for them.
        let mut other = (*claims()).clone();
        other.insert("sub".into(), json!("someone-else"));
        let theirs = a
            .for_identity(&Claims::from(other), &audience, Vec::new, 10_000, 1000)
            .unwrap();
        assert_ne!(mine, theirs);
        assert_eq!(decode(&theirs).1["sub"], "someone-else");
    }
}
