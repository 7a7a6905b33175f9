//! The sign-in flow end to end: browser, gateway, mock Cognito, upstream.

use crate::common::upstream::{assert_alice, header};
use crate::common::*;

#[tokio::test]
async fn sign_in_passes_identity_to_the_upstream() {
    let (issuer, upstream, gateway) = stack().await;
    let browser = Browser::new();
    let (response, hops) = browser.walk(&format!("{}/app/page?x=1", gateway.url)).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    let echo: serde_json::Value = response.json().await.unwrap();

    // The walk: gateway -> authorize -> callback -> original URL -> upstream.
    assert_eq!(hops.len(), 4, "{hops:#?}");
    assert!(
        hops[0]
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/oauth2/authorize?", issuer.base))
    );
    assert!(
        hops[1]
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/oauth2/callback?", gateway.url))
    );
    assert_eq!(hops[2].location.as_deref(), Some("/app/page?x=1"));
    assert_eq!(echo["uri"], "/app/page?x=1");

    assert_alice(&echo);
    assert_eq!(
        header(&echo, "x-forwarded-preferred-username"),
        Some("alice")
    );
    assert_eq!(header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header(&echo, "x-forwarded-host"),
        Some(gateway.addr.to_string().as_str())
    );
    assert_eq!(header(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(upstream.hits(), 1);

    // The authorization request carried everything, PKCE included for a confidential client.
    let authorize = issuer.with(|s| s.authorize_requests[0].clone());
    assert_eq!(authorize["scope"], "openid email profile");
    assert_eq!(
        authorize["redirect_uri"],
        format!("{}/oauth2/callback", gateway.url)
    );
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert!(
        authorize["state"].len() >= 43,
        "state has at least 256 bits"
    );
    assert!(authorize["nonce"].len() >= 43);
    // The code was exchanged with client_secret_basic and the PKCE verifier.
    let (form, auth) = issuer.with(|s| s.token_requests[0].clone());
    assert!(auth.unwrap().starts_with("Basic "));
    assert!(form.contains_key("code_verifier"));
    assert!(!form.contains_key("client_secret"));
}

#[tokio::test]
async fn public_client_uses_pkce_without_a_secret() {
    let issuer = MockIssuer::start_as(false).await;
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let echo = sign_in(&Browser::new(), &gateway).await;
    assert_eq!(
        header(&echo, "x-forwarded-preferred-username"),
        Some("alice")
    );
    let (form, auth) = issuer.with(|s| s.token_requests[0].clone());
    assert_eq!(auth, None);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert!(form["code_verifier"].len() >= 43);
}

#[tokio::test]
async fn spoofed_identity_headers_and_gateway_cookies_never_reach_the_upstream() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let cookies = browser.cookies_for(&gateway.url);
    let response = browser
        .client
        .get(format!("{}/spoof", gateway.url))
        .header("X-Forwarded-User", "mallory")
        .header("x_forwarded_user", "mallory")
        .header("X.Forwarded.Email", "mallory@evil.com")
        .header("X-FORWARDED-GROUPS", "admins")
        .header("x_roles", "authp/admin")
        .header("X_Forwarded_Host", "evil.com")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-For", "203.0.113.7")
        .header("Forwarded", "for=1.2.3.4")
        .header("Cookie", format!("{cookies}; app_cookie=kept"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    let headers = echo["headers"].as_object().unwrap();
    for name in headers.keys() {
        assert!(
            !name.contains('_') && !name.contains('.'),
            "{name} passed through"
        );
    }
    assert!(!headers.contains_key("forwarded"));
    assert_alice(&echo);
    assert_eq!(
        header(&echo, "x-forwarded-host"),
        Some(gateway.addr.to_string().as_str())
    );
    assert_eq!(header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header(&echo, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    // The app's own cookie goes through; the gateway's session does not.
    let cookie = header(&echo, "cookie").unwrap();
    assert!(cookie.contains("app_cookie=kept"), "{cookie}");
    assert!(!cookie.contains("portcullis"), "{cookie}");
}

#[tokio::test]
async fn headers_are_omitted_not_spoofable_when_the_user_lacks_the_claim() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| {
        s.user.remove("cognito:groups");
        s.user.remove("custom:roles");
    });
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let echo: serde_json::Value = browser
        .client
        .get(format!("{}/", gateway.url))
        .header("X-Forwarded-Groups", "admins")
        .header("X-Roles", "authp/admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(header(&echo, "x-forwarded-groups"), None);
    assert_eq!(header(&echo, "x-roles"), None);
}

#[tokio::test]
async fn api_clients_get_401_and_bad_cookies_are_not_a_session() {
    let (_issuer, upstream, gateway) = stack().await;
    let api = reqwest::Client::new();
    let url = format!("{}/api/items", gateway.url);
    for cookie in [
        None,
        Some("portcullis=garbage".to_string()),
        Some("portcullis=".to_string()),
        Some(format!("portcullis={}", "A".repeat(3000))),
        Some("portcullis_0=AQ; portcullis_1=AQ".to_string()),
    ] {
        let mut req = api.post(&url).body("x");
        if let Some(c) = &cookie {
            req = req.header("Cookie", c);
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401, "{cookie:?}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    // A browser's GET without Accept: text/html is an API call too.
    assert_eq!(api.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(upstream.hits(), 0);

    // A session cookie that is tampered with, or moved under another name, is no session.
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let cookies = browser.cookies_for(&gateway.url);
    // The whole sealed session, in one cookie.
    let session = cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("portcullis="))
        .unwrap()
        .to_string();
    assert!(session.len() > 100, "{cookies}");
    let mut flipped = session.clone().into_bytes();
    flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
    for cookie in [
        format!("portcullis={}", String::from_utf8(flipped).unwrap()),
        format!("portcullis={}", &session[..session.len() - 4]),
        format!("portcullis_login_abc={session}"),
        format!("portcullis_signout={session}"),
    ] {
        let response = api
            .get(&url)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{cookie}");
    }
    let ok = api
        .get(&url)
        .header("Cookie", format!("portcullis={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn cookies_are_http_only_and_lax() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    let start = browser.get(&format!("{}/", gateway.url)).await;
    let set: Vec<String> = start
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("portcullis_login_"));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(set[0].contains(attr), "{attr} in {}", set[0]);
    }
}

#[tokio::test]
async fn large_sessions_are_chunked() {
    let issuer = MockIssuer::start().await;
    issuer.give_groups(200);
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    let echo = sign_in(&browser, &gateway).await;
    assert_eq!(
        header(&echo, "x-forwarded-groups")
            .unwrap()
            .split(',')
            .count(),
        200
    );
    let cookies = browser.cookies_for(&gateway.url);
    assert!(
        cookies.contains("portcullis_0=") && cookies.contains("portcullis_1="),
        "{cookies}"
    );
    assert!(!cookies.split("; ").any(|c| c.starts_with("portcullis=")));
    for c in cookies.split("; ") {
        assert!(c.len() < 4000, "cookie of {} bytes", c.len());
    }
}

#[tokio::test]
async fn sessions_too_large_for_cookies_get_a_clear_page() {
    let issuer = MockIssuer::start().await;
    issuer.give_groups(1000);
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    let (response, _) = browser.walk(&format!("{}/", gateway.url)).await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.unwrap();
    assert!(body.contains("does not fit in browser cookies"), "{body}");
    assert!(
        body.contains("session.store = &quot;redis&quot;"),
        "names the remedy: {body}"
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn userinfo_shows_the_session_identity() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    let url = format!("{}/oauth2/userinfo", gateway.url);
    assert_eq!(browser.get(&url).await.status(), 401);
    sign_in(&browser, &gateway).await;
    let info: serde_json::Value = browser.get(&url).await.json().await.unwrap();
    assert_eq!(info["user"], "6f1c2a52-0000-4000-8000-000000000001");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["groups"], serde_json::json!(["admins", "staff"]));
    assert!(info["expires_at"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn health_and_readiness() {
    let (_issuer, upstream, gateway) = stack().await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", gateway.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", gateway.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn connection_header_cannot_remove_identity_headers() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let echo: serde_json::Value = browser
        .client
        .get(format!("{}/", gateway.url))
        .header(
            "Connection",
            "X-Forwarded-Groups, X-Forwarded-User, x-roles, keep-alive",
        )
        .header("Keep-Alive", "timeout=5")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        header(&echo, "x-forwarded-user"),
        Some("6f1c2a52-0000-4000-8000-000000000001")
    );
    assert_eq!(header(&echo, "x-forwarded-groups"), Some("admins,staff"));
    assert_eq!(header(&echo, "x-roles"), Some("authp/admin,authp/user"));
    assert_eq!(header(&echo, "keep-alive"), None);
}

#[tokio::test]
async fn non_websocket_upgrades_are_not_tunnelled() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let response = browser
        .client
        .get(format!("{}/", gateway.url))
        .header("Connection", "Upgrade, HTTP2-Settings")
        .header("Upgrade", "h2c")
        .header("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
        .send()
        .await
        .unwrap();
    // Served as a plain request: no 101, and the upstream saw no upgrade.
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "upgrade"), None);
    assert_eq!(header(&echo, "http2-settings"), None);
}

#[tokio::test]
async fn head_requests_from_browsers_are_sent_to_sign_in() {
    let (_issuer, upstream, gateway) = stack().await;
    let browser = Browser::new();
    let response = browser
        .client
        .head(format!("{}/page", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/oauth2/authorize?")
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn oversized_and_gapped_chunk_sets_are_not_a_session() {
    let (issuer, upstream, gateway) = stack().await;
    // Enough groups for a session in two chunks.
    issuer.give_groups(100);
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let cookies = browser.cookies_for(&gateway.url);
    let chunk = |i: usize| {
        let prefix = format!("portcullis_{i}=");
        cookies
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()).map(str::to_string))
            .unwrap()
    };
    let api = reqwest::Client::new();
    let url = format!("{}/x", gateway.url);
    for cookie in [
        // A gap: chunk 1 missing.
        format!("portcullis_0={}; portcullis_2={}", chunk(0), chunk(1)),
        // Many chunks, past the bound.
        (0..50)
            .map(|i| format!("portcullis_{i}={}", chunk(0)))
            .collect::<Vec<_>>()
            .join("; "),
    ] {
        let response = api.get(&url).header("Cookie", cookie).send().await.unwrap();
        assert_eq!(response.status(), 401);
    }
    assert_eq!(upstream.hits(), 1);
}
