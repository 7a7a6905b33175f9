//! The OpenID Connect issuer: discovery, signing keys, the authorization-code flow and ID token
//! validation.
//!
//! [`Issuer`] is shared by every request. It starts empty and becomes ready once discovery and the
//! JWKS have loaded (retried in the background with backoff, so the gateway can start before its
//! issuer); until then sign-in attempts get a 503 and `/readyz` says not ready.

mod discovery;
mod fetch;
mod flow;
mod jwks;
mod token;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use jsonwebtoken::Algorithm;
use tokio::task::JoinHandle;

use url::Url;

use crate::identity::EmailTrust;
use crate::secret::Secret;

pub use discovery::{Metadata, is_https_or_loopback};
pub use fetch::FetchError;
pub use flow::{AuthorizeRequest, ExchangeError, TokenResponse, pkce_challenge, random_token};
pub use jwks::KeyStore;
pub use token::{
    Audience, BearerToken, Expect, LOGOUT_TOKEN_MAX_AGE, LogoutRequest, TokenError, bearer_token,
    constant_time_eq, now_secs, unverified_claims,
};

/// First wait after a failed discovery; doubled after each failure up to [`MAX_DISCOVERY_BACKOFF`].
const FIRST_DISCOVERY_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between discovery attempts.
const MAX_DISCOVERY_BACKOFF: Duration = Duration::from_secs(30);

/// The redirect URI's path, on the gateway's public URL: where the issuer sends the browser
/// back with the code (register `{public_url}/oauth2/callback`).
pub const CALLBACK_PATH: &str = "/oauth2/callback";

/// `[oidc]`: the issuer and this gateway's app client.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// Issuer identifier; the discovery document must name exactly this.
    pub issuer: String,
    /// App client id.
    pub client_id: String,
    /// App client secret; `None` for a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Cognito hosted-UI origin, e.g. `https://myapp.auth.eu-west-1.amazoncognito.com`.
    pub cognito_domain: Option<Url>,
    /// Signature algorithms accepted on tokens.
    pub allowed_algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Clock leeway for `exp` and `iat`.
    pub clock_leeway: Duration,
    /// Extra authorization-request parameters (e.g. `identity_provider`).
    pub authorize_params: Vec<(String, String)>,
    /// Timeout for each call to the issuer.
    pub timeout: Duration,
    /// Whether an email whose token says nothing of `email_verified` counts as verified
    /// (`assume_email_verified`; off by default).
    pub email_trust: EmailTrust,
}

/// Parses a signature algorithm name for `oidc.allowed_algorithms`; symmetric algorithms and `none`
/// are refused, since a client secret must never double as a signing key.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "EdDSA" => {
            name.parse().map_err(|_| format!("{name}: unsupported"))
        }
        "HS256" | "HS384" | "HS512" | "none" => Err(format!(
            "{name}: not allowed (only asymmetric signatures are accepted)"
        )),
        _ => Err(format!("{name}: unknown algorithm")),
    }
}

/// What discovery yields: the issuer's endpoints and its signing keys.
#[derive(Debug)]
pub struct Provider {
    /// Endpoints from the discovery document.
    pub metadata: Metadata,
    /// The JWKS cache.
    pub keys: KeyStore,
}

/// The configured issuer, ready or not yet.
#[derive(Debug)]
pub struct Issuer {
    settings: OidcSettings,
    http: reqwest::Client,
    provider: ArcSwapOption<Provider>,
}

impl Issuer {
    /// An issuer that has not been discovered yet.
    pub fn new(settings: OidcSettings) -> Result<Self, FetchError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // Issuer endpoints are named exactly by configuration and discovery; never follow
            // a redirect elsewhere with a client secret or code attached.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Self {
            settings,
            http,
            provider: ArcSwapOption::empty(),
        })
    }

    /// The HTTP client used for the issuer.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The oidc settings this issuer was built from.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The discovered provider, or `None` while the issuer has not been reached yet.
    pub fn provider(&self) -> Option<Arc<Provider>> {
        self.provider.load_full()
    }

    /// Fetches the discovery document and the JWKS once.
    pub async fn discover(&self) -> Result<Provider, FetchError> {
        let metadata = discovery::fetch(&self.http, &self.settings.issuer).await?;
        let keys = KeyStore::load(self.http.clone(), metadata.jwks_uri.clone()).await?;
        Ok(Provider { metadata, keys })
    }

    /// Discovers the issuer in the background, retrying with backoff until it succeeds.
    pub fn spawn_discovery(self: &Arc<Self>) -> JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = FIRST_DISCOVERY_BACKOFF;
            loop {
                match this.discover().await {
                    Ok(provider) => {
                        tracing::info!(
                            issuer = %this.settings.issuer,
                            keys = provider.keys.len(),
                            "issuer discovered"
                        );
                        this.provider.store(Some(Arc::new(provider)));
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(issuer = %this.settings.issuer, error = %e, retry_in_ms = delay.as_millis() as u64, "issuer discovery failed");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_DISCOVERY_BACKOFF);
                    }
                }
            }
        })
    }
}
