//! The authorization-code flow: the authorization request (state, nonce, PKCE S256, always) and
//! the code exchange at the token endpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::fetch::{FetchError, json_body, unreachable};
use super::{Issuer, Provider};

/// `bytes` random bytes from the operating system's CSPRNG, base64url-encoded.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge for `verifier` (RFC 7636, section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The per-login values sent in an authorization request.
pub struct AuthorizeRequest<'a> {
    /// CSRF binding, echoed back on the callback.
    pub state: &'a str,
    /// Replay binding, echoed in the ID token.
    pub nonce: &'a str,
    /// PKCE verifier; only its challenge is sent now.
    pub verifier: &'a str,
}

/// The token endpoint's answer to a code exchange or a refresh.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The ID token, validated before anything else is done with the response.
    pub id_token: Option<String>,
    /// A refresh token: on sign-in, and on refresh when the issuer rotates them.
    pub refresh_token: Option<String>,
    /// The access token, which the session keeps only when a route passes it to its app.
    pub access_token: Option<String>,
}

/// Why a code exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The issuer refused the grant (`invalid_grant`: a used or expired code, a revoked refresh token).
    #[error("token endpoint refused the grant: {0}")]
    Refused(String),
    /// The issuer could not be reached or answered with garbage.
    #[error(transparent)]
    Unavailable(FetchError),
}

impl Issuer {
    /// The URL that starts a sign-in at the issuer.
    pub fn authorize_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        req: &AuthorizeRequest<'_>,
    ) -> Url {
        let mut url = provider.metadata.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("state", req.state)
                .append_pair("nonce", req.nonce)
                .append_pair("code_challenge", &pkce_challenge(req.verifier))
                .append_pair("code_challenge_method", "S256");
            for (name, value) in &self.settings.authorize_params {
                q.append_pair(name, value);
            }
        }
        url
    }

    /// Exchanges an authorization code: client_secret_basic for confidential clients, client_id in
    /// the body for public ones; the PKCE verifier in both cases.
    pub async fn exchange_code(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
    ) -> Result<TokenResponse, ExchangeError> {
        self.token_request(
            provider,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// Uses a refresh token (`grant_type=refresh_token`).
    pub async fn refresh(
        &self,
        provider: &Provider,
        refresh_token: &str,
    ) -> Result<TokenResponse, ExchangeError> {
        self.token_request(
            provider,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    /// Revokes a refresh token (RFC 7009) at the revocation endpoint of discovery, or for Cognito
    /// at the pool domain's `/oauth2/revoke`; best effort, since the session is ended locally
    /// whatever the issuer answers.
    pub async fn revoke(&self, provider: &Provider, refresh_token: &str) {
        let cognito = || {
            self.settings
                .cognito_domain
                .as_ref()
                .and_then(|d| d.join("oauth2/revoke").ok())
        };
        let Some(endpoint) = provider
            .metadata
            .revocation_endpoint
            .clone()
            .or_else(cognito)
        else {
            return;
        };
        let request = self.authenticated_post(
            endpoint.as_str(),
            vec![
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        );
        match request.send().await {
            Ok(r) if r.status().is_success() => tracing::debug!("refresh token revoked"),
            Ok(r) => tracing::warn!(status = r.status().as_u16(), "token revocation refused"),
            Err(e) => {
                tracing::warn!(error = %unreachable(endpoint.as_str(), &e), "token revocation failed")
            }
        }
    }

    /// A POST to an issuer endpoint with this client's authentication: client_secret_basic for
    /// confidential clients, `client_id` in the body for public ones.
    fn authenticated_post<'a>(
        &'a self,
        endpoint: &str,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.post(endpoint);
        match &self.settings.client_secret {
            Some(secret) => {
                // RFC 6749, section 2.3.1: both parts form-encoded before Basic encoding.
                let id = form_encode(&self.settings.client_id);
                let secret = form_encode(secret.expose());
                request = request.basic_auth(id, Some(secret));
            }
            None => form.push(("client_id", &self.settings.client_id)),
        }
        request.form(&form)
    }

    async fn token_request(
        &self,
        provider: &Provider,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, ExchangeError> {
        let endpoint = provider.metadata.token_endpoint.as_str();
        let response = self
            .authenticated_post(endpoint, form.to_vec())
            .send()
            .await
            .map_err(|e| ExchangeError::Unavailable(unreachable(endpoint, &e)))?;
        match json_body::<TokenResponse>(endpoint, response).await {
            Ok(tokens) => Ok(tokens),
            Err(FetchError::Status {
                status: 400..=499,
                body,
                ..
            }) => {
                let error = body
                    .as_ref()
                    .and_then(|b| b.get("error"))
                    .and_then(|e| e.as_str())
                    .unwrap_or("unknown error")
                    .chars()
                    .take(64)
                    .collect();
                Err(ExchangeError::Refused(error))
            }
            Err(e) => Err(ExchangeError::Unavailable(e)),
        }
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}
