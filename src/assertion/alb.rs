//! ALB-compatible headers, for apps written to sit behind an AWS Application Load Balancer's
//! `authenticate-cognito` / `authenticate-oidc` action: `x-amzn-oidc-identity` (the subject),
//! `x-amzn-oidc-accesstoken` (the access token) and `x-amzn-oidc-data`, a JWT exactly as ALB
//! builds it. Its header carries `alg` (ES256), `kid` (a UUID), `signer` (the load balancer's
//! ARN: `[alb] arn`), `iss` (the issuer), `client` (the client id) and `exp`; its payload the
//! user's claims with `sub`, `exp` and `iss`; each segment base64url with ALB's `=` padding.
//!
//! ALB publishes each key's PEM at `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`;
//! the gateway serves its own the same way at [`ALB_KEYS_PATH`]`/<kid>`, so a verifier that
//! lets its key endpoint be set (aws-jwt-verify's `AlbJwtVerifier` `jwksUri`, and others)
//! verifies the header unchanged. Like ALB's, the token names no audience: prefer the signed
//! assertion, which does, for anything new.

use base64::engine::general_purpose::URL_SAFE;
use http::HeaderValue;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::mint::{Audience, Mint, compact};
use super::{ALB_KEY_LABEL, AssertionKey};
use crate::identity::Claims;

/// Where the gateway publishes its ALB key's PEM, `/<kid>` appended.
pub const ALB_KEYS_PATH: &str = "/.well-known/portcullis/alb";
/// How long an `x-amzn-oidc-data` token is valid (never past the session's end).
const LIFETIME: u64 = 120;
/// Claims of the identity's token that say nothing of the user (they describe the token), left
/// out of the payload as ALB leaves them out of its own (it sends the userinfo claims).
const TOKEN_CLAIMS: [&str; 12] = [
    "aud",
    "azp",
    "nonce",
    "at_hash",
    "c_hash",
    "token_use",
    "auth_time",
    "iat",
    "jti",
    "origin_jti",
    "event_id",
    "nbf",
];

/// `[alb]`, checked.
#[derive(Debug, Clone)]
pub struct AlbSettings {
    /// The load balancer's ARN: the `signer` apps check.
    pub arn: String,
}

/// Makes and publishes ALB-style `x-amzn-oidc-data` tokens.
pub struct Alb {
    key: AssertionKey,
    /// The key's id: a UUID, as ALB's are (verifiers check the form).
    kid: String,
    /// The key's public half, PEM (SPKI).
    pem: String,
    signer: String,
    issuer: String,
    client: String,
    /// ALB's tokens name no audience: one per identity.
    everyone: Audience,
    mint: Mint,
}

impl Alb {
    /// ALB headers signed for `settings`' load balancer, with a key derived from `secret`
    /// (`session.secret`), for tokens of `issuer` and the app client `client`.
    pub fn new(settings: &AlbSettings, secret: &[u8], issuer: &str, client: &str) -> Self {
        let key = AssertionKey::derive(secret, ALB_KEY_LABEL);
        let digest = Sha256::digest(key.public.kid.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        // A UUID of version 8 (RFC 9562: made by the application), variant 10.
        id[6] = (id[6] & 0x0f) | 0x80;
        id[8] = (id[8] & 0x3f) | 0x80;
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let kid = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        // Encoding a valid P-256 public key as SPKI PEM cannot fail.
        let pem = key
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default();
        Self {
            key,
            kid,
            pem,
            signer: settings.arn.clone(),
            issuer: issuer.to_string(),
            client: client.to_string(),
            everyone: Audience::new(""),
            mint: Mint::new(LIFETIME),
        }
    }

    /// The PEM of the key named `kid`, if it is this gateway's.
    pub fn public_pem(&self, kid: &str) -> Option<&str> {
        (kid == self.kid).then_some(self.pem.as_str())
    }

    /// `x-amzn-oidc-data` for `claims`, valid until `until` at the latest: made now, or reused
    /// until shortly before it expires.
    pub fn data(&self, claims: &Claims, until: u64, now: u64) -> Option<HeaderValue> {
        self.mint
            .get_or_make(claims, &self.everyone, until, now, |sub, exp| {
                let header = json!({
                    "alg": "ES256",
                    "kid": self.kid,
                    "signer": self.signer,
                    "iss": self.issuer,
                    "client": self.client,
                    "exp": exp,
                });
                let payload = self.payload(claims, sub, exp);
                // ALB's segments keep base64's `=` padding, which JWS leaves out; verifiers
                // written for ALB expect it.
                Some(compact(&self.key, &header, &payload, &URL_SAFE))
            })
    }

    /// The user's claims as ALB sends them: Cognito's userinfo (`username`, and
    /// `email_verified` as the string `"true"`), with `sub`, `exp` and `iss`.
    fn payload(&self, claims: &Claims, sub: &str, exp: u64) -> Value {
        let mut payload: Map<String, Value> = claims
            .iter()
            .filter(|(name, _)| !TOKEN_CLAIMS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(name) = claims
            .get("cognito:username")
            .filter(|_| !claims.contains_key("username"))
        {
            payload.insert("username".into(), name.clone());
        }
        // The identity's claims hold an email only once it is verified (`Claims::new`).
        if payload.contains_key("email") {
            payload.insert("email_verified".into(), json!("true"));
        }
        payload.insert("sub".into(), json!(sub));
        payload.insert("exp".into(), json!(exp));
        payload.insert("iss".into(), json!(self.issuer));
        Value::Object(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE as PADDED;

    #[test]
    fn the_token_is_shaped_as_albs() {
        let alb = Alb::new(
            &AlbSettings {
                arn: "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/p/0123456789abcdef".into(),
            },
            b"0123456789abcdef0123456789abcdef",
            "https://issuer.example",
            "client-1",
        );
        let claims = Claims::from(
            json!({"sub": "s", "email": "a@example.com", "email_verified": true, "aud": "client-1", "nonce": "n", "iat": 1})
                .as_object()
                .unwrap()
                .clone(),
        );
        let token = alb.data(&claims, 10_000, 1000).unwrap();
        let parts: Vec<&str> = token.to_str().unwrap().split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode =
            |p: &str| -> Value { serde_json::from_slice(&PADDED.decode(p).unwrap()).unwrap() };
        let (header, payload) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(header["kid"], alb.kid.as_str());
        assert_eq!(
            header["signer"],
            "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/p/0123456789abcdef"
        );
        assert_eq!(
            (header["client"].as_str(), header["exp"].as_u64()),
            (Some("client-1"), Some(1120))
        );
        assert_eq!(payload["sub"], "s");
        assert_eq!(payload["email"], "a@example.com");
        assert_eq!(payload["email_verified"], "true");
        assert_eq!(payload["iss"], "https://issuer.example");
        assert!(payload.get("aud").is_none() && payload.get("nonce").is_none());
        // The signature is 64 bytes: 88 characters with padding.
        assert!(parts[2].ends_with("=="), "{}", parts[2]);
        assert_eq!(alb.kid.len(), 36);
        assert!(
            alb.public_pem(&alb.kid)
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        assert!(alb.public_pem("other").is_none());
        // A derived key of its own, stable for the secret.
        let again = Alb::new(
            &AlbSettings { arn: "x".into() },
            b"0123456789abcdef0123456789abcdef",
            "i",
            "c",
        );
        assert_eq!(again.kid, alb.kid);
    }
}
