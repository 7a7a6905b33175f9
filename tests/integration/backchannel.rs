//! Back-channel logout: valid logout tokens end the matching sessions; forged or malformed
//! ones end nothing.

use crate::common::issuer::TestKey;
use crate::common::redis::RedisServer;
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn logout_claims(issuer: &MockIssuer, sid: Option<&str>, sub: Option<&str>) -> Map<String, Value> {
    let mut c = json!({
        "iss": issuer.issuer_url(),
        "aud": CLIENT_ID,
        "iat": now(),
        "exp": now() + 120,
        "jti": format!("jti-{}", rand::random::<u64>()),
        "events": { EVENT: {} },
    });
    if let Some(sid) = sid {
        c["sid"] = json!(sid);
    }
    if let Some(sub) = sub {
        c["sub"] = json!(sub);
    }
    c.as_object().unwrap().clone()
}

fn sign(issuer: &MockIssuer, claims: &Map<String, Value>) -> String {
    MockIssuer::sign(&issuer.with(|s| s.signing.clone()), claims)
}

async fn post(gateway: &Gateway, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/oauth2/backchannel_logout", gateway.url))
        .form(&[("logout_token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn signed_in(gateway: &Gateway, cookies: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{}/api", gateway.url))
        .header("Cookie", cookies)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

struct Setup {
    _redis: RedisServer,
    issuer: MockIssuer,
    _upstream: MockUpstream,
    gateway: Gateway,
}

async fn setup() -> Setup {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    issuer.with(|s| {
        s.user.insert("sid".into(), json!("issuer-session-1"));
    });
    let upstream = MockUpstream::start().await;
    let session = format!("store = \"redis\"\nredis_url = \"{}\"", redis.url());
    let gateway = Gateway::start_with(&issuer, &upstream.url, "", &session).await;
    Setup {
        _redis: redis,
        issuer,
        _upstream: upstream,
        gateway,
    }
}

async fn new_session(gateway: &Gateway) -> String {
    let browser = Browser::new();
    sign_in(&browser, gateway).await;
    browser.cookies_for(&gateway.url)
}

#[tokio::test]
async fn logout_by_sid_ends_that_session() {
    let t = setup().await;
    let first = new_session(&t.gateway).await;
    t.issuer.with(|s| {
        s.user.insert("sid".into(), json!("issuer-session-2"));
    });
    let second = new_session(&t.gateway).await;
    let token = sign(
        &t.issuer,
        &logout_claims(&t.issuer, Some("issuer-session-1"), None),
    );
    assert_eq!(post(&t.gateway, &token).await, 200);
    assert!(!signed_in(&t.gateway, &first).await);
    assert!(
        signed_in(&t.gateway, &second).await,
        "another issuer session stays"
    );
    // The same token again is a replay.
    assert_eq!(post(&t.gateway, &token).await, 400);
}

#[tokio::test]
async fn logout_by_sub_ends_every_session_of_the_user() {
    let t = setup().await;
    let first = new_session(&t.gateway).await;
    let second = new_session(&t.gateway).await;
    let sub = "6f1c2a52-0000-4000-8000-000000000001";
    let token = sign(&t.issuer, &logout_claims(&t.issuer, None, Some(sub)));
    assert_eq!(post(&t.gateway, &token).await, 200);
    assert!(!signed_in(&t.gateway, &first).await);
    assert!(!signed_in(&t.gateway, &second).await);
}

#[tokio::test]
async fn forged_and_malformed_logout_tokens_end_nothing() {
    let t = setup().await;
    let cookies = new_session(&t.gateway).await;
    let sid = Some("issuer-session-1");
    let issuer = &t.issuer;
    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push((
        "attacker's key",
        MockIssuer::sign(
            &TestKey::fixture("attacker", "key-a"),
            &logout_claims(issuer, sid, None),
        ),
    ));
    let tweak = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = logout_claims(issuer, sid, None);
        f(&mut c);
        sign(issuer, &c)
    };
    cases.push((
        "wrong aud",
        tweak(&|c| {
            c.insert("aud".into(), json!("other-client"));
        }),
    ));
    cases.push((
        "wrong iss",
        tweak(&|c| {
            c.insert("iss".into(), json!("https://evil.example.com"));
        }),
    ));
    cases.push((
        "no events",
        tweak(&|c| {
            c.remove("events");
        }),
    ));
    cases.push((
        "other event",
        tweak(&|c| {
            c.insert("events".into(), json!({"urn:other": {}}));
        }),
    ));
    cases.push((
        "nonce",
        tweak(&|c| {
            c.insert("nonce".into(), json!("n"));
        }),
    ));
    cases.push((
        "no sid or sub",
        tweak(&|c| {
            c.remove("sid");
        }),
    ));
    cases.push((
        "no jti",
        tweak(&|c| {
            c.remove("jti");
        }),
    ));
    cases.push((
        "no iat",
        tweak(&|c| {
            c.remove("iat");
        }),
    ));
    cases.push((
        "old",
        tweak(&|c| {
            c.insert("iat".into(), json!(now() - 3600));
        }),
    ));
    cases.push((
        "expired",
        tweak(&|c| {
            c.insert("exp".into(), json!(now() - 600));
        }),
    ));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload =
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&logout_claims(issuer, sid, None)).unwrap());
    cases.push(("alg none", format!("{header}.{payload}.")));
    cases.push(("garbage", "garbage".into()));
    for (name, token) in &cases {
        assert_eq!(post(&t.gateway, token).await, 400, "{name}");
    }
    // No form field at all.
    let status = reqwest::Client::new()
        .post(format!("{}/oauth2/backchannel_logout", t.gateway.url))
        .body("x=1")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
    assert!(signed_in(&t.gateway, &cookies).await);
}

#[tokio::test]
async fn cookie_store_cannot_do_back_channel_logout() {
    let (issuer, _upstream, gateway) = stack().await;
    let token = sign(&issuer, &logout_claims(&issuer, None, Some("u")));
    assert_eq!(post(&gateway, &token).await, 501);
}
