//! Signed identity assertions, verified as an app would: with a JWT library (jsonwebtoken, not
//! the gateway's signing code) and the JWKS the gateway serves. `aud` per route, the claims,
//! `exp - iat`, spoofed copies stripped, two replicas that share only `session.secret`, and a
//! rotated key still published.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::common::upstream::header;
use crate::common::*;

const HEADER: &str = "x-portcullis-assertion";

/// Two routes: the main app (its audience by default: its upstream's origin) and a wiki under
/// `/wiki` with an audience of its own; `assertion` is the `[assertion]` section.
fn apps(upstream: &str, assertion: &str) -> String {
    format!(
        r#"
[[routes]]
name = "main"
upstream = "{upstream}"
rules = [{{ path = "/open", public = true }}]

[[routes]]
name = "wiki"
path = "/wiki"
upstream = "{upstream}"
audience = "https://wiki.internal"

{assertion}
"#
    )
}

/// A gateway with `assertion`, in front of `upstream`, signing in at `issuer`; `secret` for its
/// session.
async fn gateway(issuer: &MockIssuer, upstream: &MockUpstream, assertion: &str) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = config_for(&url, issuer, &apps(&upstream.url, assertion), "", "");
    let gateway = Gateway::serve(listener, &toml);
    gateway.wait_ready().await;
    gateway
}

async fn jwks(gateway: &Gateway) -> JwkSet {
    let response = reqwest::get(format!("{}/.well-known/portcullis/jwks.json", gateway.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json().await.unwrap()
}

/// Verifies `token` as an app would: the key its `kid` names in `keys`, ES256 only, this issuer
/// and this audience.
fn verify(token: &str, keys: &JwkSet, issuer: &str, audience: &str) -> Result<Value, String> {
    let kid = jsonwebtoken::decode_header(token)
        .map_err(|e| e.to_string())?
        .kid
        .ok_or("no kid")?;
    let jwk = keys.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_app_gets_an_assertion_for_it_alone() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(
        &issuer,
        &upstream,
        "[assertion]\nenabled = true\nlifetime = \"2m\"",
    )
    .await;
    let keys = jwks(&gateway).await;
    assert_eq!(keys.keys.len(), 1);
    let browser = Browser::new();
    let echo = sign_in(&browser, &gateway).await;
    let main = header(&echo, HEADER).unwrap().to_string();
    let claims = verify(&main, &keys, &gateway.url, &upstream.url).unwrap();
    assert_eq!(claims["sub"], "6f1c2a52-0000-4000-8000-000000000001");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], serde_json::json!(["admins", "staff"]));
    assert_eq!(
        claims["roles"],
        serde_json::json!(["admins", "staff", "authp/admin", "authp/user"])
    );
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 120);

    // The wiki's assertion is for the wiki: the main app's audience refuses it, and the other
    // way round.
    let wiki: Value = browser
        .get(&format!("{}/wiki/page", gateway.url))
        .await
        .json()
        .await
        .unwrap();
    let wiki = header(&wiki, HEADER).unwrap().to_string();
    assert!(verify(&wiki, &keys, &gateway.url, "https://wiki.internal").is_ok());
    assert!(verify(&wiki, &keys, &gateway.url, &upstream.url).is_err());
    assert!(verify(&main, &keys, &gateway.url, "https://wiki.internal").is_err());
    // Another issuer's name, a tampered payload: refused.
    assert!(verify(&main, &keys, "https://elsewhere.example", &upstream.url).is_err());
    let mut parts: Vec<String> = main.split('.').map(str::to_string).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    assert!(verify(&parts.join("."), &keys, &gateway.url, &upstream.url).is_err());

    // The next request gets the same assertion: made once, not on every request.
    let again: Value = browser
        .get(&format!("{}/x", gateway.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(header(&again, HEADER), Some(main.as_str()));
}

#[tokio::test]
async fn a_clients_copy_of_the_assertion_never_reaches_the_app() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(
        &issuer,
        &upstream,
        "[assertion]\nenabled = true\nheader = \"X-Identity-Assertion\"",
    )
    .await;
    // Nobody signed in, on a public path: no assertion, and no forged one either, in any
    // spelling.
    let echo: Value = json(
        reqwest::Client::new()
            .get(format!("{}/open", gateway.url))
            .header("X-Identity-Assertion", "forged")
            .header("x_identity_assertion", "forged"),
    )
    .await;
    let headers = echo["headers"].as_object().unwrap();
    assert!(
        !headers.keys().any(|k| k.contains("identity")),
        "{headers:?}"
    );
    // Signed in: exactly one, the gateway's.
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let echo: Value = json(
        browser
            .client
            .get(format!("{}/x", gateway.url))
            .header("X-Identity-Assertion", "forged"),
    )
    .await;
    let assertion = header(&echo, "x-identity-assertion").unwrap();
    assert!(
        verify(
            assertion,
            &jwks(&gateway).await,
            &gateway.url,
            &upstream.url
        )
        .is_ok()
    );
}

#[tokio::test]
async fn replicas_sharing_the_session_secret_sign_with_one_key() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let assertion = "[assertion]\nenabled = true";
    let (a, b) = (
        gateway(&issuer, &upstream, assertion).await,
        gateway(&issuer, &upstream, assertion).await,
    );
    let keys = jwks(&a).await;
    assert_eq!(
        serde_json::to_value(&keys).unwrap(),
        serde_json::to_value(jwks(&b).await).unwrap()
    );
    let browser = Browser::new();
    let echo = sign_in(&browser, &b).await;
    // Signed by replica b, verified with replica a's JWKS (the issuer is b's public URL).
    assert!(verify(header(&echo, HEADER).unwrap(), &keys, &b.url, &upstream.url).is_ok());
}

/// A P-256 private key in PKCS#8 PEM, written to a file of its own.
fn key_file(name: &str, seed: u8) -> PathBuf {
    let secret = p256::SecretKey::from_bytes(&[seed; 32].into()).unwrap();
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let dir = std::env::temp_dir().join(format!("portcullis-assertion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, pem.as_bytes()).unwrap();
    path
}

#[tokio::test]
async fn a_rotated_key_is_still_published() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let (old, new) = (key_file("old.pem", 3), key_file("new.pem", 4));
    let before = gateway(
        &issuer,
        &upstream,
        &format!(
            "[assertion]\nenabled = true\nsigning_key_file = \"{}\"",
            old.display()
        ),
    )
    .await;
    let browser = Browser::new();
    let echo = sign_in(&browser, &before).await;
    let signed_before = header(&echo, HEADER).unwrap().to_string();
    let after = gateway(
        &issuer,
        &upstream,
        &format!(
            "[assertion]\nenabled = true\nsigning_key_file = \"{}\"\nprevious_key_files = [\"{}\"]",
            new.display(),
            old.display()
        ),
    )
    .await;
    let keys = jwks(&after).await;
    assert_eq!(keys.keys.len(), 2);
    // What the old key signed still verifies with the new JWKS; what the new one signs names
    // the new key.
    assert!(verify(&signed_before, &keys, &before.url, &upstream.url).is_ok());
    let echo = sign_in(&Browser::new(), &after).await;
    let signed_after = header(&echo, HEADER).unwrap();
    let kid = jsonwebtoken::decode_header(signed_after)
        .unwrap()
        .kid
        .unwrap();
    assert_eq!(kid, keys.keys[0].common.key_id.clone().unwrap());
    assert_ne!(
        kid,
        jsonwebtoken::decode_header(&signed_before)
            .unwrap()
            .kid
            .unwrap()
    );
    assert!(verify(signed_after, &keys, &after.url, &upstream.url).is_ok());
}

#[tokio::test]
async fn forward_auth_answers_and_bearer_requests_carry_assertions_too() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(
        &issuer,
        &upstream,
        "[assertion]\nenabled = true\n\n[bearer]\nenabled = true",
    )
    .await;
    let keys = jwks(&gateway).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    // The proxy in front asks about /wiki/page: the answer carries the wiki's assertion, for
    // the proxy to pass on.
    let answer = browser
        .client
        .get(format!("{}/oauth2/auth", gateway.url))
        .header("X-Forwarded-Uri", "/wiki/page")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let assertion = answer.headers()[HEADER].to_str().unwrap();
    assert!(verify(assertion, &keys, &gateway.url, "https://wiki.internal").is_ok());
    // An API client with a bearer token (an ID token of the gateway's client) gets one for its
    // token's identity.
    let id_token = issuer.with(|s| {
        let mut claims = s.user.clone();
        for (k, v) in [
            ("iss", serde_json::json!(format!("{}", issuer.issuer_url()))),
            ("aud", serde_json::json!(CLIENT_ID)),
            ("token_use", serde_json::json!("id")),
            ("iat", serde_json::json!(now())),
            ("exp", serde_json::json!(now() + 600)),
        ] {
            claims.insert(k.into(), v);
        }
        MockIssuer::sign(&s.signing, &claims)
    });
    let echo: Value = json(
        reqwest::Client::new()
            .get(format!("{}/api", gateway.url))
            .bearer_auth(&id_token),
    )
    .await;
    let claims = verify(
        header(&echo, HEADER).unwrap(),
        &keys,
        &gateway.url,
        &upstream.url,
    )
    .unwrap();
    assert_eq!(claims["sub"], "6f1c2a52-0000-4000-8000-000000000001");
    // Never past the token's own expiry.
    assert!(claims["exp"].as_u64().unwrap() <= now() + 600);
}
