//! The Redis session store against a real `redis-server`: replicas sharing sessions, nothing
//! readable in Redis, Redis going away and coming back, refresh across replicas.

use crate::common::redis::RedisServer;
use crate::common::upstream::header;
use crate::common::*;

fn redis_config(redis: &RedisServer) -> String {
    format!("store = \"redis\"\nredis_url = \"{}\"", redis.url())
}

async fn replica(issuer: &MockIssuer, upstream: &MockUpstream, redis: &RedisServer) -> Gateway {
    Gateway::start_with(issuer, &upstream.url, "", &redis_config(redis)).await
}

async fn api_status(gateway: &Gateway, cookies: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/api", gateway.url))
        .header("Cookie", cookies)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn replicas_share_sessions_and_sign_out_everywhere() {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let a = replica(&issuer, &upstream, &redis).await;
    let b = replica(&issuer, &upstream, &redis).await;

    // Sign in through A...
    let browser = Browser::new();
    sign_in(&browser, &a).await;
    let cookies = browser.cookies_for(&a.url);
    // ...the cookie is a small ticket, not the session...
    assert!(cookies.len() < 300, "{cookies}");
    // ...and B knows the user.
    let echo: serde_json::Value = browser
        .get(&format!("{}/via-b", b.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        header(&echo, "x-forwarded-email"),
        Some("alice@example.com")
    );

    // Sign out through B: A rejects the same cookie at once.
    assert_eq!(api_status(&a, &cookies).await, 200);
    browser.sign_out(&b.url, "").await;
    assert_eq!(api_status(&a, &cookies).await, 401);
    assert_eq!(api_status(&b, &cookies).await, 401);
}

#[tokio::test]
async fn redis_holds_no_token_in_clear() {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = replica(&issuer, &upstream, &redis).await;
    sign_in(&Browser::new(), &gateway).await;
    let refresh_token = issuer.with(|s| s.refresh_tokens[0].clone());
    let dump = redis.dump().await;
    assert!(!dump.is_empty());
    for (key, value) in dump {
        let text = String::from_utf8_lossy(&value);
        for secret in [
            "alice@example.com",
            "6f1c2a52-0000-4000-8000-000000000001",
            // The start of every token the mock issuer signs (`{"typ":"JWT","alg":"RS256",`):
            // long enough that sealed bytes never hold it by chance, as they may hold "eyJ".
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIs",
            &refresh_token[..40],
            &refresh_token[refresh_token.len() - 40..],
        ] {
            assert!(!text.contains(secret), "{key} holds {secret}");
            assert!(!key.contains(secret), "{key} names {secret}");
        }
    }
}

#[tokio::test]
async fn redis_down_is_503_and_recovers_without_losing_sessions() {
    let mut redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = replica(&issuer, &upstream, &redis).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let cookies = browser.cookies_for(&gateway.url);

    redis.stop();
    // Signed-in requests: a clear 503, not a 500 and not a sign-in loop.
    assert_eq!(api_status(&gateway, &cookies).await, 503);
    let page = browser.get(&format!("{}/", gateway.url)).await;
    assert_eq!(page.status(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Sessions cannot be read")
    );
    let readyz = reqwest::get(format!("{}/readyz", gateway.url))
        .await
        .unwrap();
    assert_eq!(readyz.status(), 503);
    // Anonymous browsers are still sent to sign in.
    assert_eq!(
        Browser::new()
            .get(&format!("{}/", gateway.url))
            .await
            .status(),
        302
    );

    redis.restart().await;
    eventually("the gateway to reconnect to redis", || async {
        api_status(&gateway, &cookies).await == 200
    })
    .await;
    gateway.wait_ready().await;
}

#[tokio::test]
async fn one_refresh_across_replicas() {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    issuer.with(|s| {
        s.backdate = 3500;
        s.rotate = true;
    });
    let upstream = MockUpstream::start().await;
    let a = replica(&issuer, &upstream, &redis).await;
    let b = replica(&issuer, &upstream, &redis).await;
    // Sign in without using the session yet.
    let browser = Browser::new();
    let start = browser.get(&format!("{}/oauth2/start", a.url)).await;
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let callback = browser.get(&authorize).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(browser.get(&callback).await.status(), 302);
    issuer.with(|s| s.backdate = 0);

    let requests: Vec<_> = (0..16)
        .map(|i| {
            let url = if i % 2 == 0 {
                a.url.clone()
            } else {
                b.url.clone()
            };
            let browser = browser.clone();
            tokio::spawn(async move { browser.get(&format!("{url}/")).await.status().as_u16() })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
    assert_eq!(issuer.with(|s| s.refreshes.len()), 1);
}

#[tokio::test]
async fn sessions_too_large_for_cookies_fit_in_redis() {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    issuer.give_groups(1000);
    let upstream = MockUpstream::start().await;
    let gateway = replica(&issuer, &upstream, &redis).await;
    let echo = sign_in(&Browser::new(), &gateway).await;
    assert_eq!(
        header(&echo, "x-forwarded-groups")
            .unwrap()
            .split(',')
            .count(),
        1000
    );
}

#[tokio::test]
async fn a_save_racing_a_sign_out_does_not_bring_the_session_back() {
    let redis = RedisServer::start().await;
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let toml = config(
        "http://127.0.0.1:1",
        &issuer,
        &upstream.url,
        "",
        &redis_config(&redis),
    );
    let settings = portcullis::config::from_toml_str(&toml).unwrap();
    let sessions = portcullis::session::Sessions::new(
        &settings.session,
        settings.server.secure_cookies(),
        settings.oidc.email_trust,
    )
    .unwrap();
    let _connection = sessions.spawn_background();
    eventually("redis", || sessions.ready()).await;
    let claims = serde_json::json!({"sub": "u", "exp": now() + 3600})
        .as_object()
        .unwrap()
        .clone();
    let token = format!(
        "e30.{}.sig",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&claims).unwrap()
        )
    );
    let mut session = portcullis::session::Session::new(
        token,
        claims.into(),
        None,
        std::time::Duration::from_secs(600),
        now(),
    );
    let empty = reqwest::header::HeaderMap::new();
    sessions.save(&mut session, &empty, now()).await.unwrap();
    // Signed out (on any replica) while a request still holds the session...
    sessions.end(Some(&session), &empty).await;
    // ...whose later save (idle clock, refresh) finds it gone instead of writing it back.
    session.last_seen = now();
    assert!(matches!(
        sessions.save(&mut session, &empty, now()).await,
        Err(portcullis::session::SaveError::Ended)
    ));
    assert!(
        redis
            .dump()
            .await
            .iter()
            .all(|(k, _)| !k.contains(":session:"))
    );
}
