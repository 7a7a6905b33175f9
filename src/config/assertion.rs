//! `[assertion]`: the signed identity assertion every proxied request with an identity carries,
//! and the keys that sign it; `[alb]`: the load balancer ALB-style headers name as their signer.

use std::time::Duration;

use figment::Figment;
use http::HeaderName;
use serde::Deserialize;

use super::read::{duration, lenient_bool, lenient_string, section};
use crate::assertion::{
    ASSERTION_KEY_LABEL, AlbSettings, AssertionKey, AssertionSettings, DEFAULT_HEADER,
    DEFAULT_LIFETIME, public_from_pem,
};
use crate::identity::IdentityHeaders;
use crate::route::RouteSettings;
use crate::session::SessionSettings;

/// Longest `assertion.lifetime`: an assertion outlives a sign-out elsewhere by up to this much.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// Headers an assertion may not be sent in: HTTP (or the gateway, for the tokens a route may
/// send) gives them another meaning. The identity and forwarding headers are refused too.
const RESERVED_HEADERS: [&str; 13] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
    "transfer-encoding",
    "content-length",
    "content-type",
];

#[derive(Default, Deserialize)]
pub(super) struct RawAssertion {
    #[serde(default, deserialize_with = "lenient_bool")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    header: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    signing_key_file: Option<String>,
    previous_key_files: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    lifetime: Option<String>,
}

/// `[assertion]`, checked: `None` unless enabled. Without a key file the key is derived from
/// `session.secret` (when it is valid).
pub(super) fn read(
    figment: &Figment,
    session: Option<&SessionSettings>,
    errors: &mut Vec<String>,
) -> Option<AssertionSettings> {
    let raw: RawAssertion = section(figment, "assertion", errors);
    if !raw.enabled.unwrap_or(false) {
        let configured = raw.header.is_some()
            || raw.signing_key_file.is_some()
            || raw.previous_key_files.is_some()
            || raw.lifetime.is_some();
        if configured {
            errors.push("assertion: set enabled = true to send assertions".into());
        }
        return None;
    }
    let header = raw.header.unwrap_or_else(|| DEFAULT_HEADER.to_string());
    let header = match HeaderName::from_bytes(header.trim().as_bytes()) {
        Ok(name)
            if RESERVED_HEADERS.contains(&name.as_str())
                || IdentityHeaders::with_defaults(Vec::new()).is_managed(&name) =>
        {
            errors.push(format!(
                "assertion.header: {name:?} has a meaning of its own; name another header"
            ));
            None
        }
        Ok(name) => Some(name),
        Err(_) => {
            errors.push(format!("assertion.header: {header:?} is not a header name"));
            None
        }
    };
    let lifetime = duration(raw.lifetime, "assertion.lifetime", DEFAULT_LIFETIME, errors);
    if lifetime > MAX_LIFETIME {
        errors.push("assertion.lifetime: at most 1h".into());
    }
    let key = match raw.signing_key_file {
        Some(path) => read_pem(&path, "assertion.signing_key_file", errors).and_then(|pem| {
            AssertionKey::from_pem(&pem)
                .map_err(|why| errors.push(format!("assertion.signing_key_file: {path}: {why}")))
                .ok()
        }),
        None => {
            session.map(|s| AssertionKey::derive(s.secret.expose().as_bytes(), ASSERTION_KEY_LABEL))
        }
    };
    let mut previous = Vec::new();
    for (i, path) in raw
        .previous_key_files
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key_name = format!("assertion.previous_key_files[{i}]");
        if let Some(pem) = read_pem(path, &key_name, errors) {
            match public_from_pem(&pem) {
                Ok(public) => previous.push(public),
                Err(why) => errors.push(format!("{key_name}: {path}: {why}")),
            }
        }
    }
    Some(AssertionSettings {
        header: header?,
        key: key?,
        previous,
        lifetime,
    })
}

/// The text of the PEM file at `path`, or the error under `key`.
fn read_pem(path: &str, key: &str, errors: &mut Vec<String>) -> Option<String> {
    std::fs::read_to_string(path)
        .map_err(|e| errors.push(format!("{key}: cannot read {path}: {e}")))
        .ok()
}

#[derive(Default, Deserialize)]
pub(super) struct RawAlb {
    #[serde(default, deserialize_with = "lenient_string")]
    arn: Option<String>,
}

/// `[alb]`, checked: required when a route sends ALB-style headers (`routes`, when valid).
pub(super) fn read_alb(
    figment: &Figment,
    routes: Option<&[RouteSettings]>,
    errors: &mut Vec<String>,
) -> Option<AlbSettings> {
    let raw: RawAlb = section(figment, "alb", errors);
    let used = routes.is_some_and(|r| r.iter().any(|r| r.alb_headers));
    match raw.arn.map(|a| a.trim().to_string()) {
        Some(arn) if is_alb_arn(&arn) => Some(AlbSettings { arn }),
        Some(arn) => {
            errors.push(format!(
                "alb.arn: {arn:?} is not an Application Load Balancer ARN like \"arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/name/0123456789abcdef\""
            ));
            None
        }
        None if used => {
            errors.push(
                "alb.arn: required when a route sets alb_headers (the signer apps check)".into(),
            );
            None
        }
        None => None,
    }
}

/// Whether `arn` is an Application Load Balancer's ARN: the `signer` ALB verifiers check it
/// against, region and all (`arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/...`).
fn is_alb_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_word, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let region_ok = crate::config::cognito_pool_region(&format!("{region}_x")).is_some();
    arn_word == "arn"
        && matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && service == "elasticloadbalancing"
        && region_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.starts_with("loadbalancer/app/")
        && resource.bytes().all(|b| b.is_ascii_graphic())
}
