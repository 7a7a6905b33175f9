//! `PORTCULLIS_*` environment variables as configuration, and the ones that are not.

use figment::Figment;
use figment::value::Value;

use super::ENV_PREFIX;

/// Overlays `vars` (keys as figment gives them: lower case, `__` turned into `.`) on `figment`,
/// and returns the names of those that were ignored.
///
/// Kubernetes gives every pod variables for each Service of its namespace
/// (`PORTCULLIS_REDIS_SERVICE_HOST` and `PORTCULLIS_REDIS_PORT=tcp://...` for a Service named
/// `portcullis-redis`, `PORTCULLIS_PORT` for one named `portcullis`): those cannot be
/// configuration and must not stop the gateway, so they are ignored. Every other variable is
/// read as configuration, and one that names no section or key is an error like a typo in the
/// file (`PORTCULLIS_POLICY_DEFAULT`, one underscore short, must not silently leave the default
/// in force), named by its key alone.
pub(super) fn with_env(
    mut figment: Figment,
    vars: impl Iterator<Item = (String, String)>,
) -> (Figment, Vec<String>) {
    let mut ignored = Vec::new();
    for (key, raw) in vars {
        // The config file's own path may be given as PORTCULLIS_CONFIG.
        if key == "config" {
            continue;
        }
        if is_service_link(&key) {
            ignored.push(format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()));
            continue;
        }
        figment = figment.merge((key, env_value(raw)));
    }
    ignored.sort();
    (figment, ignored)
}

/// Whether `key` (a variable's name without the prefix, lower case) is one Kubernetes sets for a
/// Service: `{SVC}_SERVICE_HOST`, `{SVC}_SERVICE_PORT`, `{SVC}_SERVICE_PORT_{NAME}`, `{SVC}_PORT`,
/// and `{SVC}_PORT_{N}_{TCP|UDP|SCTP}` with `_PROTO`, `_PORT` or `_ADDR` (where `{SVC}` is the
/// rest of the Service's name after `portcullis`, possibly empty). No configuration key has
/// these shapes: keys are nested with `__`.
pub(super) fn is_service_link(key: &str) -> bool {
    if key.contains('.') {
        return false;
    }
    let words: Vec<&str> = key.split('_').collect();
    let tail = |n: usize| words.len().checked_sub(n).map(|i| &words[i..]);
    let is_number = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    let is_protocol = |w: &str| matches!(w, "tcp" | "udp" | "sctp");
    if let Some(["service", "host" | "port"]) = tail(2) {
        return true;
    }
    if let Some(["port"]) = tail(1) {
        return true;
    }
    // `{SVC}_SERVICE_PORT_{NAME}`: a named port.
    if words.windows(2).any(|w| w == ["service", "port"]) && words.last() != Some(&"port") {
        return true;
    }
    match (tail(3), tail(4)) {
        (Some(["port", n, p]), _) if is_number(n) && is_protocol(p) => true,
        (_, Some(["port", n, p, "proto" | "port" | "addr"])) => is_number(n) && is_protocol(p),
        _ => false,
    }
}

/// An environment value as configuration: arrays and tables (`["openid","email"]`) are parsed;
/// everything else is taken verbatim as a string, so a secret such as `00123` or `"x"` reaches
/// the gateway exactly as it was set.
pub(super) fn env_value(raw: String) -> Value {
    if raw.trim_start().starts_with(['[', '{']) {
        let Ok(v) = raw.parse::<Value>();
        return v;
    }
    Value::from(raw)
}
