//! API clients: `Authorization: Bearer <JWT>` instead of a session. Tokens of the gateway's own
//! issuer (Cognito access tokens for `[bearer] client_ids`, or ID tokens) and of other trusted
//! issuers are validated with the same key caches and strictness as sign-in.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::cache::{VerifiedCache, Weigh};
use crate::identity::EmailTrust;
use crate::oidc::{
    Audience, BearerToken, FetchError, Issuer, OidcSettings, now_secs, unverified_claims,
};
use crate::policy::AuthFailure;

/// `[bearer]`: API clients presenting `Authorization: Bearer <JWT>`.
#[derive(Debug, Clone)]
pub struct BearerSettings {
    /// App clients whose tokens from the gateway's issuer are accepted (`client_id` of access
    /// tokens, `aud` of ID tokens).
    pub client_ids: Vec<String>,
    /// Other issuers whose tokens are accepted, each for one audience.
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// An issuer trusted for bearer tokens besides the gateway's own.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// Its issuer identifier (discovery is fetched from it).
    pub issuer: String,
    /// The `aud` (or `client_id`) its tokens must carry.
    pub audience: String,
}

/// Longest bearer token read; anything longer is not a token this gateway issued trust to.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The issuers trusted for bearer tokens and the audiences they must name.
pub(crate) struct Bearers {
    client_ids: Vec<String>,
    trusted: Vec<(Arc<Issuer>, String)>,
    /// Tokens whose signature and claims were verified, until they expire.
    verified: VerifiedCache<Verified>,
}

/// A verified token, and the generation of its issuer's keys at the time.
struct Verified {
    token: BearerToken,
    keys: u64,
}

/// Most memory spent on verified tokens.
const TOKEN_CACHE_BYTES: usize = 8 << 20;

impl Weigh for Verified {
    fn weight(&self) -> usize {
        let t = &self.token;
        512 + t.claims.len() * 64 + t.scopes.iter().map(String::len).sum::<usize>()
    }
}

impl Bearers {
    /// The trusted issuers of `settings`, not discovered yet.
    pub(crate) fn new(settings: &BearerSettings, oidc: &OidcSettings) -> Result<Self, FetchError> {
        let mut trusted = Vec::new();
        for t in &settings.trusted_issuers {
            let issuer = OidcSettings {
                issuer: t.issuer.clone(),
                client_id: t.audience.clone(),
                client_secret: None,
                cognito_domain: None,
                authorize_params: Vec::new(),
                // `oidc.assume_email_verified` speaks for the gateway's own issuer only.
                email_trust: EmailTrust::VerifiedOnly,
                ..oidc.clone()
            };
            trusted.push((Arc::new(Issuer::new(issuer)?), t.audience.clone()));
        }
        Ok(Self {
            client_ids: settings.client_ids.clone(),
            trusted,
            verified: VerifiedCache::new(TOKEN_CACHE_BYTES),
        })
    }

    /// Discovers the trusted issuers in the background.
    pub(crate) fn spawn_discovery(&self) -> Vec<JoinHandle<()>> {
        self.trusted
            .iter()
            .map(|(i, _)| i.spawn_discovery())
            .collect()
    }

    /// Validates `token` (the header's bytes) with the issuer it names.
    pub(crate) async fn verify(
        &self,
        own: &Issuer,
        token: &[u8],
    ) -> Result<BearerToken, AuthFailure> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthFailure::BadToken);
        }
        if let Some(known) = self.verified.get(token) {
            if let Some(result) = self.reuse(own, &known) {
                return result;
            }
        }
        let token = std::str::from_utf8(token).map_err(|_| AuthFailure::BadToken)?;
        // The claimed issuer only picks the keys; the signature then proves it.
        let claims = unverified_claims(token).map_err(|_| AuthFailure::BadToken)?;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let (issuer, audience) = self.issuer_for(own, iss).ok_or(AuthFailure::BadToken)?;
        let provider = issuer.provider().ok_or(AuthFailure::IssuerUnavailable)?;
        let keys = provider.keys.generation();
        // Boxed: the validation future (with its key fetch) is large, and is only needed for a
        // token not seen before.
        let token_checked = Box::pin(issuer.validate_bearer(&provider, token, audience))
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "bearer token rejected");
                AuthFailure::BadToken
            })?;
        let verified = Verified {
            token: token_checked.clone(),
            keys,
        };
        self.verified.insert(token.as_bytes(), Arc::new(verified));
        Ok(token_checked)
    }

    /// The answer for a token verified before: expired is refused (with the leeway that applied
    /// at verification); `None` when its issuer's keys have changed since, so that it is
    /// verified again with the keys of now.
    fn reuse(&self, own: &Issuer, known: &Verified) -> Option<Result<BearerToken, AuthFailure>> {
        let claims = &known.token.claims;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
        let (issuer, _) = self.issuer_for(own, iss)?;
        if issuer.provider()?.keys.generation() != known.keys {
            return None;
        }
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let leeway = own.settings().clock_leeway.as_secs();
        Some(if now_secs() < exp.saturating_add(leeway) {
            Ok(known.token.clone())
        } else {
            Err(AuthFailure::BadToken)
        })
    }

    /// The issuer that signs tokens naming `iss`, and the audience they must carry.
    fn issuer_for<'a>(&'a self, own: &'a Issuer, iss: &str) -> Option<(&'a Issuer, Audience<'a>)> {
        if iss == own.settings().issuer {
            return Some((own, Audience::ClientIds(&self.client_ids)));
        }
        self.trusted
            .iter()
            .find(|(i, _)| i.settings().issuer == iss)
            .map(|(issuer, aud)| (issuer.as_ref(), Audience::Named(aud)))
    }
}
