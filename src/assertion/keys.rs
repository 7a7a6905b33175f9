//! The assertion signing keys: ES256 (ECDSA on P-256 with SHA-256). The current key signs; it
//! and the previous ones are published as a JWKS. A key comes from a PEM file (PKCS#8 or SEC1),
//! or is derived from `session.secret`, so that every replica sharing the secret signs with the
//! same key and no file has to be distributed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

/// What the assertion key is derived with from `session.secret` (HKDF `info`; a new label makes
/// a new key). The cookie and Redis keys are derived with labels of their own (`cookie v1`,
/// `redis session v1`), so no key can be worked out from another.
pub const ASSERTION_KEY_LABEL: &[u8] = b"portcullis assertion signing key v1";
/// What the key of ALB-style tokens is derived with: a key apart from the assertion key.
pub const ALB_KEY_LABEL: &[u8] = b"portcullis alb signing key v1";

/// A public key as published: its JWK members and its RFC 7638 thumbprint, the `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// The RFC 7638 thumbprint (base64url of SHA-256): the `kid` of what it verifies.
    pub kid: String,
    x: String,
    y: String,
}

impl PublicJwk {
    fn of(key: &PublicKey) -> Self {
        let point = key.to_encoded_point(false);
        // Both coordinates are present in an uncompressed point.
        let coordinate =
            |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
        let (x, y) = (coordinate(point.x()), coordinate(point.y()));
        // RFC 7638, section 3.2: the required members only, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { kid, x, y }
    }

    /// The JWK, as a JWKS lists it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }
}

/// The key assertions are signed with.
#[derive(Clone)]
pub struct AssertionKey {
    signing: SigningKey,
    /// Its public half, as published.
    pub public: PublicJwk,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssertionKey({})", self.public.kid)
    }
}

impl AssertionKey {
    /// The key derived from `secret` (`session.secret`) with `label`: the same secret and label,
    /// the same key.
    pub fn derive(secret: &[u8], label: &[u8]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, secret);
        // A derived scalar is zero or past the group order with a chance of about 2^-32: the
        // next counter then gives another one.
        for counter in 0u8..=u8::MAX {
            let mut bytes = [0u8; 32];
            let info = [label, &[counter]].concat();
            if hkdf.expand(&info, &mut bytes).is_err() {
                continue;
            }
            if let Ok(secret) = SecretKey::from_bytes(&bytes.into()) {
                return Self::from_secret(&secret);
            }
        }
        unreachable!("256 derived scalars all out of range")
    }

    /// The private key in `pem`: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`),
    /// on P-256.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| SecretKey::from_sec1_pem(pem))
            .map(|secret| Self::from_secret(&secret))
            .map_err(|_| "not an EC P-256 private key in PEM (PKCS#8 or SEC1)".to_string())
    }

    fn from_secret(secret: &SecretKey) -> Self {
        Self {
            signing: SigningKey::from(secret),
            public: PublicJwk::of(&secret.public_key()),
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from(self.signing.verifying_key())
    }

    /// The ES256 signature of `input` (a JWS signing input), as JWS carries it: `r || s`.
    pub fn sign(&self, input: &[u8]) -> [u8; 64] {
        let signature: Signature = self.signing.sign(input);
        let mut out = [0u8; 64];
        out.copy_from_slice(&signature.to_bytes());
        out
    }
}

/// A published key from a PEM file: a private key (an older signing key) or a public key.
pub fn public_from_pem(pem: &str) -> Result<PublicJwk, String> {
    if let Ok(key) = AssertionKey::from_pem(pem) {
        return Ok(key.public);
    }
    PublicKey::from_public_key_pem(pem)
        .map(|key| PublicJwk::of(&key))
        .map_err(|_| "not an EC P-256 key in PEM (a private key, or a public key)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 thumbprints of P-256 keys are 43 characters of base64url; a derived key is
    /// the same for the same secret and another for another one.
    #[test]
    fn derived_keys_follow_the_secret() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let a = AssertionKey::derive(secret, ASSERTION_KEY_LABEL);
        let b = AssertionKey::derive(secret, ASSERTION_KEY_LABEL);
        let c = AssertionKey::derive(b"another-secret-0123456789abcdef!", ASSERTION_KEY_LABEL);
        let alb = AssertionKey::derive(secret, ALB_KEY_LABEL);
        assert_ne!(a.public, alb.public);
        assert_eq!(a.public, b.public);
        assert_ne!(a.public, c.public);
        assert_eq!(a.public.kid.len(), 43);
        let jwk = a.public.to_json();
        assert_eq!(jwk["kid"], a.public.kid.as_str());
        assert_eq!(jwk["alg"], "ES256");
    }

    #[test]
    fn pem_keys_in_both_forms() {
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let secret = SecretKey::from_bytes(&[7u8; 32].into()).unwrap();
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        let public = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let kid = AssertionKey::from_pem(&pkcs8).unwrap().public.kid;
        assert_eq!(AssertionKey::from_pem(&sec1).unwrap().public.kid, kid);
        assert_eq!(public_from_pem(&pkcs8).unwrap().kid, kid);
        assert_eq!(public_from_pem(&public).unwrap().kid, kid);
        assert!(AssertionKey::from_pem(&public).is_err());
        assert!(AssertionKey::from_pem("not a key").is_err());
        assert!(
            public_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
