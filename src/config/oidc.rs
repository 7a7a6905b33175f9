//! `[oidc]` and `[bearer]`: the issuer, the gateway's app client, and the bearer tokens it
//! accepts.

use std::collections::BTreeMap;
use std::time::Duration;

use figment::Figment;
use serde::Deserialize;
use url::Url;

use super::read::{duration, lenient_bool, lenient_string, read_secret, required, section};
use crate::authn::{BearerSettings, TrustedIssuer};
use crate::identity::EmailTrust;
use crate::oidc::{OidcSettings, is_https_or_loopback, parse_algorithm};

/// Default scopes requested at the authorization endpoint.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// Default clock leeway for `exp` / `iat` checks.
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(30);

/// Default timeout for each call to the issuer (discovery, JWKS, token endpoint).
pub const DEFAULT_ISSUER_TIMEOUT: Duration = Duration::from_secs(5);

/// Authorization-request parameters the gateway sets itself and a config may not override.
pub(super) const RESERVED_AUTHORIZE_PARAMS: [&str; 9] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
];

#[derive(Default, Deserialize)]
pub(super) struct RawOidc {
    #[serde(default, deserialize_with = "lenient_string")]
    issuer: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    region: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    user_pool_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_secret: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    client_secret_file: Option<String>,
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    cognito_domain: Option<String>,
    allowed_algorithms: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    clock_leeway: Option<String>,
    authorize_params: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    assume_email_verified: Option<bool>,
}

/// Region part of a Cognito user pool id (`eu-west-1_AbC123` gives `eu-west-1`), if the id is well formed.
pub fn cognito_pool_region(pool_id: &str) -> Option<&str> {
    let (region, id) = pool_id.split_once('_')?;
    let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let parts: Vec<&str> = region.split('-').collect();
    // Shape `xx-name-1` or `xx-gov-name-1`.
    let region_ok = match parts.as_slice() {
        [cc, name, n] | [cc, _, name, n] => {
            cc.len() == 2
                && cc.bytes().all(|b| b.is_ascii_lowercase())
                && !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase())
                && n.len() == 1
                && n.bytes().all(|b| b.is_ascii_digit())
                && (parts.len() == 3 || parts[1] == "gov")
        }
        _ => false,
    };
    (id_ok && region_ok).then_some(region)
}

pub(super) fn validate_oidc(raw: RawOidc, errors: &mut Vec<String>) -> Option<OidcSettings> {
    let issuer = match (raw.issuer, raw.user_pool_id) {
        (Some(_), Some(_)) => {
            errors.push("oidc.issuer: set either issuer or user_pool_id, not both".into());
            None
        }
        (Some(issuer), None) => match Url::parse(issuer.trim()) {
            Ok(url) if is_https_or_loopback(&url) => Some(issuer.trim().to_string()),
            Ok(_) => {
                errors.push("oidc.issuer: must be https (plain http only on loopback)".into());
                None
            }
            Err(e) => {
                errors.push(format!("oidc.issuer: {e}"));
                None
            }
        },
        (None, Some(pool)) => {
            let pool = pool.trim();
            match cognito_pool_region(pool) {
                None => {
                    errors.push(format!(
                        "oidc.user_pool_id: {pool:?} is not a Cognito user pool id like \"eu-west-1_AbC123xyz\""
                    ));
                    None
                }
                Some(derived) => {
                    let region = raw.region.as_deref().map(str::trim).unwrap_or(derived);
                    if region != derived {
                        errors.push(format!(
                            "oidc.region: {region:?} does not match the user pool id's region {derived:?}"
                        ));
                        None
                    } else {
                        Some(format!("https://cognito-idp.{region}.amazonaws.com/{pool}"))
                    }
                }
            }
        }
        (None, None) => {
            if raw.region.is_some() {
                errors.push("oidc.user_pool_id: required with oidc.region".into());
            } else {
                errors.push("oidc.issuer: required (or oidc.user_pool_id for Cognito)".into());
            }
            None
        }
    };
    let client_id = required(raw.client_id, "oidc.client_id", errors);
    let client_secret = read_secret(
        raw.client_secret,
        raw.client_secret_file,
        "oidc.client_secret",
        false,
        errors,
    );
    let scopes = raw
        .scopes
        .unwrap_or_else(|| DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect());
    if !scopes.iter().any(|s| s == "openid") {
        errors.push("oidc.scopes: must include \"openid\"".into());
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| s.is_empty() || s.bytes().any(|b| b <= b' ' || b == b'"' || b == b'\\'))
    {
        errors.push(format!("oidc.scopes: {bad:?} is not a valid scope token"));
    }
    let cognito_domain = raw.cognito_domain.and_then(|text| {
        let text = text.trim().trim_end_matches('/');
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("https://{text}")
        };
        match Url::parse(&with_scheme) {
            Ok(u) if is_https_or_loopback(&u) && u.path() == "/" && u.query().is_none() => Some(u),
            Ok(_) => {
                errors.push(
                    "oidc.cognito_domain: must be a domain like myapp.auth.eu-west-1.amazoncognito.com or an https origin"
                        .into(),
                );
                None
            }
            Err(e) => {
                errors.push(format!("oidc.cognito_domain: {e}"));
                None
            }
        }
    });
    let algorithm_names = raw
        .allowed_algorithms
        .unwrap_or_else(|| vec!["RS256".to_string()]);
    if algorithm_names.is_empty() {
        errors.push("oidc.allowed_algorithms: must name at least one algorithm".into());
    }
    let allowed_algorithms = algorithm_names
        .into_iter()
        .filter_map(|name| match parse_algorithm(&name) {
            Ok(a) => Some(a),
            Err(why) => {
                errors.push(format!("oidc.allowed_algorithms: {why}"));
                None
            }
        })
        .collect::<Vec<_>>();
    let clock_leeway = duration(
        raw.clock_leeway,
        "oidc.clock_leeway",
        DEFAULT_CLOCK_LEEWAY,
        errors,
    );
    if clock_leeway > Duration::from_secs(300) {
        errors.push("oidc.clock_leeway: at most 5m".into());
    }
    let timeout = duration(raw.timeout, "oidc.timeout", DEFAULT_ISSUER_TIMEOUT, errors);
    let mut authorize_params = Vec::new();
    for (name, value) in raw.authorize_params.unwrap_or_default() {
        if RESERVED_AUTHORIZE_PARAMS.contains(&name.as_str()) {
            errors.push(format!(
                "oidc.authorize_params.{name}: set by the gateway itself and cannot be overridden"
            ));
        } else {
            authorize_params.push((name, value));
        }
    }
    Some(OidcSettings {
        issuer: issuer?,
        client_id: client_id?,
        client_secret,
        scopes,
        cognito_domain,
        allowed_algorithms,
        clock_leeway,
        authorize_params,
        timeout,
        email_trust: if raw.assume_email_verified.unwrap_or(false) {
            EmailTrust::AssumeVerifiedWhenUnsaid
        } else {
            EmailTrust::VerifiedOnly
        },
    })
}

#[derive(Default, Deserialize)]
pub(super) struct RawBearer {
    #[serde(default, deserialize_with = "lenient_bool")]
    enabled: Option<bool>,
    client_ids: Option<Vec<String>>,
    trusted_issuers: Option<Vec<RawTrustedIssuer>>,
}

#[derive(Default, Deserialize)]
pub(super) struct RawTrustedIssuer {
    #[serde(default, deserialize_with = "lenient_string")]
    issuer: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    audience: Option<String>,
}

pub(super) fn validate_bearer(
    raw: RawBearer,
    oidc: Option<&OidcSettings>,
    errors: &mut Vec<String>,
) -> Option<BearerSettings> {
    let enabled = raw.enabled.unwrap_or(false);
    if !enabled {
        if raw.client_ids.is_some() || raw.trusted_issuers.is_some() {
            errors.push("bearer: set enabled = true to accept bearer tokens".into());
        }
        return None;
    }
    let client_ids = match raw.client_ids {
        Some(ids) if ids.is_empty() => {
            errors.push("bearer.client_ids: an empty list accepts nothing".into());
            Vec::new()
        }
        Some(ids) => ids,
        None => oidc.map(|o| vec![o.client_id.clone()]).unwrap_or_default(),
    };
    let mut trusted_issuers = Vec::new();
    for (i, t) in raw
        .trusted_issuers
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key = format!("bearer.trusted_issuers[{i}]");
        let issuer = match t.issuer.as_deref().map(|i| (i, Url::parse(i))) {
            Some((text, Ok(url))) if is_https_or_loopback(&url) => {
                if oidc.is_some_and(|o| o.issuer == text) {
                    errors.push(format!(
                        "{key}.issuer: the gateway's own issuer; use bearer.client_ids instead"
                    ));
                }
                Some(text.to_string())
            }
            Some(_) => {
                errors.push(format!(
                    "{key}.issuer: must be an https URL (http only on loopback)"
                ));
                None
            }
            None => {
                errors.push(format!("{key}.issuer: required"));
                None
            }
        };
        let audience = t.audience.filter(|a| !a.is_empty());
        if audience.is_none() {
            errors.push(format!("{key}.audience: required"));
        }
        if let (Some(issuer), Some(audience)) = (issuer, audience) {
            trusted_issuers.push(TrustedIssuer { issuer, audience });
        }
    }
    Some(BearerSettings {
        client_ids,
        trusted_issuers,
    })
}

/// `[oidc]`, checked.
pub(super) fn read(figment: &Figment, errors: &mut Vec<String>) -> Option<OidcSettings> {
    validate_oidc(section(figment, "oidc", errors), errors)
}

/// `[bearer]`, checked (`None` unless enabled); `oidc` gives the default client ids.
pub(super) fn read_bearer(
    figment: &Figment,
    oidc: Option<&OidcSettings>,
    errors: &mut Vec<String>,
) -> Option<BearerSettings> {
    validate_bearer(section(figment, "bearer", errors), oidc, errors)
}
