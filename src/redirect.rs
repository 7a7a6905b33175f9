//! Post-login and post-logout targets (`rd`, the saved original URL): a path on the host the
//! browser is on, or an absolute URL on one of the gateway's own hosts ([`Destinations`]: the
//! public URL's, and those routes name); anything else falls back to `/`.
//!
//! Browsers are lenient about `Location` values (`/\evil.com`, `/%09/evil.com`, `//evil.com` and
//! friends all leave the origin), so the rule is an allow-list: a printable-ASCII absolute path
//! that, however often it is decoded and however its dot segments resolve, never starts a new
//! authority and never holds a backslash or a control character.

use percent_encoding::percent_decode_str;
use url::Url;

use crate::route::HostPattern;

/// Longest target accepted; longer ones fall back to `/`.
pub const MAX_TARGET_LEN: usize = 2048;

/// Rounds of percent-decoding tried before a target is given up on.
const MAX_DECODES: usize = 4;

/// An origin that cannot exist, used only to resolve dot segments.
const PROBE_BASE: &str = "http://portcullis.invalid";

/// The target to redirect to for `raw`: a normalised local path (with its query), or `/`.
pub fn safe_target(raw: Option<&str>) -> String {
    raw.and_then(local_path).unwrap_or_else(|| "/".to_string())
}

/// Where a browser may be sent by an absolute URL: the public URL's scheme and port, on the
/// public URL's host or a host a route names (exactly, or by a wildcard). A route without a host
/// makes no host acceptable: that would be any host at all.
#[derive(Debug, Clone)]
pub struct Destinations {
    scheme: String,
    port: Option<u16>,
    hosts: Vec<HostPattern>,
}

impl Destinations {
    /// Absolute targets with `public`'s scheme and port, on its host or one of `hosts`.
    pub fn new(public: &Url, hosts: impl IntoIterator<Item = HostPattern>) -> Self {
        let own = public.host_str().and_then(|h| HostPattern::parse(h).ok());
        Self {
            scheme: public.scheme().to_string(),
            port: public.port(),
            hosts: own.into_iter().chain(hosts).collect(),
        }
    }

    /// The target to redirect to for `raw`: an absolute URL on one of the gateway's hosts, a
    /// normalised local path (with its query), or `/`.
    pub fn target(&self, raw: Option<&str>) -> String {
        match raw {
            Some(raw) if !raw.starts_with('/') && raw.contains("://") => {
                self.absolute(raw).unwrap_or_else(|| "/".to_string())
            }
            _ => safe_target(raw),
        }
    }

    /// `raw` as an absolute URL on one of the gateway's hosts, its path held to the rules of a
    /// local one.
    fn absolute(&self, raw: &str) -> Option<String> {
        if raw.len() > MAX_TARGET_LEN || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return None;
        }
        let url = Url::parse(raw).ok()?;
        if url.scheme() != self.scheme
            || !url.username().is_empty()
            || url.password().is_some()
            || url.port() != self.port
        {
            return None;
        }
        let host = url.host_str()?;
        let name = host.strip_suffix('.').unwrap_or(host);
        if !self.hosts.iter().any(|h| h.matches(name)) {
            return None;
        }
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let local = local_path(&path)?;
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        Some(format!("{}://{name}{port}{local}", self.scheme))
    }
}

fn local_path(raw: &str) -> Option<String> {
    if raw.len() > MAX_TARGET_LEN || !plain_path(raw) {
        return None;
    }
    // Encoded slashes and backslashes have no business in a redirect target's path, at any
    // depth. (The query may hold anything: it cannot change where the browser goes.)
    let path_end = raw.find(['?', '#']).unwrap_or(raw.len());
    let mut decoded = raw[..path_end].to_string();
    let mut settled = false;
    for _ in 0..MAX_DECODES {
        let lower = decoded.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return None;
        }
        let next = percent_decode_str(&decoded)
            .decode_utf8()
            .ok()?
            .into_owned();
        if next == decoded {
            settled = true;
            break;
        }
        if next.starts_with("//") || next.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
            return None;
        }
        decoded = next;
    }
    // Still changing after that many rounds: encoded too deep to be anything but a trick.
    if !settled {
        return None;
    }
    // Resolve dot segments the way a browser would, and make sure the result stays put.
    let base = Url::parse(PROBE_BASE).ok()?;
    let resolved = base.join(raw).ok()?;
    if resolved.origin() != base.origin()
        || !resolved.username().is_empty()
        || resolved.password().is_some()
    {
        return None;
    }
    let path = resolved.path();
    if !plain_path(path) {
        return None;
    }
    Some(match resolved.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    })
}

/// Starts with exactly one `/`, and holds only printable ASCII without spaces or backslashes.
fn plain_path(s: &str) -> bool {
    s.starts_with('/')
        && !s.starts_with("//")
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for (raw, want) in [
            ("/", "/"),
            ("/app", "/app"),
            ("/app/page?x=1&y=%2F", "/app/page?x=1&y=%2F"),
            ("/a/./b/../c", "/a/c"),
            ("/search?q=//evil.com", "/search?q=//evil.com"),
            ("/caf%C3%A9", "/caf%C3%A9"),
            ("/a#frag", "/a"),
            ("/@evil.com", "/@evil.com"),
        ] {
            assert_eq!(safe_target(Some(raw)), want, "{raw}");
        }
    }

    #[test]
    fn hostile_targets_fall_back_to_root() {
        let long = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        for raw in [
            "",
            "//evil.com",
            "///evil.com",
            "////evil.com/",
            "https://evil.com",
            "http://evil.com/",
            "HTTPS://evil.com",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>",
            "evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "\\/evil.com",
            "/\\/evil.com",
            "/%5cevil.com",
            "/%5Cevil.com",
            "/%2f%2fevil.com",
            "/%2F/evil.com",
            "/%252f%252fevil.com",
            "/%25252f%25252fevil.com",
            "/%2525252f%2525252fevil.com",
            "/%252525252525252e",
            "/%255cevil.com",
            "/ /evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/\r\n/evil.com",
            "/%09/evil.com",
            "/%0a/evil.com",
            "/%0d%0aSet-Cookie:x=1",
            "/%00",
            "/\u{0}",
            "/\u{7f}",
            " /app",
            "/app ",
            "/..//evil.com",
            "/../..//evil.com",
            "/a/../..//evil.com",
            "/.//evil.com",
            "/%2e%2e//evil.com",
            "/%2e%2e/%2fevil.com",
            "/caf\u{e9}",
            "/\u{ff0f}evil.com",
            "https:evil.com",
            "//user@evil.com",
            "//evil.com@app.example.com",
            "/%2f",
            &long,
        ] {
            assert_eq!(safe_target(Some(raw)), "/", "{raw:?}");
        }
        assert_eq!(safe_target(None), "/");
    }

    #[test]
    fn absolute_targets_stay_on_the_gateways_hosts() {
        let public = Url::parse("https://portal.example.com").unwrap();
        let hosts =
            ["wiki.example.com", "*.apps.example.com"].map(|h| HostPattern::parse(h).unwrap());
        let d = Destinations::new(&public, hosts);
        for (raw, want) in [
            (
                "https://wiki.example.com/page?x=1",
                "https://wiki.example.com/page?x=1",
            ),
            (
                "https://WIKI.example.com/a/../b",
                "https://wiki.example.com/b",
            ),
            ("https://wiki.example.com:443/", "https://wiki.example.com/"),
            (
                "https://grafana.apps.example.com/d/1",
                "https://grafana.apps.example.com/d/1",
            ),
            (
                "https://portal.example.com/x",
                "https://portal.example.com/x",
            ),
            ("https://wiki.example.com./x", "https://wiki.example.com/x"),
            ("/local", "/local"),
        ] {
            assert_eq!(d.target(Some(raw)), want, "{raw}");
        }
        for raw in [
            "https://evil.example/",
            "https://wiki.example.com.evil.example/",
            "https://evil.example\\@wiki.example.com/",
            "https://user@wiki.example.com/",
            "https://wiki.example.com@evil.example/",
            "http://wiki.example.com/",
            "https://wiki.example.com:8443/",
            "https://a.b.apps.example.com/",
            "https://apps.example.com/",
            "https://example.com/",
            "javascript://wiki.example.com/%0aalert(1)",
            "https://wiki.example.com//evil.example/",
            "https://wiki.example.com/%2f%2fevil.example",
            "https://wiki.example.com/\t",
            "https:/wiki.example.com/",
            "https://[::1]/",
        ] {
            assert_eq!(d.target(Some(raw)), "/", "{raw:?}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            /// Whatever comes in, the browser is sent to a path on the gateway's own origin.
            #[test]
            fn a_safe_target_never_leaves_the_origin(
                raw in proptest::collection::vec(
                    prop_oneof![
                        Just("/"), Just("\\"), Just("."), Just(".."), Just("%2f"), Just("%5C"),
                        Just("%25"), Just("%09"), Just(":"), Just("@"), Just("?"), Just("#"),
                        Just("evil.com"), Just("http"), Just(" "), Just("\t"), Just("a"),
                    ],
                    0..10,
                ).prop_map(|p| p.concat())
            ) {
                let target = safe_target(Some(&raw));
                prop_assert!(target.starts_with('/') && !target.starts_with("//"), "{}", target);
                let base = Url::parse("https://app.example.com/x/").unwrap();
                let resolved = base.join(&target).unwrap();
                prop_assert_eq!(resolved.origin(), base.origin(), "{} from {:?}", target, raw);
                prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{:?}", target);
            }

            /// Whatever comes in, the browser is sent to a path on the host it is on, or to one
            /// of the gateway's hosts, on its scheme and port, never anywhere else.
            #[test]
            fn an_absolute_target_stays_on_the_gateways_hosts(
                raw in proptest::collection::vec(
                    prop_oneof![
                        Just("https://"), Just("http://"), Just("wiki.example.com"),
                        Just("a.apps.example.com"), Just("evil.test"), Just("."), Just("/"),
                        Just("\\"), Just("@"), Just(":"), Just("443"), Just("8443"), Just("%2f"),
                        Just("%40"), Just("?"), Just("#"), Just(".."), Just("x"),
                    ],
                    0..10,
                ).prop_map(|p| p.concat())
            ) {
                let public = Url::parse("https://portal.example.com").unwrap();
                let hosts = ["wiki.example.com", "*.apps.example.com"]
                    .map(|h| HostPattern::parse(h).unwrap());
                let d = Destinations::new(&public, hosts.clone());
                let target = d.target(Some(&raw));
                prop_assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{:?}", target);
                if !target.starts_with('/') {
                    let url = Url::parse(&target).unwrap();
                    prop_assert_eq!(url.scheme(), "https", "{} from {:?}", target, raw);
                    prop_assert_eq!(url.port(), None, "{} from {:?}", target, raw);
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                    let host = url.host_str().unwrap();
                    prop_assert!(
                        host == "portal.example.com" || hosts.iter().any(|h| h.matches(host)),
                        "{} from {:?}", target, raw
                    );
                } else {
                    prop_assert!(!target.starts_with("//"), "{}", target);
                }
            }
        }
    }
}
