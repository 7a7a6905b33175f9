//! Bounded HTTP calls to the issuer: every response is size-limited and every failure is
//! classified, so a misbehaving issuer costs a clear error, never memory or a panic.

use serde::de::DeserializeOwned;

/// Largest issuer response read (discovery, JWKS, token endpoint).
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// A failed call to the issuer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Connection refused, DNS failure, timeout.
    #[error("{url}: unreachable: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The issuer answered with an unexpected status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// What was called.
        url: String,
        /// The status received.
        status: u16,
        /// The body, when it was small JSON (token endpoint errors).
        body: Option<serde_json::Value>,
    },
    /// The body was too large or not the JSON expected.
    #[error("{url}: invalid response: {reason}")]
    Invalid {
        /// What was called.
        url: String,
        /// Why it was refused.
        reason: String,
    },
}

/// Reads a JSON body of at most [`MAX_RESPONSE_BYTES`] from a successful response.
pub async fn json_body<T: DeserializeOwned>(
    url: &str,
    mut response: reqwest::Response,
) -> Result<T, FetchError> {
    let status = response.status();
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(FetchError::Invalid {
                        url: url.to_string(),
                        reason: format!("larger than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(unreachable(url, &e)),
        }
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            body: serde_json::from_slice(&body).ok(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| FetchError::Invalid {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

/// GETs `url` and reads its JSON body.
pub async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, FetchError> {
    let response = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| unreachable(url, &e))?;
    json_body(url, response).await
}

/// Classifies a transport error (issuer URLs carry no secrets: codes travel in POST bodies).
pub fn unreachable(url: &str, e: &reqwest::Error) -> FetchError {
    let reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    };
    FetchError::Unreachable {
        url: url.to_string(),
        reason,
    }
}
