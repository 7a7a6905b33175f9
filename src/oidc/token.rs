//! Token validation: the checks every issuer-signed JWT gets (algorithm allow-list, signature with
//! the key named by `kid`, `iss`, `aud`, `exp`, `nbf`, `iat`), then those of ID tokens (`sub`,
//! `nonce`, `azp`, `token_use`) and of back-channel logout tokens (`events`, `jti`, `sid`/`sub`,
//! no `nonce`).

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::AUTHORIZATION;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::{Issuer, Provider};

/// Why a token was refused. Shown to nobody but the log; users get a generic page.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWS of three base64url parts with a JSON header, or an unsupported algorithm.
    #[error("malformed token")]
    Malformed,
    /// Algorithm outside `oidc.allowed_algorithms`, or different from the key's own.
    #[error("algorithm {0} not allowed")]
    Algorithm(String),
    /// No key for the token's `kid`, even after a refetch.
    #[error("no signing key matches the token")]
    UnknownKey,
    /// Signature, issuer, audience, expiry or another registered claim is wrong.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What an ID token must match besides the issuer's keys and this client.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// From a sign-in: `nonce` must be the one sent with it.
    SignIn {
        /// The nonce of the sign-in.
        nonce: &'a str,
    },
    /// From a refresh: the same user as before (OpenID Connect Core 12.2).
    Refresh {
        /// `sub` of the session's current ID token.
        sub: &'a str,
    },
}

/// The event a back-channel logout token must carry.
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Logout tokens issued longer ago than this are refused (and so `jti`s need remembering only
/// this long).
pub const LOGOUT_TOKEN_MAX_AGE: u64 = 300;

/// What a valid back-channel logout token asks to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    /// The issuer's session id, if named.
    pub sid: Option<String>,
    /// The user, if named.
    pub sub: Option<String>,
    /// The token's unique id, for replay detection.
    pub jti: String,
}

impl Issuer {
    /// The checks every issuer-signed token gets; returns its claims.
    /// `audiences`: `aud` must contain one of them; `None` leaves `aud` to the caller (Cognito
    /// access tokens have none). `types`: the JOSE `typ` values allowed besides none; `None`
    /// allows any.
    async fn verify_jwt(
        &self,
        provider: &Provider,
        token: &str,
        required: &[&str],
        audiences: Option<&[&str]>,
        types: Option<&[&str]>,
    ) -> Result<Map<String, Value>, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if let (Some(types), Some(typ)) = (types, header.typ.as_deref()) {
            if !types.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
                return Err(TokenError::Invalid("a token of another kind (typ)".into()));
            }
        }
        let alg = header.alg;
        if !self.settings.allowed_algorithms.contains(&alg) {
            return Err(TokenError::Algorithm(format!("{alg:?}")));
        }
        let kid = header.kid.as_deref();
        let mut keys = provider.keys.current();
        if keys.find(kid).is_none() && kid.is_some() {
            keys = provider.keys.refetch().await;
        }
        let key = keys.find(kid).ok_or(TokenError::UnknownKey)?;
        if key.alg.is_some_and(|a| a != alg) {
            return Err(TokenError::Algorithm(format!(
                "{alg:?} (key is for another)"
            )));
        }

        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.settings.issuer]);
        match audiences {
            Some(aud) => validation.set_audience(aud),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(required);
        validation.leeway = self.settings.clock_leeway.as_secs();
        validation.validate_nbf = true;
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?
            .claims;

        let leeway = self.settings.clock_leeway.as_secs();
        match claims.get("iat").and_then(Value::as_u64) {
            Some(iat) if iat <= now_secs() + leeway => {}
            Some(_) => return Err(TokenError::Invalid("iat is in the future".into())),
            None => return Err(TokenError::Invalid("iat is not a number".into())),
        }
        Ok(claims)
    }

    /// Validates an ID token received from the token endpoint and returns its claims.
    pub async fn validate_id_token(
        &self,
        provider: &Provider,
        token: &str,
        expect: Expect<'_>,
    ) -> Result<Map<String, Value>, TokenError> {
        let claims = self
            .verify_jwt(
                provider,
                token,
                &["exp", "iat", "iss", "aud", "sub"],
                Some(&[&self.settings.client_id]),
                None,
            )
            .await?;
        let sub = subject(&claims)?;
        match expect {
            Expect::SignIn { nonce } => match claims.get("nonce").and_then(Value::as_str) {
                Some(n) if constant_time_eq(n, nonce) => {}
                _ => return Err(TokenError::Invalid("nonce does not match".into())),
            },
            Expect::Refresh { sub: previous } => {
                if sub != previous {
                    return Err(TokenError::Invalid("sub changed on refresh".into()));
                }
            }
        }
        // OpenID Connect Core 3.1.3.7: an azp naming another party means the token was issued
        // for someone else; checked whenever present (stricter than "with several audiences").
        if let Some(azp) = claims.get("azp") {
            if azp.as_str() != Some(self.settings.client_id.as_str()) {
                return Err(TokenError::Invalid("azp is not this client".into()));
            }
        }
        // Cognito marks its tokens; an access token must never be taken for an ID token.
        if let Some(token_use) = claims.get("token_use") {
            if token_use.as_str() != Some("id") {
                return Err(TokenError::Invalid("token_use is not id".into()));
            }
        }
        Ok(claims)
    }
}

impl Issuer {
    /// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, 2.6).
    pub async fn validate_logout_token(
        &self,
        provider: &Provider,
        token: &str,
    ) -> Result<LogoutRequest, TokenError> {
        let claims = self
            .verify_jwt(
                provider,
                token,
                &["iat", "iss", "aud"],
                Some(&[&self.settings.client_id]),
                None,
            )
            .await?;
        let invalid = |why: &str| Err(TokenError::Invalid(why.to_string()));
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        if !claims
            .get("events")
            .and_then(Value::as_object)
            .is_some_and(|e| {
                e.get(BACKCHANNEL_LOGOUT_EVENT)
                    .is_some_and(Value::is_object)
            })
        {
            return invalid("events lacks the back-channel logout event");
        }
        // A nonce would make it an ID token in disguise.
        if claims.contains_key("nonce") {
            return invalid("logout tokens carry no nonce");
        }
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        if iat + LOGOUT_TOKEN_MAX_AGE < now_secs() {
            return invalid("issued too long ago");
        }
        let Some(jti) = text("jti") else {
            return invalid("jti is missing");
        };
        let (sid, sub) = (text("sid"), text("sub"));
        if sid.is_none() && sub.is_none() {
            return invalid("names neither sid nor sub");
        }
        Ok(LogoutRequest { sid, sub, jti })
    }
}

/// The token's subject: a non-empty string, for sign-in and bearer tokens alike (an empty one
/// would leave the app without a user, and every anonymous request alike).
fn subject(claims: &Map<String, Value>) -> Result<&str, TokenError> {
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(sub),
        _ => Err(TokenError::Invalid("sub is missing or empty".into())),
    }
}

/// `typ` header values of tokens that may be bearer tokens: none (Cognito's), a plain JWT, or
/// an RFC 9068 access token. Anything else (`logout+jwt`, `secevent+jwt`, ...) is a token of
/// another kind.
const BEARER_TYPES: [&str; 3] = ["JWT", "at+jwt", "application/at+jwt"];

/// Which clients a bearer token may have been issued to.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// The gateway's issuer: access tokens name one of these in `client_id`, ID tokens in `aud`.
    ClientIds(&'a [String]),
    /// Another trusted issuer: `aud` contains this, or `client_id` equals it.
    Named(&'a str),
}

/// A verified bearer token.
#[derive(Debug, Clone)]
pub struct BearerToken {
    /// Its claims.
    pub claims: std::sync::Arc<crate::identity::Claims>,
    /// Its scopes (`scope`, space separated, or `scp`, a list). Shared: a cached token is
    /// handed to every request that presents it.
    pub scopes: std::sync::Arc<[String]>,
}

impl Issuer {
    /// Validates a bearer token (an access token or an ID token) with the same keys and
    /// strictness as sign-in, for `audience`.
    pub async fn validate_bearer(
        &self,
        provider: &Provider,
        token: &str,
        audience: Audience<'_>,
    ) -> Result<BearerToken, TokenError> {
        let claims = self
            .verify_jwt(
                provider,
                token,
                &["exp", "iat", "iss", "sub"],
                None,
                Some(&BEARER_TYPES),
            )
            .await?;
        subject(&claims)?;
        // Security event tokens (back-channel logout tokens above all) carry `events`; signed
        // by the same issuer for the same client, they must not pass for a user's token.
        if claims.contains_key("events") {
            return Err(TokenError::Invalid("a security event token".into()));
        }
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let in_aud = |wanted: &str| match claims.get("aud") {
            Some(Value::String(a)) => a == wanted,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(wanted)),
            _ => false,
        };
        let allowed = match (audience, text("token_use")) {
            (Audience::ClientIds(ids), Some("access")) => {
                text("client_id").is_some_and(|c| ids.iter().any(|id| id == c))
            }
            (Audience::ClientIds(ids), Some("id") | None) => {
                ids.iter().any(|id| in_aud(id))
                    && text("azp").is_none_or(|azp| ids.iter().any(|id| id == azp))
            }
            (Audience::Named(aud), Some("access" | "id") | None) => {
                in_aud(aud) || text("client_id") == Some(aud)
            }
            (_, Some(_)) => return Err(TokenError::Invalid("unknown token_use".into())),
        };
        if !allowed {
            return Err(TokenError::Invalid("issued to another client".into()));
        }
        if claims.contains_key("nonce") && text("token_use") != Some("id") {
            // Only ID tokens carry a nonce; anything else with one is not what it claims.
            return Err(TokenError::Invalid("unexpected nonce".into()));
        }
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(s)), _) => s.split_whitespace().map(str::to_string).collect(),
            (_, Some(Value::Array(list))) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => std::sync::Arc::default(),
        };
        Ok(BearerToken {
            claims: std::sync::Arc::new(crate::identity::Claims::new(
                claims,
                self.settings.email_trust,
            )),
            scopes,
        })
    }
}

/// The token of an `Authorization: Bearer` header, if the request has one, as the header's
/// bytes: a token already verified is found by them, with no per-byte check on the way. A
/// `Bearer` header with nothing after it (`-H "Authorization: Bearer $TOKEN"` with the
/// variable unset) gives an empty token, which is then refused like any other bad token: the
/// client asked for bearer authentication, and a sign-in page would only hide its mistake.
pub fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes().trim_ascii();
    let (scheme, token) = match memchr::memchr(b' ', value) {
        Some(space) => (&value[..space], value[space + 1..].trim_ascii()),
        None => (value, &b""[..]),
    };
    scheme.eq_ignore_ascii_case(b"bearer").then_some(token)
}

/// The claims of a JWT, unverified: for tokens whose integrity is established otherwise (a
/// sealed session) or to pick the issuer that will verify them.
pub fn unverified_claims(token: &str) -> Result<Map<String, Value>, TokenError> {
    use base64::Engine;
    let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// Compares secrets without leaking their common prefix length through timing.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_of(authorization: &[u8]) -> Option<Vec<u8>> {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            http::HeaderValue::from_bytes(authorization).unwrap(),
        );
        bearer_token(&headers).map(<[u8]>::to_vec)
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(token_of(b"Bearer abc.def"), Some(b"abc.def".to_vec()));
        assert_eq!(token_of(b"bEARER   abc "), Some(b"abc".to_vec()));
        assert_eq!(token_of(b"Basic abc"), None);
        assert_eq!(token_of(b"Bearer "), Some(Vec::new()));
        assert_eq!(token_of(b"Bearer"), Some(Vec::new()));
        assert_eq!(token_of(b"bearer \t "), Some(Vec::new()));
        assert_eq!(token_of(b"Bearerabc"), None);
    }
}
