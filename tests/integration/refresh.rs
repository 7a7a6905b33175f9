//! Sessions over time: token refresh (with and without rotation, concurrent, refused, issuer
//! away), revocation at sign-out, and cookie expiry.

use crate::common::*;

/// Tokens the mock issues from now on are this close to expiry: due for refresh at once
/// (lifetime 3600 s, 100 s left, refresh margin 300 s).
const DUE: u64 = 3500;

fn refreshes(issuer: &MockIssuer) -> Vec<String> {
    issuer.with(|s| s.refreshes.clone())
}

/// Signs in by hand, stopping at the callback's redirect: no request has used the session yet.
async fn sign_in_only(browser: &Browser, gateway: &Gateway) {
    let start = browser.get(&format!("{}/oauth2/start", gateway.url)).await;
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let callback = browser.get(&authorize).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let done = browser.get(&callback).await;
    assert_eq!(done.status(), 302);
    assert_eq!(done.headers()["location"], "/");
}

async fn status(browser: &Browser, url: &str) -> u16 {
    browser.get(url).await.status().as_u16()
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_refresh_token() {
    let (issuer, _upstream, gateway) = stack().await;
    issuer.with(|s| s.backdate = DUE);
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let original = issuer.with(|s| s.refresh_tokens[0].clone());
    let url = format!("{}/", gateway.url);

    let first = browser.get(&url).await;
    assert_eq!(first.status(), 200);
    assert!(
        first.headers().get_all("set-cookie").iter().count() > 0,
        "refreshed session stored"
    );
    assert_eq!(refreshes(&issuer), std::slice::from_ref(&original));

    // The refreshed tokens were due too; the next ones are not.
    issuer.with(|s| s.backdate = 0);
    assert_eq!(status(&browser, &url).await, 200);
    assert_eq!(status(&browser, &url).await, 200);
    // No new refresh token came back, so the original one was used again.
    assert_eq!(refreshes(&issuer), [original.clone(), original]);
}

#[tokio::test]
async fn rotated_refresh_tokens_replace_the_old_one() {
    let (issuer, _upstream, gateway) = stack().await;
    issuer.with(|s| {
        s.backdate = DUE;
        s.rotate = true;
    });
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let url = format!("{}/", gateway.url);
    assert_eq!(status(&browser, &url).await, 200);
    issuer.with(|s| s.backdate = 0);
    assert_eq!(status(&browser, &url).await, 200);
    assert_eq!(status(&browser, &url).await, 200);
    let used = refreshes(&issuer);
    assert_eq!(used.len(), 2);
    assert_ne!(
        used[0], used[1],
        "the rotated token was used for the second refresh"
    );
    // The mock accepts only the newest token, so the second refresh proves the rotation stuck.
    assert_eq!(issuer.with(|s| s.refresh_tokens.len()), 1);
}

#[tokio::test]
async fn concurrent_requests_share_one_refresh() {
    let (issuer, upstream, gateway) = stack().await;
    issuer.with(|s| {
        s.backdate = DUE;
        s.rotate = true;
    });
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let url = format!("{}/", gateway.url);
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let b = browser.clone();
            let url = url.clone();
            tokio::spawn(async move { b.get(&url).await.status().as_u16() })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 200);
    }
    // Exactly one refresh: with rotation, a second one would have spent a dead token.
    assert_eq!(refreshes(&issuer).len(), 1);
    assert_eq!(upstream.hits(), 16);
}

#[tokio::test]
async fn invalid_grant_ends_the_session() {
    let (issuer, upstream, gateway) = stack().await;
    issuer.with(|s| s.backdate = DUE);
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let cookies = browser.cookies_for(&gateway.url);
    // The refresh token is revoked at the issuer (by an administrator, say).
    issuer.with(|s| s.refresh_tokens.clear());

    // An API client with the session gets 401...
    let api = reqwest::Client::new()
        .get(format!("{}/api", gateway.url))
        .header("Cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    // ...and a browser is sent to sign in, its session cookies cleared.
    let page = browser.get(&format!("{}/", gateway.url)).await;
    assert_eq!(page.status(), 302);
    assert!(
        page.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/oauth2/authorize")
    );
    let cleared: Vec<_> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .filter(|c| c.contains("Max-Age=0"))
        .collect();
    assert!(!cleared.is_empty());
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn unreachable_issuer_during_refresh_serves_valid_tokens_and_retries() {
    let (issuer, _upstream, gateway) = stack().await;
    issuer.with(|s| {
        s.backdate = DUE;
        s.refresh_down = true;
    });
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let url = format!("{}/", gateway.url);
    // Due, the issuer is down, the tokens still have 100 s: served.
    let served = browser.get(&url).await;
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers().get_all("set-cookie").iter().count(), 0);
    assert_eq!(refreshes(&issuer).len(), 1);

    // The issuer comes back: a later request refreshes.
    issuer.with(|s| {
        s.refresh_down = false;
        s.backdate = 0;
    });
    eventually("a retried refresh", || async {
        browser.get(&url).await.status() == 200 && refreshes(&issuer).len() == 2
    })
    .await;
}

#[tokio::test]
async fn expired_tokens_without_a_refresh_are_not_honoured() {
    let (issuer, upstream, gateway) = stack().await;
    // Tokens that expired 10 s ago (within the sign-in's clock leeway) and an issuer that cannot
    // refresh them.
    issuer.with(|s| {
        s.backdate = 3610;
        s.refresh_down = true;
    });
    let browser = Browser::new();
    sign_in_only(&browser, &gateway).await;
    let page = browser.get(&format!("{}/", gateway.url)).await;
    assert_eq!(page.status(), 302);
    let api = reqwest::Client::new()
        .get(format!("{}/api", gateway.url))
        .header("Cookie", browser.cookies_for(&gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token() {
    let (issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let token = issuer.with(|s| s.refresh_tokens[0].clone());
    browser.sign_out(&gateway.url, "").await;
    let revoked = issuer.with(|s| s.revoked.clone());
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].0, token);
    assert!(revoked[0].1.as_deref().unwrap().starts_with("Basic "));
}

#[tokio::test]
async fn cognito_revocation_without_a_discovered_endpoint_uses_the_pool_domain() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| s.advertise_revocation = false);
    let upstream = MockUpstream::start().await;
    let domain = format!("cognito_domain = \"{}\"", issuer.base);
    let gateway = Gateway::start_with(&issuer, &upstream.url, &domain, "").await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    browser.sign_out(&gateway.url, "").await;
    assert_eq!(issuer.with(|s| s.revoked.len()), 1);

    // A generic issuer without a revocation endpoint: nothing to call.
    let issuer = MockIssuer::start().await;
    issuer.with(|s| s.advertise_revocation = false);
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    browser.sign_out(&gateway.url, "").await;
    assert_eq!(issuer.with(|s| s.revoked.len()), 0);
}

#[tokio::test]
async fn cookie_expiry_follows_the_idle_timeout() {
    let (issuer, _upstream, gateway) = stack().await;
    // Enough groups for a session in two chunks: each one carries the expiry.
    issuer.give_groups(100);
    let browser = Browser::new();
    let start = browser.get(&format!("{}/oauth2/start", gateway.url)).await;
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let callback = browser.get(&authorize).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let done = browser.get(&callback).await;
    let session_cookies: Vec<_> = done
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .filter(|c| c.starts_with("portcullis_0=") || c.starts_with("portcullis_1="))
        .collect();
    assert_eq!(session_cookies.len(), 2, "{session_cookies:?}");
    for c in session_cookies {
        assert!(
            c.contains("Max-Age=3600"),
            "idle timeout 1h, lifetime 12h: {c}"
        );
    }
    drop(issuer);
}
