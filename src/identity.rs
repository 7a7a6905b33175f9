//! Identity headers: which claims reach the upstream, under which header names, and the stripping of
//! every client-sent copy of those headers.
//!
//! The upstream trusts these headers blindly, so two rules hold: a managed header is removed from
//! the client's request whatever its spelling (`X-Forwarded-User`, `x_forwarded_user`,
//! `X.Forwarded.User` are one header to many frameworks), and a value that is not a safe header
//! value is never sent.

use std::ops::Deref;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// Headers the gateway sets about the connection, the forward-auth answer's identity headers
/// (apps behind a forward-auth proxy trust them), the tokens and ALB-style headers it can send
/// (an app reading them believes they are the gateway's), and headers that make frameworks read
/// another request than the one the rules judged: client copies in any spelling are removed too.
const FORWARDING_HEADERS: [&str; 20] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "forwarded",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "x-forwarded-access-token",
    "x-amzn-oidc-data",
    "x-amzn-oidc-identity",
    "x-amzn-oidc-accesstoken",
    // Another method (Symfony, Laravel, Rails' Rack::MethodOverride): a rule listing methods
    // would be judged on the method the app ignores.
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    // Another path (IIS URL Rewrite, old Symfony, Zend): a rule on the path would be judged on
    // the path the app ignores.
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
];

/// A verified identity's claims (from an ID token or an access token), with the identity headers
/// rendered from them kept alongside. Sessions and bearer tokens come out of caches, so an identity
/// seen again is not mapped to headers again: the request only copies the rendered values.
#[derive(Debug, Default)]
pub struct Claims {
    map: Map<String, Value>,
    /// The identity headers for the mappings in force when they were last rendered.
    rendered: ArcSwapOption<Rendered>,
}

/// Identity headers rendered for one set of mappings.
#[derive(Debug)]
struct Rendered {
    /// The mappings the headers were rendered with; a reload brings new ones.
    mappings: Arc<[HeaderMapping]>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Whether an email without `email_verified` counts as verified (`[oidc] assume_email_verified`).
/// An email that says `email_verified: false` is never verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EmailTrust {
    /// Only `email_verified: true` (or Cognito's `"true"`) verifies an email: the default.
    #[default]
    VerifiedOnly,
    /// An email whose token says nothing of `email_verified` counts as verified too, for
    /// issuers that never send the claim.
    AssumeVerifiedWhenUnsaid,
}

impl EmailTrust {
    /// Whether `claims` hold a verified email address.
    fn verifies(self, claims: &Map<String, Value>) -> bool {
        match claims.get("email_verified") {
            // Cognito sends a boolean in ID tokens and a string from userInfo.
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(text)) => text == "true",
            None => self == Self::AssumeVerifiedWhenUnsaid,
            Some(_) => false,
        }
    }
}

impl Claims {
    /// The identity of a verified token's claims. An email that is not verified is no identity:
    /// users can set their own (Cognito lets them by default, and marks it unverified), so it is
    /// removed here, before any header, rule, answer or assertion can read it.
    pub fn new(mut map: Map<String, Value>, email: EmailTrust) -> Self {
        if !email.verifies(&map) && map.remove("email").is_some() {
            tracing::debug!("unverified email left out of the identity");
        }
        Self {
            map,
            rendered: ArcSwapOption::empty(),
        }
    }
}

impl From<Map<String, Value>> for Claims {
    /// [`Claims::new`] with the default, strict, [`EmailTrust`].
    fn from(map: Map<String, Value>) -> Self {
        Self::new(map, EmailTrust::default())
    }
}

impl Deref for Claims {
    type Target = Map<String, Value>;

    fn deref(&self) -> &Map<String, Value> {
        &self.map
    }
}

/// A claim reference: a top-level name such as `custom:roles`, or a dotted path into nested objects
/// (`address.country`), with `\.` standing for a literal dot inside a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Parses `a.b`, `custom:roles`, `https://example\.com/roles`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next @ ('.' | '\\')) => current.push(next),
                    _ => return Err(format!("{text:?}: '\\' must be followed by '.' or '\\'")),
                },
                '.' => segments.push(std::mem::take(&mut current)),
                c => current.push(c),
            }
        }
        segments.push(current);
        if segments.iter().any(String::is_empty) {
            return Err(format!("{text:?} has an empty segment"));
        }
        Ok(Self(segments))
    }

    /// The value at this path, if every segment is present.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.0.split_first()?;
        let mut value = claims.get(first)?;
        for segment in rest {
            value = value.as_object()?.get(segment)?;
        }
        Some(value)
    }
}

/// Where a list of values comes from: the first present of some claims, split on a delimiter
/// when it is a delimited string. Identity headers and role lookups both read claims this way.
#[derive(Debug, Clone)]
pub struct ClaimSource {
    /// Claims to read, in order of preference.
    pub claims: Vec<ClaimPath>,
    /// Delimiter that splits a string claim into several values (`|` for `custom:roles`).
    pub split: Option<String>,
}

impl ClaimSource {
    /// A source reading the first present of the top-level `claims`.
    pub fn named(claims: &[&str], split: Option<&str>) -> Self {
        Self {
            claims: claims
                .iter()
                .map(|c| ClaimPath(vec![(*c).to_string()]))
                .collect(),
            split: split.map(str::to_string),
        }
    }

    /// The claim value read, and the values it gives.
    fn read<'a>(&self, claims: &'a Map<String, Value>) -> (Option<&'a Value>, Vec<String>) {
        let mut out = Vec::new();
        let value = self.claims.iter().find_map(|p| p.lookup(claims));
        if let Some(value) = value {
            collect(value, self.split.as_deref(), &mut out, 0);
        }
        (value, out)
    }

    /// The values `claims` give.
    pub fn values(&self, claims: &Map<String, Value>) -> Vec<String> {
        self.read(claims).1
    }
}

/// One identity header: its name, where its values come from, and how they are joined.
#[derive(Debug, Clone)]
pub struct HeaderMapping {
    /// Header sent to the upstream.
    pub name: HeaderName,
    /// Where the values come from.
    pub source: ClaimSource,
    /// Delimiter placed between values.
    pub join: String,
}

impl HeaderMapping {
    fn new(name: &'static str, claims: &[&str]) -> Self {
        Self {
            name: HeaderName::from_static(name),
            source: ClaimSource::named(claims, None),
            join: ",".to_string(),
        }
    }

    /// The values this mapping produces for `claims`, before joining. When the claim is a list
    /// (an array, or a string split on `split`), an element holding the join delimiter is left
    /// out: `"staff,admins"` must not reach the app as two groups.
    pub fn values(&self, claims: &Map<String, Value>) -> Vec<String> {
        let (value, mut out) = self.source.read(claims);
        if value.is_some_and(Value::is_array) || self.source.split.is_some() {
            let before = out.len();
            out.retain(|v| !v.contains(self.join.as_str()));
            if out.len() < before {
                tracing::warn!(header = %self.name, "claim values holding the join delimiter left out");
            }
        }
        out
    }

    /// The header value for `claims`: `None` when the claim is absent or empty, or when the value
    /// holds characters a header must not carry.
    pub fn value(&self, claims: &Map<String, Value>) -> Option<HeaderValue> {
        let values = self.values(claims);
        if values.is_empty() {
            return None;
        }
        let joined = values.join(&self.join);
        if joined.bytes().any(|b| b.is_ascii_control()) {
            tracing::warn!(header = %self.name, "claim value holds control characters; header not sent");
            return None;
        }
        HeaderValue::from_bytes(joined.as_bytes()).ok()
    }
}

/// Flattens a claim value into strings: strings (split when asked), numbers and booleans as text,
/// arrays element by element; objects and nulls give nothing.
fn collect(value: &Value, split: Option<&str>, out: &mut Vec<String>, depth: usize) {
    match value {
        Value::String(s) => match split {
            Some(sep) => out.extend(
                s.split(sep)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            ),
            None if !s.is_empty() => out.push(s.clone()),
            None => {}
        },
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        // One level of nesting covers every claim shape seen in practice; deeper is ignored.
        Value::Array(items) if depth == 0 => {
            for item in items {
                collect(item, split, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The full set of identity headers: defaults compatible with apps written for oauth2-proxy, with
/// `[[headers]]` mappings added (or replacing a default of the same name).
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    mappings: Arc<[HeaderMapping]>,
    /// Other headers the gateway sets (an assertion's), stripped like the mapped ones.
    also: Arc<[HeaderName]>,
}

impl IdentityHeaders {
    /// The defaults plus `custom`.
    pub fn with_defaults(custom: Vec<HeaderMapping>) -> Self {
        let mut mappings: Vec<HeaderMapping> = [
            HeaderMapping::new("x-forwarded-user", &["sub"]),
            HeaderMapping::new("x-forwarded-email", &["email"]),
            // Cognito ID tokens say cognito:username, its access tokens username.
            HeaderMapping::new(
                "x-forwarded-preferred-username",
                &["cognito:username", "preferred_username", "username"],
            ),
            HeaderMapping::new("x-forwarded-groups", &["cognito:groups", "groups"]),
        ]
        .into_iter()
        .filter(|d| !custom.iter().any(|c| c.name == d.name))
        .collect();
        mappings.extend(custom);
        Self {
            mappings: mappings.into(),
            also: Arc::new([]),
        }
    }

    /// These mappings, with `names` stripped from client requests too.
    pub fn also_stripping(&self, names: &[HeaderName]) -> Self {
        let mut also = self.also.to_vec();
        also.extend(names.iter().cloned());
        Self {
            mappings: self.mappings.clone(),
            also: also.into(),
        }
    }

    /// These mappings with `more` added, each replacing the one of the same name: a route's
    /// headers over the global ones. With nothing to add, the same mappings (and so the same
    /// rendering cache in each session's claims).
    pub fn merged(&self, more: &[HeaderMapping]) -> Self {
        if more.is_empty() {
            return self.clone();
        }
        let mut mappings: Vec<HeaderMapping> = self
            .mappings
            .iter()
            .filter(|m| !more.iter().any(|o| o.name == m.name))
            .cloned()
            .collect();
        mappings.extend(more.iter().cloned());
        Self {
            mappings: mappings.into(),
            also: self.also.clone(),
        }
    }

    /// The mapping for `name`, if any.
    pub fn mapping(&self, name: &str) -> Option<&HeaderMapping> {
        self.mappings.iter().find(|m| m.name == name)
    }

    /// Whether `name` is a managed header in any spelling.
    pub fn is_managed(&self, name: &HeaderName) -> bool {
        let name = name.as_str().as_bytes();
        self.mappings
            .iter()
            .map(|m| m.name.as_str())
            .chain(FORWARDING_HEADERS)
            .chain(self.also.iter().map(HeaderName::as_str))
            .any(|managed| same_header(name, managed.as_bytes()))
    }

    /// Removes every header the gateway manages from a client request.
    pub fn strip(&self, headers: &mut HeaderMap) {
        // Collected first: a HeaderMap cannot be changed while iterated. Empty in the usual case,
        // and an empty Vec does not allocate.
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|n| self.is_managed(n))
            .cloned()
            .collect();
        for name in doomed {
            headers.remove(name);
        }
    }

    /// Adds the identity headers for `claims` (call after [`strip`](Self::strip)), rendering
    /// them only if `claims` has not been rendered with these mappings before.
    pub fn apply(&self, claims: &Claims, headers: &mut HeaderMap) {
        let cached = claims.rendered.load();
        if let Some(rendered) = cached
            .as_ref()
            .filter(|r| Arc::ptr_eq(&r.mappings, &self.mappings))
        {
            insert_all(&rendered.headers, headers);
            return;
        }
        let rendered = Rendered {
            mappings: self.mappings.clone(),
            headers: self
                .mappings
                .iter()
                .filter_map(|m| Some((m.name.clone(), m.value(claims)?)))
                .collect(),
        };
        insert_all(&rendered.headers, headers);
        claims.rendered.store(Some(Arc::new(rendered)));
    }
}

/// Sets each of `rendered` in `headers`; the values share their bytes with `rendered`.
fn insert_all(rendered: &[(HeaderName, HeaderValue)], headers: &mut HeaderMap) {
    for (name, value) in rendered {
        headers.insert(name.clone(), value.clone());
    }
}

/// Header names compared as many servers do: ASCII case-insensitive, with `-`, `_` and `.` alike.
fn same_header(a: &[u8], b: &[u8]) -> bool {
    fn fold(c: u8) -> u8 {
        match c {
            b'_' | b'.' => b'-',
            c => c.to_ascii_lowercase(),
        }
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn mapping(claim: &str, split: Option<&str>, join: &str) -> HeaderMapping {
        HeaderMapping {
            name: HeaderName::from_static("x-test"),
            source: ClaimSource {
                claims: vec![ClaimPath::parse(claim).unwrap()],
                split: split.map(str::to_string),
            },
            join: join.to_string(),
        }
    }

    #[test]
    fn claim_paths() {
        let c = claims(json!({
            "custom:roles": "a|b",
            "address": {"country": "NL"},
            "https://example.com/roles": ["x"],
        }));
        assert_eq!(
            ClaimPath::parse("custom:roles").unwrap().lookup(&c),
            Some(&json!("a|b"))
        );
        assert_eq!(
            ClaimPath::parse("address.country").unwrap().lookup(&c),
            Some(&json!("NL"))
        );
        assert_eq!(
            ClaimPath::parse(r"https://example\.com/roles")
                .unwrap()
                .lookup(&c),
            Some(&json!(["x"]))
        );
        assert_eq!(ClaimPath::parse("address.city").unwrap().lookup(&c), None);
        assert_eq!(ClaimPath::parse("custom:roles.x").unwrap().lookup(&c), None);
        for bad in ["", "a..b", ".a", "a.", r"a\b", "a\\"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_split_joined_and_stringified() {
        let c = claims(json!({
            "custom:roles": "authp/admin|authp/user",
            "cognito:groups": ["admins", "staff"],
            "n": 42,
            "b": true,
            "mixed": ["a|b", 1, {"x": 1}, null],
            "empty": "",
        }));
        let v = |m: HeaderMapping| m.value(&c).map(|h| h.to_str().unwrap().to_string());
        assert_eq!(
            v(mapping("custom:roles", Some("|"), ",")).as_deref(),
            Some("authp/admin,authp/user")
        );
        assert_eq!(
            v(mapping("custom:roles", None, ",")).as_deref(),
            Some("authp/admin|authp/user")
        );
        assert_eq!(
            v(mapping("cognito:groups", None, ";")).as_deref(),
            Some("admins;staff")
        );
        assert_eq!(v(mapping("n", None, ",")).as_deref(), Some("42"));
        assert_eq!(v(mapping("b", None, ",")).as_deref(), Some("true"));
        assert_eq!(
            v(mapping("mixed", Some("|"), ",")).as_deref(),
            Some("a,b,1")
        );
        assert_eq!(v(mapping("empty", None, ",")), None);
        // A list element holding the delimiter cannot smuggle in a second element.
        let c = claims(json!({"g": ["staff,admins", "users"], "r": "a,b|c", "name": "Doe, Jane"}));
        let v = |m: HeaderMapping| m.value(&c).map(|h| h.to_str().unwrap().to_string());
        assert_eq!(v(mapping("g", None, ",")).as_deref(), Some("users"));
        assert_eq!(v(mapping("r", Some("|"), ",")).as_deref(), Some("c"));
        assert_eq!(v(mapping("name", None, ",")).as_deref(), Some("Doe, Jane"));
        assert_eq!(v(mapping("absent", None, ",")), None);
    }

    #[test]
    fn unsafe_values_are_never_sent() {
        for bad in ["a\r\nX-Injected: 1", "a\nb", "a\0b", "tab\there", "del\x7f"] {
            let c = claims(json!({ "v": bad }));
            assert_eq!(mapping("v", None, ",").value(&c), None, "{bad:?}");
        }
        // Non-ASCII text is a legal header value and is passed as UTF-8.
        let c = claims(json!({ "v": "José" }));
        assert_eq!(
            mapping("v", None, ",").value(&c).unwrap().as_bytes(),
            "José".as_bytes()
        );
    }

    #[test]
    fn defaults_and_fallbacks() {
        let ids = IdentityHeaders::with_defaults(vec![]);
        let mut h = HeaderMap::new();
        ids.apply(
            &Claims::from(claims(
                json!({"sub": "u1", "email": "a@b.c", "email_verified": true, "preferred_username": "alice", "groups": ["g1", "g2"]}),
            )),
            &mut h,
        );
        assert_eq!(h["x-forwarded-user"], "u1");
        assert_eq!(h["x-forwarded-email"], "a@b.c");
        assert_eq!(h["x-forwarded-preferred-username"], "alice");
        assert_eq!(h["x-forwarded-groups"], "g1,g2");
        let mut h = HeaderMap::new();
        ids.apply(
            &Claims::from(claims(
                json!({"sub": "u1", "cognito:username": "bob", "preferred_username": "x"}),
            )),
            &mut h,
        );
        assert_eq!(h["x-forwarded-preferred-username"], "bob");
    }

    #[test]
    fn custom_mapping_replaces_default_of_same_name() {
        let mut m = mapping("email", None, ",");
        m.name = HeaderName::from_static("x-forwarded-user");
        let ids = IdentityHeaders::with_defaults(vec![m]);
        let mut h = HeaderMap::new();
        ids.apply(
            &Claims::from(claims(
                json!({"sub": "u1", "email": "a@b.c", "email_verified": true}),
            )),
            &mut h,
        );
        assert_eq!(h["x-forwarded-user"], "a@b.c");
    }

    #[test]
    fn rendered_headers_follow_the_mappings_in_force() {
        let identity = Claims::from(claims(
            json!({"sub": "u1", "email": "a@b.c", "email_verified": true}),
        ));
        let before = IdentityHeaders::with_defaults(vec![]);
        for _ in 0..2 {
            let mut h = HeaderMap::new();
            before.apply(&identity, &mut h);
            assert_eq!(h["x-forwarded-user"], "u1");
        }
        // A reload brings other mappings: the rendering kept for the old ones is not reused.
        let mut m = mapping("email", None, ",");
        m.name = HeaderName::from_static("x-forwarded-user");
        let after = IdentityHeaders::with_defaults(vec![m]);
        let mut h = HeaderMap::new();
        after.apply(&identity, &mut h);
        assert_eq!(h["x-forwarded-user"], "a@b.c");
    }

    #[test]
    fn only_verified_email_is_identity() {
        let email = |c: Value, trust| {
            Claims::new(claims(c), trust)
                .get("email")
                .map(|e| e.as_str().unwrap().to_string())
        };
        let strict = EmailTrust::VerifiedOnly;
        let lenient = EmailTrust::AssumeVerifiedWhenUnsaid;
        for (verified, want_strict, want_lenient) in [
            (json!(true), true, true),
            (json!("true"), true, true),
            (json!(false), false, false),
            (json!("false"), false, false),
            (json!("TRUE"), false, false),
            (json!(1), false, false),
            (Value::Null, false, false),
        ] {
            let c = json!({"sub": "u", "email": "a@b.c", "email_verified": verified});
            assert_eq!(email(c.clone(), strict).is_some(), want_strict, "{c}");
            assert_eq!(email(c.clone(), lenient).is_some(), want_lenient, "{c}");
        }
        let unsaid = json!({"sub": "u", "email": "a@b.c"});
        assert_eq!(email(unsaid.clone(), strict), None);
        assert_eq!(email(unsaid, lenient).as_deref(), Some("a@b.c"));
        // Nothing renders it either.
        let mut h = HeaderMap::new();
        IdentityHeaders::with_defaults(vec![]).apply(
            &Claims::from(claims(
                json!({"sub": "u", "email": "a@b.c", "email_verified": false}),
            )),
            &mut h,
        );
        assert!(h.get("x-forwarded-email").is_none());
        assert_eq!(h["x-forwarded-user"], "u");
    }

    #[test]
    fn strip_removes_every_spelling() {
        let mut custom = mapping("custom:roles", Some("|"), ",");
        custom.name = HeaderName::from_static("x-roles");
        let ids = IdentityHeaders::with_defaults(vec![custom]);
        let mut h = HeaderMap::new();
        for name in [
            "x-forwarded-user",
            "X-Forwarded-Email",
            "x_forwarded_user",
            "x.forwarded.groups",
            "X_FORWARDED-PREFERRED.USERNAME",
            "x_roles",
            "x-forwarded-host",
            "forwarded",
            "x_real_ip",
            "X-Auth-Request-User",
            "X-HTTP-Method-Override",
            "x_http_method",
            "X.Method.Override",
            "X-Original-URL",
            "x-original_uri",
            "X-REWRITE-URL",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("evil"),
            );
        }
        h.insert("x-other", HeaderValue::from_static("kept"));
        h.insert("x-forwarded-userx", HeaderValue::from_static("kept"));
        ids.strip(&mut h);
        let mut left: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["x-forwarded-userx", "x-other"]);
    }

    mod properties {
        use super::{claims, mapping};
        use proptest::prelude::*;
        use serde_json::json;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]

            /// Whatever a claim holds, a header value is sent only without control characters.
            #[test]
            fn header_values_never_carry_control_characters(
                values in proptest::collection::vec(any::<String>(), 1..4),
                split in prop_oneof![Just(None), Just(Some("|")), Just(Some(","))],
            ) {
                let c = claims(json!({ "v": values.clone(), "s": values.join("|") }));
                for claim in ["v", "s"] {
                    if let Some(value) = mapping(claim, split, ",").value(&c) {
                        prop_assert!(!value.as_bytes().iter().any(u8::is_ascii_control));
                    }
                }
            }
        }
    }
}
