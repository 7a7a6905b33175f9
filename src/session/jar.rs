//! Cookie names, `Cookie` header parsing and `Set-Cookie` building.
//!
//! Every cookie of the gateway is named `{base}` or `{base}_{something}`, where `base` is
//! `session.cookie_name`, prefixed with `__Host-` on https (which makes browsers refuse it unless
//! it is Secure, host-only and for path `/`). With `session.cookie_domain` the session cookies
//! carry that `Domain`, which `__Host-` forbids: the prefix is then `__Secure-` (Secure only).
//! The other cookies (a sign-in in progress, a sign-out's target) stay host-only either way.

use std::borrow::Cow;

use http::HeaderMap;
use http::HeaderValue;
use http::header::COOKIE;

/// Characters of `state` used in a sign-in cookie's name (72 random bits: collisions are moot).
const LOGIN_TAG_LEN: usize = 12;

/// Every `name=value` pair of the request's `Cookie` headers, as text (pairs that are not UTF-8
/// are left out).
pub fn request_cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    cookie_pairs(headers).filter_map(|(name, value)| {
        Some((
            std::str::from_utf8(name).ok()?,
            std::str::from_utf8(value).ok()?,
        ))
    })
}

/// Every `name=value` pair of the request's `Cookie` headers, as bytes: the session cookie is
/// looked up on every request, and only a value that is then used needs checking.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    cookie_pieces(headers).filter_map(|piece| {
        let eq = memchr::memchr(b'=', piece)?;
        let mut value = piece[eq + 1..].trim_ascii();
        while let [b'"', rest @ ..] = value {
            value = rest;
        }
        while let [rest @ .., b'"'] = value {
            value = rest;
        }
        Some((piece[..eq].trim_ascii(), value))
    })
}

/// The `;`-separated pieces of the request's `Cookie` headers, trimmed, empty ones left out.
/// Every request is scanned, and a session cookie is kilobytes long: the separators are found
/// with `memchr` (vectorised), not byte by byte.
fn cookie_pieces(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|line| {
            let mut rest = Some(line.as_bytes());
            std::iter::from_fn(move || {
                let current = rest?;
                match memchr::memchr(b';', current) {
                    Some(i) => {
                        rest = Some(&current[i + 1..]);
                        Some(&current[..i])
                    }
                    None => {
                        rest = None;
                        Some(current)
                    }
                }
            })
        })
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty())
}

/// Names and attributes of the gateway's cookies.
#[derive(Debug, Clone)]
pub struct CookieJar {
    base: String,
    secure: bool,
    /// `; Domain=...` for the session cookies, or empty.
    domain: String,
}

impl CookieJar {
    /// A jar for cookies named after `base`, whose session cookies are valid for `domain` and
    /// its subdomains when one is given (else for the host that set them alone).
    pub fn new(base: String, secure: bool, domain: Option<&str>) -> Self {
        Self {
            base,
            secure,
            domain: domain.map(|d| format!("; Domain={d}")).unwrap_or_default(),
        }
    }

    /// The session cookie's name (the first chunk's too).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a request cookie belongs to the gateway (and so is never sent upstream).
    pub fn is_ours(&self, name: &[u8]) -> bool {
        name.strip_prefix(self.base.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"_"))
    }

    fn chunk_name(&self, i: usize) -> String {
        format!("{}_{i}", self.base)
    }

    /// Name of the cookie of the sign-in whose state is `state`.
    pub fn login_name(&self, state: &str) -> String {
        let tag: String = state.chars().take(LOGIN_TAG_LEN).collect();
        format!("{}_login_{tag}", self.base)
    }

    /// Whether `name` is a sign-in cookie.
    pub fn is_login(&self, name: &str) -> bool {
        name.strip_prefix(self.base.as_str())
            .is_some_and(|rest| rest.starts_with("_login_"))
    }

    /// Name of the cookie holding the post-sign-out target.
    pub fn sign_out_name(&self) -> String {
        format!("{}_signout", self.base)
    }

    /// `Set-Cookie` for `name=value`, valid for `max_age` seconds, for this host alone.
    pub fn set(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        self.cookie(name, value, max_age, "")
    }

    /// `Set-Cookie` for a session cookie: for the cookie domain, when there is one.
    fn set_session(&self, name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
        self.cookie(name, value, max_age, &self.domain)
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64, domain: &str) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}{domain}"
        ))
        .ok()
    }

    /// `Set-Cookie` that deletes `name`.
    pub fn expire(&self, name: &str) -> Option<HeaderValue> {
        self.set(name, "", 0)
    }

    /// The session value from `{base}`, or from `{base}_0`, `{base}_1`, ... (at most `max` of
    /// them), as the request's bytes: borrowed when it is one cookie, the common case.
    pub fn read_chunks<'h>(&self, headers: &'h HeaderMap, max: usize) -> Option<Cow<'h, [u8]>> {
        let mut single = None;
        let mut chunks: Vec<Option<&[u8]>> = Vec::new();
        for (name, value) in cookie_pairs(headers) {
            match self.chunk_index(name) {
                Some(None) => single = Some(value),
                Some(Some(i)) if i < max => {
                    if chunks.len() <= i {
                        chunks.resize(i + 1, None);
                    }
                    chunks[i] = Some(value);
                }
                _ => {}
            }
        }
        if let Some(value) = single {
            return Some(Cow::Borrowed(value));
        }
        let mut joined = Vec::new();
        for chunk in chunks.into_iter().map_while(|c| c) {
            joined.extend_from_slice(chunk);
        }
        (!joined.is_empty()).then_some(Cow::Owned(joined))
    }

    /// For a session cookie's name: `Some(None)` for `{base}`, `Some(Some(i))` for `{base}_{i}`
    /// with `i` written as the gateway writes it (decimal digits, no sign, no leading zero), so
    /// each chunk has exactly one name; `None` for any other name.
    fn chunk_index(&self, name: &[u8]) -> Option<Option<usize>> {
        let rest = name.strip_prefix(self.base.as_bytes())?;
        if rest.is_empty() {
            return Some(None);
        }
        let digits = rest.strip_prefix(b"_")?;
        let canonical = match digits {
            [b'0'] => true,
            [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
            [] => false,
        };
        if !canonical {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok().map(Some)
    }

    /// `Set-Cookie` values that store `sealed` (in `{base}` when it fits one cookie, else in
    /// chunks of `chunk_size`) and delete the session cookies of the request that are not
    /// overwritten. An empty `sealed` deletes them all.
    pub fn write_chunks(
        &self,
        sealed: &str,
        chunk_size: usize,
        max_age: u64,
        request: &HeaderMap,
    ) -> Vec<HeaderValue> {
        let mut written: Vec<String> = Vec::new();
        let mut out = Vec::new();
        if !sealed.is_empty() {
            if sealed.len() <= chunk_size {
                written.push(self.base.clone());
                out.extend(self.set_session(&self.base, sealed, max_age));
            } else {
                // Sealed values are ASCII, so byte chunks are valid strings.
                for (i, chunk) in sealed.as_bytes().chunks(chunk_size).enumerate() {
                    let name = self.chunk_name(i);
                    out.extend(self.set_session(
                        &name,
                        std::str::from_utf8(chunk).unwrap_or(""),
                        max_age,
                    ));
                    written.push(name);
                }
            }
        }
        // Every session cookie that `read_chunks` would read, whatever its value holds: one that
        // is not text must go too, or it would spoil every later read.
        for (name, _) in cookie_pairs(request) {
            if self.chunk_index(name).is_none() {
                continue;
            }
            // The base name, or the base name, `_` and digits: text.
            let name = std::str::from_utf8(name).unwrap_or_default();
            if !written.iter().any(|w| w == name) {
                out.extend(self.set_session(name, "", 0));
            }
        }
        out
    }

    /// Removes the gateway's cookies from the request's `Cookie` header(s) before it goes upstream,
    /// and leaves one `Cookie` header: HTTP/2 clients may split cookies over several fields, which
    /// an HTTP/1.1 app expects joined with `; ` (RFC 9113, section 8.2.3). The app's own cookies
    /// are kept byte for byte, whatever they hold.
    pub fn strip(&self, headers: &mut HeaderMap) {
        let ours = |piece: &[u8]| {
            let name = memchr::memchr(b'=', piece).map_or(piece, |eq| &piece[..eq]);
            self.is_ours(name.trim_ascii())
        };
        // Most requests of a signed-in browser carry the gateway's cookies alone, and then there
        // is nothing to rebuild: the header goes, with no copy made.
        let (mut gateway, mut others) = (false, false);
        for piece in cookie_pieces(headers) {
            if ours(piece) {
                gateway = true;
            } else {
                others = true;
            }
        }
        if !gateway && headers.get_all(COOKIE).iter().nth(1).is_none() {
            return;
        }
        let kept = others.then(|| {
            let mut kept = Vec::new();
            for piece in cookie_pieces(headers).filter(|p| !ours(p)) {
                if !kept.is_empty() {
                    kept.extend_from_slice(b"; ");
                }
                kept.extend_from_slice(piece);
            }
            kept
        });
        headers.remove(COOKIE);
        if let Some(v) = kept.and_then(|k| HeaderValue::from_bytes(&k).ok()) {
            headers.insert(COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    #[test]
    fn chunks_round_trip_and_stale_chunks_are_cleared() {
        let jar = CookieJar::new("pc".into(), false, None);
        let value = "x".repeat(25);
        let mut request = headers("pc=old; pc_3=old; other=1");
        // A chunk whose value is not text is read (and fails to open), so it is cleared too.
        request.append(COOKIE, HeaderValue::from_bytes(b"pc_4=\xff").unwrap());
        let set = jar.write_chunks(&value, 10, 60, &request);
        let set: Vec<&str> = set.iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(set.len(), 6, "{set:?}");
        assert!(set.contains(&"pc_4=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
        assert!(set[0].starts_with("pc_0=xxxxxxxxxx; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"));
        assert!(set.contains(&"pc=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
        assert!(set.contains(&"pc_3=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"));
        let back = headers("pc_1=xxxxxxxxxx; pc_0=xxxxxxxxxx; pc_2=xxxxx");
        assert_eq!(jar.read_chunks(&back, 5).as_deref(), Some(value.as_bytes()));
        // A gap ends the value; chunks past the bound are never read.
        assert_eq!(
            jar.read_chunks(&headers("pc_0=a; pc_2=c"), 5).as_deref(),
            Some(&b"a"[..])
        );
        assert_eq!(
            jar.read_chunks(&headers("pc_0=a; pc_1=b; pc_2=c"), 2)
                .as_deref(),
            Some(&b"ab"[..])
        );
        assert_eq!(
            jar.read_chunks(&headers("pc_99999999999999999999=a"), 5),
            None
        );
    }

    #[test]
    fn each_chunk_has_one_name() {
        let jar = CookieJar::new("pc".into(), false, None);
        for (name, index) in [
            ("pc", Some(None)),
            ("pc_0", Some(Some(0))),
            ("pc_12", Some(Some(12))),
        ] {
            assert_eq!(jar.chunk_index(name.as_bytes()), index, "{name}");
        }
        for name in [
            "pc_",
            "pc_+1",
            "pc_01",
            "pc_00",
            "pc_-1",
            "pc_1a",
            "pc_ 1",
            "pc_login_x",
            "pcx",
        ] {
            assert_eq!(jar.chunk_index(name.as_bytes()), None, "{name}");
        }
        // Only the canonical name is read: a look-alike does not stand in for chunk 1.
        let request = headers("pc_0=a; pc_01=b; pc_+1=c");
        let read = jar.read_chunks(&request, 5).unwrap();
        assert_eq!(&*read, b"a");
    }

    #[test]
    fn secure_jar_sets_secure() {
        let jar = CookieJar::new("__Host-pc".into(), true, None);
        let v = jar.set("__Host-pc", "v", 5).unwrap();
        assert!(v.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn a_cookie_domain_goes_on_session_cookies_only() {
        let jar = CookieJar::new("__Secure-pc".into(), true, Some("example.com"));
        let session = jar.write_chunks("v", 10, 60, &headers("__Secure-pc_0=old"));
        let session: Vec<&str> = session.iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(
            session,
            [
                "__Secure-pc=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure; Domain=example.com",
                "__Secure-pc_0=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure; Domain=example.com",
            ]
        );
        let login = jar.set(&jar.login_name("abcdef"), "x", 5).unwrap();
        assert!(!login.to_str().unwrap().contains("Domain"), "{login:?}");
    }

    #[test]
    fn own_cookies_are_stripped() {
        let jar = CookieJar::new("pc".into(), false, None);
        let mut h = headers("a=1; pc=s; pc_0=x; pc_login_abc=y; pcx=keep; b=\"q\"; flag");
        h.append(
            COOKIE,
            HeaderValue::from_bytes(b"pc_signout=z; c=caf\xc3\xa9").unwrap(),
        );
        jar.strip(&mut h);
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
        assert_eq!(
            h[COOKIE].as_bytes(),
            b"a=1; pcx=keep; b=\"q\"; flag; c=caf\xc3\xa9"
        );
        let mut h = headers("pc=s");
        jar.strip(&mut h);
        assert!(h.get(COOKIE).is_none());
        // Without the gateway's cookies the header is left as it came.
        let mut h = headers("a=1;b=2 ;;pcx=3");
        jar.strip(&mut h);
        assert_eq!(h[COOKIE].as_bytes(), b"a=1;b=2 ;;pcx=3");
        // Several fields (HTTP/2) become one, with or without the gateway's among them.
        for gateway in [false, true] {
            let mut h = headers("a=1");
            if gateway {
                h.append(COOKIE, HeaderValue::from_static("pc=s"));
            }
            h.append(COOKIE, HeaderValue::from_static("b=2; c=3"));
            jar.strip(&mut h);
            assert_eq!(h.get_all(COOKIE).iter().count(), 1);
            assert_eq!(h[COOKIE].as_bytes(), b"a=1; b=2; c=3");
        }
    }
}
