//! Reading a section: leniently (every field optional, scalars where strings are meant, unknown
//! keys collected), and the checks every section shares (required values, durations, secrets
//! inline or from files). Every problem goes into one list, named by its key.

use std::fmt;
use std::time::Duration;

use figment::Figment;
use figment::value::Value;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};

use crate::secret::Secret;

/// Longest duration any key takes: deadlines are added to the clock, and a century would
/// overflow it.
pub(super) const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `claim = "a"` or `claim = ["a", "b"]` (first one present wins).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// Environment values arrive typed (`123` becomes a number): accept scalars where a string is meant,
/// so a numeric client id or secret set through the environment still works.
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|s| match s {
        Scalar::S(s) => s,
        Scalar::I(i) => i.to_string(),
        Scalar::U(u) => u.to_string(),
        Scalar::F(f) => f.to_string(),
        Scalar::B(b) => b.to_string(),
    }))
}

/// A boolean, also as the text `true` or `false` (environment values arrive as text).
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Flag;
    impl<'de> Visitor<'de> for Flag {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
            Ok(Some(b))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            match s.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(Flag)
}

/// A whole number, also as text (environment values arrive as text).
pub(super) fn lenient_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            usize::try_from(n)
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            s.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    d.deserialize_any(Count)
}

/// Reads one section, recording unknown keys and type errors instead of stopping at the first.
pub(super) fn section<T: DeserializeOwned + Default>(
    figment: &Figment,
    key: &str,
    errors: &mut Vec<String>,
) -> T {
    let value = match figment.find_value(key) {
        Ok(v) => v,
        Err(e) if e.missing() => return T::default(),
        Err(e) => {
            errors.push(format!("{key}: {e}"));
            return T::default();
        }
    };
    // A section set to a value (`PORTCULLIS_SESSION=...`, one `__KEY` short): said without the
    // value, which may be a secret.
    if !matches!(value, Value::Dict(..) | Value::Array(..)) {
        errors.push(format!(
            "{key}: a section, not a value (from the environment: PORTCULLIS_{}__KEY)",
            key.to_ascii_uppercase()
        ));
        return T::default();
    }
    let mut unknown = Vec::new();
    let result = serde_ignored::deserialize(&value, |path| unknown.push(path.to_string()));
    for path in unknown {
        errors.push(format!("{}: unknown key", key_path(key, &path)));
    }
    match result {
        Ok(v) => v,
        Err(e) => {
            let at = key_path(key, &e.path.join("."));
            errors.push(format!("{at}: {}", e.kind));
            T::default()
        }
    }
}

/// `headers` + `0.name` gives `headers[0].name`, the spelling every message uses.
pub(super) fn key_path(section: &str, path: &str) -> String {
    let mut out = section.to_string();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            out.push('.');
            out.push_str(part);
        }
    }
    out
}

pub(super) fn required(
    value: Option<String>,
    key: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            errors.push(format!("{key}: required"));
            None
        }
    }
}

pub(super) fn duration(
    value: Option<String>,
    key: &str,
    default: Duration,
    errors: &mut Vec<String>,
) -> Duration {
    let Some(text) = value else { return default };
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d > MAX_DURATION => {
            errors.push(format!("{key}: at most 365 days"));
            default
        }
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            errors.push(format!("{key}: must be greater than zero"));
            default
        }
        Err(e) => {
            errors.push(format!("{key}: {e} (use e.g. \"30s\", \"8h\")"));
            default
        }
    }
}

/// Reads a secret given inline or as a file; exactly one of the two must be set when `required`.
pub(super) fn read_secret(
    inline: Option<String>,
    file: Option<String>,
    key: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<Secret> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            errors.push(format!("{key}: set either {key} or {key}_file, not both"));
            None
        }
        (Some(v), None) => Some(Secret::new(v)),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            // Files written by editors and `kubectl create secret` often end in a newline.
            Ok(v) => Some(Secret::new(v.trim_end_matches(['\r', '\n']))),
            Err(e) => {
                errors.push(format!("{key}_file: cannot read {path}: {e}"));
                None
            }
        },
        (None, None) => {
            if required {
                errors.push(format!("{key}: required (or {key}_file)"));
            }
            None
        }
    }
}
