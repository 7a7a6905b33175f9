//! The host a request is for, read the one way the upstream will read it, and the host patterns
//! routes are chosen by.
//!
//! A request names its host in the `Host` header (HTTP/1.1), in `:authority` (HTTP/2, which
//! hyper puts in the URI), or in an absolute-form target (`GET http://host/ HTTP/1.1`). When two
//! of them disagree, an app or a proxy behind the gateway may believe the other one than the
//! gateway did, and reach another app than the one whose rules were applied: such a request is
//! refused, as is one whose host is missing, repeated or not a host at all.

use std::borrow::Cow;

use http::header::HOST;
use http::{HeaderMap, Uri};

/// Why a request's host cannot be read one way only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostError {
    /// No `Host` header and no authority in the target.
    Missing,
    /// More than one `Host` header.
    Repeated,
    /// A `Host` that is not `host[:port]` (userinfo, spaces, an empty port, ...).
    Invalid,
    /// The target's authority is not the `Host` header's.
    Mismatch,
}

impl HostError {
    /// A short description, for the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "no Host",
            Self::Repeated => "more than one Host",
            Self::Invalid => "Host is not a host",
            Self::Mismatch => "the target names another host than Host",
        }
    }
}

/// The authority (`host[:port]`, as sent) a request is for: its `Host` header, or the authority
/// of its target when it has no `Host` (HTTP/2). Either must be a plain `host[:port]`, and when
/// both are present they must be the same.
pub fn request_authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Result<&'a str, HostError> {
    let mut hosts = headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(HostError::Repeated);
    }
    let target = uri.authority().map(|a| a.as_str());
    let authority = match (header, target) {
        (Some(h), target) => {
            let h = h.to_str().map_err(|_| HostError::Invalid)?;
            if target.is_some_and(|t| !t.eq_ignore_ascii_case(h)) {
                return Err(HostError::Mismatch);
            }
            h
        }
        (None, Some(t)) => t,
        (None, None) => return Err(HostError::Missing),
    };
    if is_authority(authority) {
        Ok(authority)
    } else {
        Err(HostError::Invalid)
    }
}

/// Whether `text` is `host` or `host:port`, where host is a registered name (letters, digits,
/// `-`, `.`, `_`) or a bracketed IPv6 literal, and port is 1 to 5 digits.
pub fn is_authority(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        // An IPv6 literal holds colons of its own: the port follows its closing bracket.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (text, None),
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            !v6.is_empty()
                && v6
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        }
    };
    port_ok && host_ok
}

/// The name routes are matched on: the authority without its port and one trailing dot, in
/// lower case (borrowed when it already is).
pub fn route_name(authority: &str) -> Cow<'_, str> {
    let host = if authority.starts_with('[') {
        // `[v6]` or `[v6]:port`.
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// A route's `host`: one name, or every name one label below a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// `wiki.example.com`.
    Exact(String),
    /// `*.example.com`: `a.example.com`, not `example.com` nor `a.b.example.com`. Holds the
    /// domain (`example.com`).
    Wildcard(String),
}

impl HostPattern {
    /// Parses a route's `host` (lower-cased; one trailing dot dropped).
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let (wildcard, domain) = match name.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, name),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
            return Err(format!(
                "{text:?} is not a host name like \"wiki.example.com\" or \"*.example.com\" (no port, no scheme)"
            ));
        }
        if wildcard && !domain.contains('.') {
            return Err(format!(
                "{text:?}: a wildcard needs a domain of at least two labels, like \"*.example.com\""
            ));
        }
        Ok(if wildcard {
            Self::Wildcard(domain.to_string())
        } else {
            Self::Exact(domain.to_string())
        })
    }

    /// Whether the pattern covers `name` (as [`route_name`] gives it).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(host) => host == name,
            Self::Wildcard(domain) => parent(name) == Some(domain.as_str()),
        }
    }

    /// Whether every name the pattern covers is `domain` or below it.
    pub fn is_within(&self, domain: &str) -> bool {
        let below = |name: &str| {
            name == domain
                || name
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        };
        match self {
            Self::Exact(host) => below(host),
            Self::Wildcard(parent) => below(parent),
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(host) => f.write_str(host),
            Self::Wildcard(domain) => write!(f, "*.{domain}"),
        }
    }
}

/// The domain one label above `name` (`example.com` for `a.example.com`), if it has one.
pub fn parent(name: &str) -> Option<&str> {
    let (label, rest) = name.split_once('.')?;
    (!label.is_empty() && !rest.is_empty()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn authority(target: &str, hosts: &[&str]) -> Result<String, HostError> {
        let uri: Uri = target.parse().unwrap();
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(HOST, HeaderValue::from_str(h).unwrap());
        }
        request_authority(&uri, &headers).map(str::to_string)
    }

    #[test]
    fn the_host_is_read_one_way_only() {
        for (target, hosts, want) in [
            ("/x", &["wiki.example.com"][..], Ok("wiki.example.com")),
            (
                "/x",
                &["Wiki.Example.com:8443"],
                Ok("Wiki.Example.com:8443"),
            ),
            ("/x", &["127.0.0.1:4180"], Ok("127.0.0.1:4180")),
            ("/x", &["[::1]:4180"], Ok("[::1]:4180")),
            ("/x", &["[::1]"], Ok("[::1]")),
            ("http://wiki.example.com/x", &[], Ok("wiki.example.com")),
            (
                "http://WIKI.example.com/x",
                &["wiki.example.com"],
                Ok("wiki.example.com"),
            ),
            ("/x", &[], Err(HostError::Missing)),
            (
                "/x",
                &["a.example.com", "b.example.com"],
                Err(HostError::Repeated),
            ),
            (
                "/x",
                &["a.example.com", "a.example.com"],
                Err(HostError::Repeated),
            ),
            (
                "http://admin.example.com/x",
                &["wiki.example.com"],
                Err(HostError::Mismatch),
            ),
            (
                "http://wiki.example.com:81/x",
                &["wiki.example.com"],
                Err(HostError::Mismatch),
            ),
            ("/x", &[""], Err(HostError::Invalid)),
            ("/x", &["user@wiki.example.com"], Err(HostError::Invalid)),
            ("/x", &["wiki.example.com:"], Err(HostError::Invalid)),
            ("/x", &["wiki.example.com:99999"], Err(HostError::Invalid)),
            ("/x", &["wiki.example.com:80:80"], Err(HostError::Invalid)),
            ("/x", &["wiki example.com"], Err(HostError::Invalid)),
            ("/x", &["wiki.example.com/admin"], Err(HostError::Invalid)),
            ("/x", &["[::1"], Err(HostError::Invalid)),
            ("/x", &["[]"], Err(HostError::Invalid)),
        ] {
            assert_eq!(
                authority(target, hosts),
                want.map(str::to_string),
                "{target} {hosts:?}"
            );
        }
    }

    #[test]
    fn route_names_drop_case_port_and_one_dot() {
        for (authority, name) in [
            ("wiki.example.com", "wiki.example.com"),
            ("Wiki.EXAMPLE.com:8443", "wiki.example.com"),
            ("wiki.example.com.", "wiki.example.com"),
            ("wiki.example.com.:80", "wiki.example.com"),
            ("wiki.example.com..", "wiki.example.com."),
            ("[::1]:4180", "[::1]"),
            ("127.0.0.1:4180", "127.0.0.1"),
        ] {
            assert_eq!(route_name(authority), name, "{authority}");
        }
    }

    #[test]
    fn host_patterns() {
        let exact = HostPattern::parse("Wiki.Example.com.").unwrap();
        assert_eq!(exact, HostPattern::Exact("wiki.example.com".into()));
        assert!(exact.matches("wiki.example.com"));
        assert!(!exact.matches("a.wiki.example.com"));
        let wild = HostPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("a.b.example.com"));
        assert!(!wild.matches("aexample.com"));
        assert_eq!(wild.to_string(), "*.example.com");
        for bad in [
            "",
            "*",
            "*.com",
            "a.*.com",
            "**.example.com",
            "wiki.example.com:443",
            "https://wiki.example.com",
            "wiki..example.com",
            "wiki example.com",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert!(exact.is_within("example.com"));
        assert!(exact.is_within("wiki.example.com"));
        assert!(!exact.is_within("ample.com"));
        assert!(wild.is_within("example.com"));
        assert!(!wild.is_within("a.example.com"));
    }
}
