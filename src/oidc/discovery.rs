//! The discovery document (`{issuer}/.well-known/openid-configuration`), checked before use.

use serde::Deserialize;
use url::Url;

use super::fetch::{FetchError, get_json};

/// Whether `url` is https, or plain http to a loopback host (local development and tests).
pub fn is_https_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The endpoints the gateway uses, from a discovery document that named exactly the configured issuer.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// Issuer identifier, equal to the configured one.
    pub issuer: String,
    /// Where browsers are sent to sign in.
    pub authorization_endpoint: Url,
    /// Where codes are exchanged for tokens.
    pub token_endpoint: Url,
    /// The signing keys.
    pub jwks_uri: Url,
    /// Token revocation (RFC 7009), when the issuer offers it (Cognito: `/oauth2/revoke`).
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// RP-initiated logout, when the issuer offers it.
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
}

/// Fetches and checks the discovery document of `issuer`.
pub async fn fetch(http: &reqwest::Client, issuer: &str) -> Result<Metadata, FetchError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let metadata: Metadata = get_json(http, &url).await?;
    let invalid = |reason: String| FetchError::Invalid {
        url: url.clone(),
        reason,
    };
    // An exact match (OpenID Connect Discovery 1.0, section 4.3): a document naming another
    // issuer could let that issuer's tokens in.
    if metadata.issuer != issuer {
        return Err(invalid(format!(
            "names issuer {:?}, expected {issuer:?}",
            metadata.issuer
        )));
    }
    for (name, endpoint) in [
        (
            "authorization_endpoint",
            Some(&metadata.authorization_endpoint),
        ),
        ("token_endpoint", Some(&metadata.token_endpoint)),
        ("jwks_uri", Some(&metadata.jwks_uri)),
        (
            "end_session_endpoint",
            metadata.end_session_endpoint.as_ref(),
        ),
    ] {
        if let Some(endpoint) = endpoint {
            if !is_https_or_loopback(endpoint) {
                return Err(invalid(format!(
                    "{name} must be https (http only on loopback)"
                )));
            }
        }
    }
    Ok(metadata)
}
