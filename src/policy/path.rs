//! The one canonical form of a request path that rules are matched on, and that the upstream
//! receives: percent-decoded, dot segments resolved, repeated slashes merged, re-encoded one way.
//! What could be read two ways is refused instead of guessed at: encoded slashes and backslashes,
//! encoded `;`, `?` and `#` (delimiters to whoever decodes before routing), double encoding, NUL,
//! raw backslashes, dot segments hidden behind `;` parameters, and segments that are only `;`
//! parameters (servlet containers drop those, and the slashes around them merge: `/;x/admin` is
//! `/admin` to Tomcat).
//!
//! Every delimiter reaches the app in the form it arrived in: a raw `;` stays raw, and an encoded
//! one is never made raw, since it is refused.

use std::fmt;

/// Longest path accepted.
pub const MAX_PATH_LEN: usize = 8192;
/// Most segments a path may have.
pub const MAX_SEGMENTS: usize = 256;

/// Why a path was refused (the client gets 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path, too long, or too many segments.
    Malformed,
    /// A `%` not followed by two hex digits.
    BadEncoding,
    /// `%2F`, `%5C`, `%3B`, `%3F`, `%23`, a raw `\`, `#` or `?`, NUL or another control character,
    /// or a segment that is only `;` parameters.
    Ambiguous,
    /// `%25`: an encoded percent, the start of double encoding.
    DoubleEncoded,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed path",
            Self::BadEncoding => "invalid percent-encoding in path",
            Self::Ambiguous => {
                "encoded delimiter, backslash, control character or parameter-only segment in path"
            }
            Self::DoubleEncoded => "double percent-encoding in path",
        })
    }
}

/// A canonical path: its decoded segments (for matching) and its re-encoded form (for the upstream).
/// Built on every request, so it is two buffers, not one per segment: the decoded path is kept
/// as `/seg/seg` (a decoded segment never holds a `/`: `%2F` is refused) with each segment's
/// bounds, and usually it reads the same as the encoded path, which then stands for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath {
    /// The path to send upstream.
    encoded: String,
    /// The decoded path, when it differs from `encoded` (it had escapes to undo or to add).
    decoded: Option<Vec<u8>>,
    /// Each segment's start in the decoded path, and the end of its name: what precedes any
    /// `;` parameters, which is what rules match (`/admin;x` is `/admin`).
    names: Vec<(u32, u32)>,
}

impl CanonicalPath {
    /// Canonicalises the path part of a request target (no query).
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if !raw.starts_with('/') || raw.len() > MAX_PATH_LEN {
            return Err(PathError::Malformed);
        }
        // A raw '#' ends the path for some servers and not for others; a raw '?' is where the
        // query starts, not part of a path (the fuzzer found the path form taking it as one).
        if memchr::memchr2(b'#', b'?', raw.as_bytes()).is_some() {
            return Err(PathError::Ambiguous);
        }
        let trailing_slash = raw.len() > 1 && raw.ends_with('/');
        let mut decoded: Vec<u8> = Vec::with_capacity(raw.len() + 1);
        let mut names: Vec<(u32, u32)> = Vec::new();
        // Offsets fit in u32: the path is at most MAX_PATH_LEN bytes.
        for raw_segment in raw.split('/').filter(|s| !s.is_empty()) {
            let slash = decoded.len();
            decoded.push(b'/');
            decode_into(raw_segment, &mut decoded)?;
            let segment = &decoded[slash + 1..];
            let name_len = memchr::memchr(b';', segment).unwrap_or(segment.len());
            match &segment[..name_len] {
                // `/;x/admin`: a segment that is only parameters vanishes for servlet
                // containers, which then serve `/admin`.
                b"" => return Err(PathError::Ambiguous),
                b"." | b".." if name_len != segment.len() => return Err(PathError::Ambiguous),
                b"." => decoded.truncate(slash),
                b".." => {
                    decoded.truncate(slash);
                    if let Some((start, _)) = names.pop() {
                        decoded.truncate(start as usize - 1);
                    }
                }
                _ => names.push(((slash + 1) as u32, (slash + 1 + name_len) as u32)),
            }
            if names.len() > MAX_SEGMENTS {
                return Err(PathError::Malformed);
            }
        }
        let needs_escapes = decoded.iter().any(|&b| b != b'/' && !is_pchar(b));
        let (mut encoded, decoded) = if needs_escapes {
            let mut encoded = String::with_capacity(decoded.len() + 16);
            // `decoded` is `/seg/seg`: what precedes its first slash is empty.
            for segment in decoded.split(|&b| b == b'/').skip(1) {
                encoded.push('/');
                encode_into(segment, &mut encoded);
            }
            (encoded, Some(decoded))
        } else {
            // Only pchars and slashes: ASCII, and already its own encoding.
            (
                String::from_utf8(decoded).map_err(|_| PathError::Malformed)?,
                None,
            )
        };
        if encoded.is_empty() || trailing_slash {
            encoded.push('/');
        }
        // Escapes added can make the path the app gets longer than the one that came: bounded
        // too, so that the canonical form is always one the gateway itself accepts (the fuzzer
        // found 8 KB of backquotes, each sent on as `%60`).
        if encoded.len() > MAX_PATH_LEN {
            return Err(PathError::Malformed);
        }
        Ok(Self {
            encoded,
            decoded,
            names,
        })
    }

    /// The decoded path, which its `names` index.
    fn decoded(&self) -> &[u8] {
        self.decoded.as_deref().unwrap_or(self.encoded.as_bytes())
    }

    /// The path to send upstream.
    pub fn as_str(&self) -> &str {
        &self.encoded
    }

    /// The path to send upstream without its first `n` segments (`/grafana/api` without one
    /// is `/api`); `/` when nothing is left. Each segment of the sent path is one of the
    /// matched path, in order: dot segments and empty ones are gone from both.
    pub fn without_segments(&self, n: usize) -> &str {
        if n == 0 {
            return &self.encoded;
        }
        match memchr::memchr_iter(b'/', self.encoded.as_bytes()).nth(n) {
            Some(slash) => &self.encoded[slash..],
            None => "/",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(segment: &str) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(segment.len());
    decode_into(segment, &mut out)?;
    Ok(out)
}

/// Appends the percent-decoded `segment` to `out`.
fn decode_into(segment: &str, out: &mut Vec<u8>) -> Result<(), PathError> {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEncoding);
                };
                i += 2;
                match h << 4 | l {
                    b'%' => return Err(PathError::DoubleEncoded),
                    // Delimiters once decoded: the app may split on them after decoding (a path
                    // segment, path parameters, the query, the fragment) or before.
                    b'/' | b'\\' | b';' | b'?' | b'#' => return Err(PathError::Ambiguous),
                    b => b,
                }
            }
            b => b,
        };
        if b == b'\\' || b.is_ascii_control() {
            return Err(PathError::Ambiguous);
        }
        out.push(b);
        i += 1;
    }
    Ok(())
}

/// RFC 3986 `pchar`s other than escapes: unreserved, sub-delims, `:` and `@`. Sent as they are.
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Percent-encodes everything but RFC 3986 `pchar`s (unreserved, sub-delims, `:` and `@`).
fn encode_into(segment: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in segment {
        if is_pchar(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// One segment of a rule's path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Vec<u8>),
    /// `*`: exactly one segment.
    One,
    /// `**`: any number of segments, none included.
    Any,
}

/// A rule's `path`: `/admin` matches `/admin` and everything below it; `*` matches one segment,
/// `**` any number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    parts: Vec<Part>,
    text: String,
}

impl PathPattern {
    /// Parses a pattern; literal segments are canonicalised like request paths.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("{text:?} must start with '/'"));
        }
        let mut parts = Vec::new();
        for segment in text.split('/').filter(|s| !s.is_empty()) {
            parts.push(match segment {
                "*" => Part::One,
                "**" => Part::Any,
                s if s.contains('*') => {
                    return Err(format!("{text:?}: '*' and '**' must be whole segments"));
                }
                "." | ".." => return Err(format!("{text:?}: dot segments are not allowed")),
                s => Part::Literal(decode(s).map_err(|e| format!("{text:?}: {e}"))?),
            });
        }
        if parts.iter().filter(|p| **p == Part::Any).count() > 2 {
            return Err(format!("{text:?}: at most two '**'"));
        }
        Ok(Self {
            parts,
            text: text.to_string(),
        })
    }

    /// Whether the path, or a path it is below, matches the pattern.
    pub fn matches(&self, path: &CanonicalPath) -> bool {
        let decoded = path.decoded();
        matches_prefix(&self.parts, &path.names, |part, &(start, end)| match part {
            Part::Literal(l) => *l == decoded[start as usize..end as usize],
            Part::One => true,
            Part::Any => false,
        })
    }

    /// Whether every path this pattern matches is matched by `earlier` too.
    pub fn covered_by(&self, earlier: &PathPattern) -> bool {
        // Read this pattern as a path whose wildcards are segments of their own: `earlier`
        // covers it if it matches that path with its `*` taking only literals or `*`, and only
        // its `**` taking a `**`.
        matches_prefix(&earlier.parts, &self.parts, |part, segment| {
            match (part, segment) {
                (Part::Literal(a), Part::Literal(b)) => a == b,
                (Part::One, Part::Literal(_) | Part::One) => true,
                _ => false,
            }
        })
    }

    /// The pattern as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many segments the pattern has (a route's path: how many `strip_prefix` removes).
    pub fn segments(&self) -> usize {
        self.parts.len()
    }

    /// Whether the pattern has no `*` or `**`: a plain path prefix.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }
}

/// Whether `parts`, followed by an implicit `**`, matches all of `items`. The classic wildcard
/// algorithm: `**` backtracks to the latest star only, so this is O(parts x items).
fn matches_prefix<T>(parts: &[Part], items: &[T], one: impl Fn(&Part, &T) -> bool) -> bool
where
    T: AnyMarker,
{
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p == parts.len() {
            // Everything below a matched prefix matches.
            return true;
        }
        if parts[p] == Part::Any {
            star = Some((p, i));
            p += 1;
            continue;
        }
        if i < items.len() && !items[i].is_any() && one(&parts[p], &items[i]) {
            p += 1;
            i += 1;
            continue;
        }
        match star {
            // Let the latest `**` take one more item and try again.
            Some((sp, si)) if si < items.len() => {
                star = Some((sp, si + 1));
                p = sp + 1;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Whether a matched item is itself a `**` (only pattern parts can be).
trait AnyMarker {
    fn is_any(&self) -> bool;
}

/// A path segment's name, by its bounds.
impl AnyMarker for (u32, u32) {
    fn is_any(&self) -> bool {
        false
    }
}

impl AnyMarker for Part {
    fn is_any(&self) -> bool {
        *self == Part::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Result<String, PathError> {
        CanonicalPath::parse(raw).map(|p| p.as_str().to_string())
    }

    #[test]
    fn prefixes_are_stripped_by_segment() {
        for (raw, n, want) in [
            ("/grafana/api", 1, "/api"),
            ("/grafana/api/", 1, "/api/"),
            ("/grafana", 1, "/"),
            ("/grafana/", 1, "/"),
            ("/grafana;v=1/api", 1, "/api"),
            ("/a/b/c", 2, "/c"),
            ("/a/./b/../c/d", 1, "/c/d"),
            ("/a%20b/c", 1, "/c"),
            ("/x", 0, "/x"),
        ] {
            let path = CanonicalPath::parse(raw).unwrap();
            assert_eq!(path.without_segments(n), want, "{raw} {n}");
        }
    }

    #[test]
    fn canonical_forms() {
        for (raw, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//a///b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../a", "/a"),
            ("/a/%2e%2e/b", "/b"),
            ("/a/%2E/b", "/a/b"),
            ("/%61dmin", "/admin"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/a%20b", "/a%20b"),
            ("/a b", "/a%20b"),
            ("/admin;jsessionid=1", "/admin;jsessionid=1"),
            ("/a/..", "/"),
            ("/~user/x@y:z", "/~user/x@y:z"),
            ("/caf%c3%a9/x/../y;p", "/caf%C3%A9/y;p"),
            ("/a%20b/", "/a%20b/"),
            ("/a b/../../c d", "/c%20d"),
        ] {
            assert_eq!(canon(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for (raw, err) in [
            ("admin", PathError::Malformed),
            ("", PathError::Malformed),
            ("/a%2fb", PathError::Ambiguous),
            ("/a%2Fb", PathError::Ambiguous),
            ("/a%5cb", PathError::Ambiguous),
            ("/a\\b", PathError::Ambiguous),
            ("/a%00b", PathError::Ambiguous),
            ("/a%0ab", PathError::Ambiguous),
            ("/a\u{1}b", PathError::Ambiguous),
            ("/%252e%252e/admin", PathError::DoubleEncoded),
            ("/%25", PathError::DoubleEncoded),
            ("/a%2", PathError::BadEncoding),
            ("/a%zz", PathError::BadEncoding),
            ("/public/..;/admin", PathError::Ambiguous),
            ("/public/.;x/admin", PathError::Ambiguous),
            ("/public/%2e%2e;/admin", PathError::Ambiguous),
            ("/admin#/../health", PathError::Ambiguous),
            ("/)/uus?", PathError::Ambiguous),
            ("/admin%23", PathError::Ambiguous),
            ("/admin%3f/x", PathError::Ambiguous),
            ("/admin%3F", PathError::Ambiguous),
            ("/;/admin", PathError::Ambiguous),
            ("/;x/admin", PathError::Ambiguous),
            ("/%3b/admin", PathError::Ambiguous),
            ("/%3Bfoo/admin/users", PathError::Ambiguous),
            ("/admin%3bx", PathError::Ambiguous),
            ("/x/;jsessionid=1", PathError::Ambiguous),
            ("/a/;", PathError::Ambiguous),
        ] {
            assert_eq!(canon(raw), Err(err), "{raw}");
        }
        let long = format!("/{}", "a/".repeat(MAX_SEGMENTS + 1));
        assert_eq!(canon(&long), Err(PathError::Malformed));
        // Short enough as it came, too long once its escapes are added.
        let escaped = format!("/{}", "`".repeat(MAX_PATH_LEN / 2));
        assert_eq!(canon(&escaped), Err(PathError::Malformed));
    }

    fn matches(pattern: &str, path: &str) -> bool {
        PathPattern::parse(pattern)
            .unwrap()
            .matches(&CanonicalPath::parse(path).unwrap())
    }

    #[test]
    fn pattern_matching() {
        for (pattern, path, want) in [
            ("/admin", "/admin", true),
            ("/admin", "/admin/", true),
            ("/admin", "/admin/users/1", true),
            ("/admin", "/administrator", false),
            ("/admin", "/", false),
            ("/admin", "/Admin", false),
            ("/admin", "/admin;x=1", true),
            ("/admin", "/%61dmin", true),
            ("/admin", "/x/../admin", true),
            ("/", "/anything/at/all", true),
            ("/api/*/items", "/api/v1/items", true),
            ("/api/*/items", "/api/v1/items/3", true),
            ("/api/*/items", "/api/items", false),
            ("/api/*/items", "/api/v1/v2/items", false),
            ("/api/**/items", "/api/items", true),
            ("/api/**/items", "/api/a/b/c/items/9", true),
            ("/api/**/items", "/api/a/b/c", false),
            ("/**/secret", "/a/b/secret", true),
            ("/**/secret", "/secret", true),
            ("/*", "/x", true),
            ("/*", "/", false),
            // Paths with escapes to add are matched on their decoded bytes too.
            ("/café", "/caf%c3%a9", true),
            ("/a b/x", "/a%20b/x/y", true),
            ("/a b", "/a%20b;x=1", true),
            ("/a b/x", "/a%20b/%C3%A9/../x", true),
            ("/a b/x", "/a%20b/y", false),
        ] {
            assert_eq!(matches(pattern, path), want, "{pattern} {path}");
        }
    }

    #[test]
    fn bad_patterns() {
        for p in ["admin", "/a*", "/a/**x", "/a/../b", "/%2f", "/**/**/**/x"] {
            assert!(PathPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn coverage() {
        let covered = |later: &str, earlier: &str| {
            PathPattern::parse(later)
                .unwrap()
                .covered_by(&PathPattern::parse(earlier).unwrap())
        };
        assert!(covered("/admin/users", "/admin"));
        assert!(covered("/admin", "/admin"));
        assert!(covered("/anything", "/"));
        assert!(covered("/api/v1/items", "/api/*"));
        assert!(covered("/api/*/items", "/api/*"));
        assert!(covered("/api/**/x", "/api/**"));
        assert!(covered("/api/**/x", "/api"));
        assert!(!covered("/admin", "/admin/users"));
        assert!(!covered("/api/*", "/api/v1"));
        assert!(!covered("/api/**/x", "/api/*/x"));
        assert!(!covered("/other", "/admin"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Paths built from the characters that matter: separators, dots, `;`, `%` escapes of
        /// delimiters and of ordinary bytes, and letters.
        fn hostile_path() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("/".to_string()),
                Just(".".to_string()),
                Just("..".to_string()),
                Just(";".to_string()),
                Just("a".to_string()),
                Just("admin".to_string()),
                Just("é".to_string()),
                Just(" ".to_string()),
                Just("#".to_string()),
                Just("?".to_string()),
                Just("\\".to_string()),
                "%[0-9a-fA-F]{2}",
                "%[2-3][0-9a-fA-F]",
                "[a-z=,@:!$&'()*+]{1,3}",
            ];
            proptest::collection::vec(piece, 0..12).prop_map(|p| format!("/{}", p.concat()))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]

            /// The canonical form is its own canonical form.
            #[test]
            fn canonicalisation_is_idempotent(raw in hostile_path()) {
                if let Ok(once) = CanonicalPath::parse(&raw) {
                    let twice = CanonicalPath::parse(once.as_str());
                    prop_assert_eq!(twice.as_ref().map(|p| p.as_str()), Ok(once.as_str()));
                    prop_assert_eq!(twice.map(|p| p.names), Ok(once.names));
                }
            }

            /// An accepted path has one reading: decoding what the app is sent once more changes
            /// nothing the rules matched on (no escape hides a delimiter, none is doubled), and
            /// no segment is only parameters.
            #[test]
            fn accepted_paths_have_exactly_one_reading(raw in hostile_path()) {
                if let Ok(path) = CanonicalPath::parse(&raw) {
                    let sent = path.as_str();
                    let decoded = percent_encoding::percent_decode_str(sent).collect::<Vec<u8>>();
                    prop_assert!(!decoded.iter().any(|b| b"%?#\\".contains(b)), "{}", sent);
                    if let Ok(text) = std::str::from_utf8(&decoded) {
                        let again = CanonicalPath::parse(text);
                        prop_assert_eq!(again.map(|p| p.as_str().to_string()), Ok(sent.to_string()));
                    }
                    for segment in sent.split('/').skip(1).filter(|s| !s.is_empty()) {
                        prop_assert!(!segment.starts_with(';'), "{}", sent);
                        prop_assert!(!matches!(segment.split(';').next(), Some("." | "..")));
                    }
                }
            }
        }
    }
}
