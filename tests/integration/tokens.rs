//! ID token validation: every rule rejects a crafted token at the callback, with a 4xx page, no
//! session and nothing sent upstream.

use crate::common::issuer::TestKey;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

/// Walks a sign-in whose ID token `tamper` changes, and checks it is refused cleanly.
async fn assert_rejected(
    name: &str,
    tamper: impl FnOnce(&mut Header, &mut Map<String, Value>) -> Option<String> + Send + 'static,
) {
    let (issuer, upstream, gateway) = stack().await;
    issuer.tamper(tamper);
    let browser = Browser::new();
    let (response, hops) = browser.walk(&format!("{}/", gateway.url)).await;
    let status = response.status().as_u16();
    assert!(
        (400..500).contains(&status),
        "{name}: status {status}, {hops:#?}"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("Sign in again"), "{name}: {body}");
    assert_eq!(upstream.hits(), 0, "{name}: reached the upstream");
    assert!(
        !browser
            .cookies_for(&gateway.url)
            .split("; ")
            .any(|c| c.starts_with("portcullis=")),
        "{name}: a session cookie was set"
    );
    // The browser is still not signed in.
    let again = browser.get(&format!("{}/", gateway.url)).await;
    assert_eq!(again.status(), 302, "{name}");
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn wrong_issuer() {
    assert_rejected("iss", |_, c| {
        c.insert(
            "iss".into(),
            json!("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"),
        );
        None
    })
    .await;
}

#[tokio::test]
async fn wrong_audience() {
    assert_rejected("aud", |_, c| {
        c.insert("aud".into(), json!("another-client"));
        None
    })
    .await;
}

#[tokio::test]
async fn missing_audience() {
    assert_rejected("no aud", |_, c| {
        c.remove("aud");
        None
    })
    .await;
}

#[tokio::test]
async fn azp_of_another_party() {
    assert_rejected("azp", |_, c| {
        c.insert("aud".into(), json!([CLIENT_ID, "another-client"]));
        c.insert("azp".into(), json!("another-client"));
        None
    })
    .await;
}

#[tokio::test]
async fn expired() {
    assert_rejected("exp", |_, c| {
        c.insert("exp".into(), json!(now() - 600));
        None
    })
    .await;
}

#[tokio::test]
async fn missing_expiry() {
    assert_rejected("no exp", |_, c| {
        c.remove("exp");
        None
    })
    .await;
}

#[tokio::test]
async fn issued_in_the_future() {
    assert_rejected("iat", |_, c| {
        c.insert("iat".into(), json!(now() + 600));
        None
    })
    .await;
}

#[tokio::test]
async fn nonce_mismatch() {
    assert_rejected("nonce", |_, c| {
        c.insert("nonce".into(), json!("a-nonce-from-another-login"));
        None
    })
    .await;
}

#[tokio::test]
async fn nonce_missing() {
    assert_rejected("no nonce", |_, c| {
        c.remove("nonce");
        None
    })
    .await;
}

#[tokio::test]
async fn access_token_instead_of_id_token() {
    assert_rejected("token_use", |_, c| {
        c.insert("token_use".into(), json!("access"));
        None
    })
    .await;
}

#[tokio::test]
async fn subject_missing() {
    assert_rejected("sub", |_, c| {
        c.remove("sub");
        None
    })
    .await;
}

#[tokio::test]
async fn alg_none() {
    assert_rejected("none", |_, c| {
        let header = json!({"alg": "none", "typ": "JWT", "kid": "key-a"});
        Some(format!("{}.{}.", b64(&header), b64(&json!(c))))
    })
    .await;
}

#[tokio::test]
async fn hmac_signed_with_the_client_secret() {
    assert_rejected("HS256", |_, c| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-a".into());
        Some(
            jsonwebtoken::encode(
                &header,
                c,
                &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .unwrap(),
        )
    })
    .await;
}

#[tokio::test]
async fn algorithm_outside_the_allow_list() {
    assert_rejected("RS384", |_, c| {
        let key = TestKey::fixture("issuer-a", "key-a");
        let mut header = Header::new(Algorithm::RS384);
        header.kid = Some("key-a".into());
        Some(jsonwebtoken::encode(&header, c, &key.encoding).unwrap())
    })
    .await;
}

#[tokio::test]
async fn forged_signature_with_a_known_kid() {
    assert_rejected("signature", |_, c| {
        Some(crate::common::MockIssuer::sign(
            &TestKey::fixture("attacker", "key-a"),
            c,
        ))
    })
    .await;
}

#[tokio::test]
async fn garbage_token() {
    assert_rejected("garbage", |_, _| Some("not.a.jwt".into())).await;
}

#[tokio::test]
async fn kid_less_token_needs_a_single_key() {
    // Accepted while the JWKS holds one key...
    let (issuer, upstream, gateway) = stack().await;
    issuer.tamper(|h, _| {
        h.kid = None;
        None
    });
    sign_in(&Browser::new(), &gateway).await;
    assert_eq!(upstream.hits(), 1);

    // ...refused once it holds two (and no refetch can help).
    let (issuer, upstream, gateway) = stack().await;
    issuer.with(|s| s.published.push(TestKey::fixture("issuer-b", "key-b")));
    let gateway2 = Gateway::start(&issuer, &upstream.url).await;
    drop(gateway);
    issuer.tamper(|h, _| {
        h.kid = None;
        None
    });
    let (response, _) = Browser::new().walk(&format!("{}/", gateway2.url)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn unknown_kid_refetches_the_jwks_at_most_once_per_cooldown() {
    let (issuer, upstream, gateway) = stack().await;
    assert_eq!(issuer.with(|s| s.jwks_hits), 1);
    for _ in 0..3 {
        issuer.tamper(|_, c| {
            Some(crate::common::MockIssuer::sign(
                &TestKey::fixture("attacker", "key-evil"),
                c,
            ))
        });
        let (response, _) = Browser::new().walk(&format!("{}/", gateway.url)).await;
        assert_eq!(response.status(), 403);
    }
    // One refetch for the first unknown kid, none for the next ones within 10 s.
    assert_eq!(issuer.with(|s| s.jwks_hits), 2);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn key_rotation_at_the_issuer() {
    let (issuer, upstream, gateway) = stack().await;
    sign_in(&Browser::new(), &gateway).await;
    // The pool rotates: a new key signs, both are published.
    issuer.with(|s| {
        let b = TestKey::fixture("issuer-b", "key-b");
        s.published.push(b.clone());
        s.signing = b;
    });
    let echo = sign_in(&Browser::new(), &gateway).await;
    assert_eq!(echo["headers"]["x-forwarded-email"][0], "alice@example.com");
    assert_eq!(issuer.with(|s| s.jwks_hits), 2);
    assert_eq!(upstream.hits(), 2);
}
