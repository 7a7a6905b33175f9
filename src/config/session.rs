//! `[session]`: how signed-in state is kept, and the secret that keys it.

use std::time::Duration;

use figment::Figment;
use serde::Deserialize;
use url::Url;

use super::read::{duration, lenient_string, read_secret, section};
use crate::route::HostPattern;
use crate::secret::Secret;
use crate::session::{SessionSettings, StoreSettings};

/// Default absolute session lifetime: a working day.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Default idle timeout: a session unused this long ends.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// Default time before token expiry at which the gateway refreshes them.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Default base name of the gateway's cookies.
pub const DEFAULT_COOKIE_NAME: &str = "portcullis";

/// Default prefix of the keys written to Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "portcullis:";

/// Minimum length of `session.secret`, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Fewest distinct bytes a `session.secret` may have: 32 bytes of anything random have about
/// 16 (hex) to 28 (base64); `"0000..."` or `"abab..."` have one or two.
pub const MIN_SECRET_VARIETY: usize = 8;

/// Session secrets that were ever printed in portcullis's examples: public, so refused.
pub(super) const SHIPPED_SECRETS: [&str; 3] = [
    "replace-with-at-least-32-random-bytes-xxxxxxxx",
    "replace-me-with-at-least-32-random-bytes-000000",
    "dev-only-session-secret-of-32-bytes-or-more",
];

/// Words of placeholder secrets (compared without case): a value holding one was copied from
/// an example, not generated.
pub(super) const PLACEHOLDER_WORDS: [&str; 6] = [
    "replace-with",
    "replace-me",
    "change-me",
    "changeme",
    "example",
    "dev-only",
];

#[derive(Default, Deserialize)]
pub(super) struct RawSession {
    #[serde(default, deserialize_with = "lenient_string")]
    secret: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    secret_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    lifetime: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    idle_timeout: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    refresh_margin: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    cookie_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    cookie_domain: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    store: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_url_file: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    redis_prefix: Option<String>,
}

pub(super) fn validate_session(
    raw: RawSession,
    errors: &mut Vec<String>,
) -> Option<SessionSettings> {
    let secret = read_secret(raw.secret, raw.secret_file, "session.secret", true, errors);
    if let Some(why) = secret.as_ref().and_then(weak_secret) {
        errors.push(format!(
            "session.secret: {why} (generate one with `openssl rand -base64 48`)"
        ));
    }
    let lifetime = duration(
        raw.lifetime,
        "session.lifetime",
        DEFAULT_SESSION_LIFETIME,
        errors,
    );
    let idle_timeout = duration(
        raw.idle_timeout,
        "session.idle_timeout",
        DEFAULT_IDLE_TIMEOUT,
        errors,
    );
    let refresh_margin = duration(
        raw.refresh_margin,
        "session.refresh_margin",
        DEFAULT_REFRESH_MARGIN,
        errors,
    );
    let cookie_name = raw
        .cookie_name
        .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_string());
    let name_ok = !cookie_name.is_empty()
        && cookie_name.len() <= 64
        && !cookie_name.starts_with("__")
        && cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        errors.push(format!(
            "session.cookie_name: {cookie_name:?} must be 1-64 letters, digits, '-' or '_' (the __Host- prefix is added on https)"
        ));
    }
    let cookie_domain = raw.cookie_domain.and_then(|text| {
        let domain = text.trim().trim_start_matches('.').to_ascii_lowercase();
        match HostPattern::parse(&domain) {
            Ok(HostPattern::Exact(d)) if d.contains('.') => Some(d),
            _ => {
                errors.push(format!(
                    "session.cookie_domain: {text:?} is not a domain like \"example.com\""
                ));
                None
            }
        }
    });
    let redis_url = read_secret(
        raw.redis_url,
        raw.redis_url_file,
        "session.redis_url",
        false,
        errors,
    );
    let store = match raw.store.as_deref().map(str::trim) {
        None | Some("cookie") => {
            if redis_url.is_some() {
                errors.push("session.redis_url: only used with session.store = \"redis\"".into());
            }
            Some(StoreSettings::Cookie)
        }
        Some("redis") => match redis_url {
            Some(url) => match Url::parse(url.expose()) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.has_host() => {
                    Some(StoreSettings::Redis {
                        url,
                        prefix: raw
                            .redis_prefix
                            .unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_string()),
                    })
                }
                // The URL may hold a password: never echo it.
                _ => {
                    errors.push(
                        "session.redis_url: must be a redis:// or rediss:// URL with a host".into(),
                    );
                    None
                }
            },
            None => {
                errors.push("session.redis_url: required with session.store = \"redis\"".into());
                None
            }
        },
        Some(other) => {
            errors.push(format!(
                "session.store: {other:?} is not \"cookie\" or \"redis\""
            ));
            None
        }
    };
    Some(SessionSettings {
        store: store?,
        secret: secret?,
        lifetime,
        idle_timeout,
        refresh_margin,
        cookie_name,
        cookie_domain,
        // Set once the routes are known: whether any of them passes the access token on.
        keep_access_token: false,
    })
}

/// Why `secret` cannot key the session cookies, if it cannot: anyone who knows it can forge a
/// session, so a secret that is short, repetitive, or copied from an example is refused. (The
/// message never quotes the secret.)
pub(super) fn weak_secret(secret: &Secret) -> Option<String> {
    let text = secret.expose();
    if text.len() < MIN_SECRET_LEN {
        return Some(format!("must be at least {MIN_SECRET_LEN} bytes"));
    }
    let lower = text.to_ascii_lowercase();
    if SHIPPED_SECRETS.contains(&text) || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w)) {
        return Some("is a placeholder from an example, known to everyone".into());
    }
    let mut seen = [false; 256];
    for b in text.bytes() {
        seen[b as usize] = true;
    }
    if seen.iter().filter(|&&s| s).count() < MIN_SECRET_VARIETY {
        return Some(format!(
            "has fewer than {MIN_SECRET_VARIETY} distinct characters: not random"
        ));
    }
    None
}

/// `[session]`, checked.
pub(super) fn read(figment: &Figment, errors: &mut Vec<String>) -> Option<SessionSettings> {
    validate_session(section(figment, "session", errors), errors)
}
