//! Micro-benchmarks of the work portcullis adds to every request (`cargo bench`):
//! opening a session cookie, mapping claims to headers, matching paths against rules, and
//! validating a bearer token with a warm JWKS cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use base64::Engine;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis::config::from_toml_str;
use portcullis::oidc::{Audience, Issuer, KeyStore, Metadata, Provider, now_secs};
use portcullis::policy::CanonicalPath;
use portcullis::session::{Codec, Session, Sessions};
use serde_json::{Map, Value, json};

const CONFIG: &str = r#"
[server]
public_url = "https://app.example.com"
[upstream]
url = "http://127.0.0.1:8080"
[oidc]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
client_id = "3n4b5c6d7e8f9g0h1i2j3k4l5m"
[session]
secret = "0123456789abcdef0123456789abcdef0123456789abcdef"
[[headers]]
name = "X-Forwarded-Roles"
claim = "custom:roles"
split = "|"
[[rules]]
path = "/health"
public = true
[[rules]]
path = "/admin"
groups = ["admins"]
[[rules]]
path = "/reports/**/export"
roles = ["authp/reports"]
[[rules]]
path = "/api/*/items"
methods = ["POST", "DELETE"]
groups = ["writers"]
[[rules]]
path = "/billing"
claims = { "custom:tier" = ["gold"] }
"#;

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz";

/// A Cognito ID token's claims with twelve groups and custom:roles.
fn claims() -> Map<String, Value> {
    json!({
        "sub": "6f1c2a52-9e4f-4a6e-8d0b-3f1a2b3c4d5e",
        "iss": ISSUER,
        "aud": "3n4b5c6d7e8f9g0h1i2j3k4l5m",
        "token_use": "id",
        "cognito:username": "alice",
        "email": "alice@example.com",
        "email_verified": true,
        "cognito:groups": ["admins", "staff", "engineering", "platform-team", "on-call",
            "release-managers", "eu-west-1-operators", "billing-readers", "support-tier-2",
            "security-reviewers", "data-analysts", "feature-flags-editors"],
        "custom:roles": "authp/admin|authp/user|authp/reports",
        "custom:tier": "gold",
        "iat": now_secs(),
        "auth_time": now_secs(),
        "exp": now_secs() + 3600,
    })
    .as_object()
    .unwrap()
    .clone()
}

fn signing_key() -> (EncodingKey, Value) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let pem = std::fs::read(format!("{dir}/issuer-a.pem")).unwrap();
    let params: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/jwk-params.json")).unwrap())
            .unwrap();
    let jwk = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
        "n": params["issuer-a"]["n"], "e": params["issuer-a"]["e"]});
    (EncodingKey::from_rsa_pem(&pem).unwrap(), jwk)
}

fn sign(key: &EncodingKey, claims: &Map<String, Value>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn session_cookie(c: &mut Criterion) {
    let settings = from_toml_str(CONFIG).unwrap();
    let sessions = Sessions::new(
        &settings.session,
        settings.server.secure_cookies(),
        settings.oidc.email_trust,
    )
    .unwrap();
    let (key, _) = signing_key();
    let claims = claims();
    let mut session = Session::new(
        sign(&key, &claims),
        claims.into(),
        // A refresh token of Cognito's size and shape: a JWE of five base64url segments.
        Some(
            [
                &b"{\"alg\":\"RSA-OAEP\"}"[..],
                &[1; 256],
                &[2; 12],
                &[3; 1000],
                &[4; 16],
            ]
            .map(|part| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(part))
            .join("."),
        ),
        std::time::Duration::from_secs(43200),
        now_secs(),
    );
    let set = sessions
        .save(&mut session, &HeaderMap::new(), now_secs())
        .now_or_never()
        .unwrap()
        .unwrap();
    let cookie: Vec<&str> = set
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap())
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        HeaderValue::from_str(&cookie.join("; ")).unwrap(),
    );
    c.bench_function("session: load from cookie (cached)", |b| {
        b.iter(|| {
            sessions
                .load(black_box(&headers), now_secs())
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    // The first sight of a cookie: decrypt and decode.
    let codec = Codec::new(b"0123456789abcdef0123456789abcdef", "bench");
    let plain = session.to_stored();
    let sealed = codec.seal("__Host-portcullis", &plain);
    c.bench_function("session: open sealed cookie (uncached)", |b| {
        b.iter(|| {
            let plain = codec.open("__Host-portcullis", black_box(&sealed)).unwrap();
            Session::from_stored(&plain, Default::default()).unwrap()
        })
    });
}

fn header_mapping(c: &mut Criterion) {
    let settings = from_toml_str(CONFIG).unwrap();
    // Rendered on the first iteration and kept with the claims, as for a cached session.
    let claims = portcullis::identity::Claims::from(claims());
    let mut incoming = HeaderMap::new();
    for (k, v) in [
        ("host", "app.example.com"),
        ("accept", "text/html"),
        ("x-forwarded-user", "mallory"),
        ("user-agent", "Mozilla/5.0"),
        ("accept-language", "en"),
        ("x_forwarded_groups", "admins"),
    ] {
        incoming.insert(
            http::HeaderName::from_static(k),
            HeaderValue::from_static(v),
        );
    }
    c.bench_function(
        "identity: strip client copies and set rendered headers",
        |b| {
            b.iter(|| {
                let mut headers = incoming.clone();
                settings.identity.strip(&mut headers);
                settings.identity.apply(black_box(&claims), &mut headers);
                headers
            })
        },
    );
}

fn rule_matching(c: &mut Criterion) {
    let settings = from_toml_str(CONFIG).unwrap();
    let policy = &settings.routes[0].policy;
    let claims = portcullis::identity::Claims::from(claims());
    let who = portcullis::policy::Principal {
        claims: &claims,
        scopes: None,
    };
    c.bench_function("policy: canonicalise path and match 5 rules", |b| {
        b.iter(|| {
            let path = CanonicalPath::parse(black_box("/reports/2026/q3/../q4/export")).unwrap();
            match policy.requirement(&Method::GET, &path) {
                portcullis::policy::Requirement::Protected(rule) => {
                    policy.authorize(rule, &who).is_ok()
                }
                _ => false,
            }
        })
    });
}

fn bearer_validation(c: &mut Criterion) {
    let settings = from_toml_str(CONFIG).unwrap();
    let issuer = Issuer::new(settings.oidc.clone()).unwrap();
    let (key, jwk) = signing_key();
    let metadata: Metadata = serde_json::from_value(json!({
        "issuer": ISSUER,
        "authorization_endpoint": "https://auth.example.com/oauth2/authorize",
        "token_endpoint": "https://auth.example.com/oauth2/token",
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
    }))
    .unwrap();
    let keys = KeyStore::from_document(
        issuer.http().clone(),
        metadata.jwks_uri.clone(),
        json!({"keys": [jwk]}),
    )
    .unwrap();
    let provider = Provider { metadata, keys };
    let mut access = claims();
    access.remove("aud");
    access.insert("token_use".into(), json!("access"));
    access.insert("client_id".into(), json!("3n4b5c6d7e8f9g0h1i2j3k4l5m"));
    access.insert("scope".into(), json!("openid api/read"));
    let token = sign(&key, &access);
    let ids = vec!["3n4b5c6d7e8f9g0h1i2j3k4l5m".to_string()];
    c.bench_function("bearer: validate RS256 access token (warm JWKS)", |b| {
        b.iter(|| {
            issuer
                .validate_bearer(&provider, black_box(&token), Audience::ClientIds(&ids))
                .now_or_never()
                .unwrap()
                .unwrap()
        })
    });
    // The lookup the gateway does before verifying: the cache keyed by the token's text (the
    // value type does not change the cost of a hit).
    let value = Session::new(
        token.clone(),
        access.into(),
        None,
        std::time::Duration::from_secs(60),
        now_secs(),
    );
    let cache = portcullis::cache::VerifiedCache::new(1 << 20);
    cache.insert(token.as_bytes(), std::sync::Arc::new(value));
    c.bench_function("bearer: verified-token cache hit", |b| {
        b.iter(|| cache.get(black_box(token.as_bytes())).unwrap())
    });
}

/// `n` routes, hosts and prefixes mixed as a gateway in front of many apps has them: a third on
/// hosts of their own, a third under a wildcard, a third by path on the main host.
fn routes_config(n: usize) -> String {
    let mut out = format!(
        r#"
[server]
public_url = "https://app.example.com"
[oidc]
issuer = "{ISSUER}"
client_id = "3n4b5c6d7e8f9g0h1i2j3k4l5m"
[session]
secret = "0123456789abcdef0123456789abcdef0123456789abcdef"
cookie_domain = "example.com"
"#
    );
    for i in 0..n {
        let (host, path) = match i % 3 {
            0 => (format!("host = \"app{i}.example.com\"\n"), "/".to_string()),
            1 => (
                format!("host = \"*.team{i}.example.com\"\n"),
                format!("/area{i}"),
            ),
            _ => (String::new(), format!("/app{i}")),
        };
        out.push_str(&format!(
            "[[routes]]\nname = \"r{i}\"\n{host}path = \"{path}\"\nupstream = \"http://127.0.0.1:{}\"\nrules = [{{ path = \"/admin\", groups = [\"admins\"] }}]\n",
            8000 + i
        ));
    }
    out
}

fn routing(c: &mut Criterion) {
    use portcullis::identity::IdentityHeaders;
    use portcullis::route::{Routes, route_name};
    for n in [1, 50] {
        let settings = from_toml_str(&routes_config(n)).unwrap();
        let routes = Routes::new(
            &settings.routes,
            &IdentityHeaders::with_defaults(Vec::new()),
            &[],
            std::time::Duration::from_secs(60),
            "https",
        );
        // The last route of the kind most lookups take: a host of its own.
        let host = format!("APP{}.example.com:443", (n - 1) / 3 * 3);
        c.bench_function(&format!("route: choose among {n} routes"), |b| {
            b.iter(|| {
                let path = CanonicalPath::parse(black_box("/reports/2026/q4/export")).unwrap();
                let name = route_name(black_box(&host));
                routes.choose(&name, &path).map(|r| r.name.len())
            })
        });
    }
}

criterion_group!(
    hot_path,
    session_cookie,
    header_mapping,
    rule_matching,
    routing,
    bearer_validation
);
criterion_main!(hot_path);
