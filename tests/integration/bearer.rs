//! API clients with bearer tokens: Cognito access tokens and ID tokens, scopes, other trusted
//! issuers, and every wrong kind of token refused with an RFC 6750 401 (never a redirect).

use crate::common::issuer::TestKey;
use crate::common::upstream::header;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

/// A Cognito access token's claims.
fn access_claims(issuer: &MockIssuer) -> Map<String, Value> {
    json!({
        "sub": "svc-7d1f",
        "iss": issuer.issuer_url(),
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "openid api/read",
        "auth_time": now(),
        "iat": now(),
        "exp": now() + 3600,
        "jti": "a-jti",
        "username": "report-bot",
        "cognito:groups": ["bots"],
    })
    .as_object()
    .unwrap()
    .clone()
}

fn sign(issuer: &MockIssuer, claims: &Map<String, Value>) -> String {
    MockIssuer::sign(&issuer.with(|s| s.signing.clone()), claims)
}

const BEARER: &str = r#"
[bearer]
enabled = true

[[rules]]
path = "/reports"
scopes = ["api/read"]

[[rules]]
path = "/admin"
groups = ["admins"]
"#;

async fn setup(extra: &str) -> (MockIssuer, MockUpstream, Gateway) {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start_with(&issuer, &upstream.url, "", extra).await;
    (issuer, upstream, gateway)
}

async fn call(gateway: &Gateway, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", gateway.url))
        .header("Authorization", format!("Bearer {token}"))
        // A browser-like Accept must still get 401, not a redirect.
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cognito_access_tokens_are_accepted_without_a_session() {
    let (issuer, _upstream, gateway) = setup(BEARER).await;
    let token = sign(&issuer, &access_claims(&issuer));
    let response = call(&gateway, "/reports/q3", &token).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "no cookie for API clients"
    );
    let echo: Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "x-forwarded-user"), Some("svc-7d1f"));
    assert_eq!(
        header(&echo, "x-forwarded-preferred-username"),
        Some("report-bot")
    );
    assert_eq!(header(&echo, "x-forwarded-groups"), Some("bots"));
    // The client's own Authorization header goes on to the app.
    assert!(
        header(&echo, "authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    // userinfo describes the token.
    let info: Value = call(&gateway, "/oauth2/userinfo", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"], "svc-7d1f");
}

#[tokio::test]
async fn id_tokens_are_accepted_too() {
    let (issuer, _upstream, gateway) = setup(BEARER).await;
    let mut claims = access_claims(&issuer);
    claims.remove("client_id");
    claims.remove("scope");
    claims.insert("token_use".into(), json!("id"));
    claims.insert("aud".into(), json!(CLIENT_ID));
    claims.insert("email".into(), json!("bot@example.com"));
    claims.insert("email_verified".into(), json!(true));
    let response = call(&gateway, "/", &sign(&issuer, &claims)).await;
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "x-forwarded-email"), Some("bot@example.com"));
    // An email the token does not vouch for is no identity.
    for verified in [json!(false), json!("false"), Value::Null] {
        claims.insert("email_verified".into(), verified.clone());
        if verified.is_null() {
            claims.remove("email_verified");
        }
        let response = call(&gateway, "/", &sign(&issuer, &claims)).await;
        assert_eq!(response.status(), 200);
        let echo: Value = response.json().await.unwrap();
        assert_eq!(header(&echo, "x-forwarded-email"), None, "{verified}");
    }
}

#[tokio::test]
async fn empty_bearer_tokens_get_401_not_a_sign_in() {
    let (_issuer, upstream, gateway) = setup(BEARER).await;
    // `-H "Authorization: Bearer $TOKEN"` with TOKEN unset, as curl and scripts send it.
    for value in ["Bearer", "Bearer ", "Bearer    ", "bearer \t"] {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}/", gateway.url))
            .header("Authorization", value)
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{value:?}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
    // Credentials of another scheme are not the gateway's to judge, but a client that sends
    // any is not a browser to send to a sign-in page either.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/", gateway.url))
        .header("Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn tokens_without_a_subject_or_of_another_kind_are_refused() {
    let (issuer, upstream, gateway) = setup(BEARER).await;
    for sub in [json!(""), json!(42), Value::Null] {
        let mut claims = access_claims(&issuer);
        claims.insert("sub".into(), sub.clone());
        if sub.is_null() {
            claims.remove("sub");
        }
        let response = call(&gateway, "/", &sign(&issuer, &claims)).await;
        assert_eq!(response.status(), 401, "sub {sub}");
    }
    // A back-channel logout token: same issuer, same client, but a security event, not a user.
    let mut logout = Map::new();
    for (k, v) in [
        ("iss", json!(issuer.issuer_url())),
        ("aud", json!(CLIENT_ID)),
        ("sub", json!("user-1")),
        ("iat", json!(now())),
        ("exp", json!(now() + 120)),
        ("jti", json!("logout-1")),
        (
            "events",
            json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        ),
    ] {
        logout.insert(k.into(), v);
    }
    let response = call(&gateway, "/", &sign(&issuer, &logout)).await;
    assert_eq!(response.status(), 401, "logout token as bearer");
    // The same claims under a logout token's `typ` are refused for that alone.
    logout.remove("events");
    let key = issuer.with(|s| s.signing.clone());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("logout+jwt".into());
    let token = jsonwebtoken::encode(&header, &logout, &key.encoding).unwrap();
    assert_eq!(call(&gateway, "/", &token).await.status(), 401, "typ");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn scopes_are_checked_against_rules() {
    let (issuer, upstream, gateway) = setup(BEARER).await;
    let mut claims = access_claims(&issuer);
    claims.insert("scope".into(), json!("openid"));
    let response = call(&gateway, "/reports", &sign(&issuer, &claims)).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    // Group rules apply to tokens as to sessions.
    let response = call(&gateway, "/admin", &sign(&issuer, &access_claims(&issuer))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn every_wrong_kind_of_token_gets_401() {
    let (issuer, upstream, gateway) = setup(BEARER).await;
    let tweak = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = access_claims(&issuer);
        f(&mut c);
        sign(&issuer, &c)
    };
    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("key-a".into());
        jsonwebtoken::encode(
            &h,
            &access_claims(&issuer),
            &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&access_claims(&issuer)).unwrap())
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            tweak(&|c| {
                c.insert("exp".into(), json!(now() - 600));
            }),
        ),
        (
            "no exp",
            tweak(&|c| {
                c.remove("exp");
            }),
        ),
        (
            "other client",
            tweak(&|c| {
                c.insert("client_id".into(), json!("another-client"));
            }),
        ),
        (
            "no client_id",
            tweak(&|c| {
                c.remove("client_id");
            }),
        ),
        (
            "refresh token_use",
            tweak(&|c| {
                c.insert("token_use".into(), json!("refresh"));
            }),
        ),
        (
            "id token for another client",
            tweak(&|c| {
                c.insert("token_use".into(), json!("id"));
                c.insert("aud".into(), json!("another-client"));
            }),
        ),
        (
            "untrusted issuer",
            tweak(&|c| {
                c.insert("iss".into(), json!("https://evil.example.com"));
            }),
        ),
        (
            "nonce on an access token",
            tweak(&|c| {
                c.insert("nonce".into(), json!("n"));
            }),
        ),
        (
            "future iat",
            tweak(&|c| {
                c.insert("iat".into(), json!(now() + 600));
            }),
        ),
        (
            "forged",
            MockIssuer::sign(
                &TestKey::fixture("attacker", "key-a"),
                &access_claims(&issuer),
            ),
        ),
        (
            "unknown key",
            MockIssuer::sign(
                &TestKey::fixture("attacker", "key-x"),
                &access_claims(&issuer),
            ),
        ),
        ("HS256", hs256),
        ("alg none", none),
        ("garbage", "not-a-jwt".into()),
        ("huge", "a".repeat(20_000)),
    ];
    for (name, token) in cases {
        let response = call(&gateway, "/", &token).await;
        assert_eq!(response.status(), 401, "{name}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{name}: {challenge}"
        );
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn other_trusted_issuers() {
    let other = MockIssuer::start().await;
    let extra = format!(
        "{BEARER}\n[[bearer.trusted_issuers]]\nissuer = \"{}\"\naudience = \"api://portcullis\"\n",
        other.issuer_url()
    );
    let (_issuer, _upstream, gateway) = setup(&extra).await;
    let mut claims = access_claims(&other);
    claims.remove("client_id");
    claims.remove("token_use");
    claims.insert("aud".into(), json!("api://portcullis"));
    // Discovery of the trusted issuer runs in the background.
    let token = sign(&other, &claims);
    eventually("the trusted issuer to be discovered", || async {
        call(&gateway, "/", &token).await.status() == 200
    })
    .await;
    claims.insert("aud".into(), json!("api://something-else"));
    assert_eq!(
        call(&gateway, "/", &sign(&other, &claims)).await.status(),
        401
    );
}

#[tokio::test]
async fn without_bearer_enabled_the_header_is_not_a_credential() {
    let (issuer, upstream, gateway) = setup("").await;
    let token = sign(&issuer, &access_claims(&issuer));
    let response = reqwest::Client::new()
        .get(format!("{}/", gateway.url))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn cached_tokens_are_verified_again_after_the_keys_change() {
    let (issuer, _upstream, gateway) = setup(BEARER).await;
    let token = sign(&issuer, &access_claims(&issuer));
    assert_eq!(call(&gateway, "/", &token).await.status(), 200);
    // The pool rotates: a token signed with the new key makes the gateway refetch the JWKS.
    let b = TestKey::fixture("issuer-b", "key-b");
    issuer.with(|s| s.published.push(b.clone()));
    let rotated = MockIssuer::sign(&b, &access_claims(&issuer));
    assert_eq!(call(&gateway, "/", &rotated).await.status(), 200);
    // The first token, cached under the old keys, is checked again with the new ones (its key
    // is still published), not refused for having been verified before.
    assert_eq!(call(&gateway, "/", &token).await.status(), 200);
    assert_eq!(issuer.with(|s| s.jwks_hits), 2);
}
