//! The development issuer's signing key: RSA-2048, RS256, made at start-up (so nothing is
//! shared between runs), published as a JWKS like Cognito's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{Value, json};

/// A fresh signing key.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    /// Generates a key.
    pub fn generate() -> Result<Self, String> {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| format!("RSA key generation: {e}"))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| format!("RSA key encoding: {e}"))?;
        let kid = crate::oidc::random_token(16);
        let jwk = json!({
            "alg": "RS256",
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
            "kid": kid,
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "use": "sig",
        });
        Ok(Self {
            kid,
            encoding: EncodingKey::from_rsa_der(der.as_bytes()),
            jwk,
        })
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Signs `claims` as a JWT.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| e.to_string())
    }
}
