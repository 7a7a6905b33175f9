//! The edges of the sign-in flow: state and CSRF, issuer errors, open redirects, sign-out.

use crate::common::*;

/// Starts a sign-in and returns the authorize URL's `state` and the callback URL the issuer
/// would redirect to (without following it).
async fn start_login(
    browser: &Browser,
    gateway: &Gateway,
    issuer: &MockIssuer,
) -> (String, String) {
    let start = browser.get(&format!("{}/oauth2/start", gateway.url)).await;
    assert_eq!(start.status(), 302);
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    assert!(authorize.starts_with(&issuer.base));
    let at_issuer = browser.get(&authorize).await;
    let callback = at_issuer.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    let state = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    (state, callback)
}

fn has_session(browser: &Browser, gateway: &Gateway) -> bool {
    browser
        .cookies_for(&gateway.url)
        .split("; ")
        .any(|c| c.starts_with("portcullis=") || c.starts_with("portcullis_0="))
}

#[tokio::test]
async fn callback_without_state_or_with_a_wrong_one_is_400() {
    let (issuer, upstream, gateway) = stack().await;
    let browser = Browser::new();
    let (state, callback) = start_login(&browser, &gateway, &issuer).await;
    let code = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let cb = format!("{}/oauth2/callback", gateway.url);
    for url in [
        format!("{cb}?code={code}"),
        format!("{cb}?code={code}&state="),
        format!("{cb}?code={code}&state=forged-state-value-0000000000000000000"),
        // Same 12-character prefix (same cookie name), different state.
        format!("{cb}?code={code}&state={}x", &state[..state.len() - 1]),
        format!("{cb}?code={code}&state={}", "%00".repeat(20)),
        format!("{cb}?state={state}&state=second"),
    ] {
        let response = browser.get(&url).await;
        assert_eq!(response.status(), 400, "{url}");
        let body = response.text().await.unwrap();
        assert!(
            body.contains("/oauth2/start"),
            "a link to sign in again: {body}"
        );
        assert!(!has_session(&browser, &gateway));
    }
    assert_eq!(upstream.hits(), 0);
    // Nothing was exchanged: a state mismatch stops before the token endpoint.
    assert!(issuer.with(|s| s.token_requests.is_empty()));
}

#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    // Login CSRF: the attacker's own callback URL, opened in the victim's browser.
    let (issuer, _upstream, gateway) = stack().await;
    let attacker = Browser::new();
    let (_, callback) = start_login(&attacker, &gateway, &issuer).await;
    let victim = Browser::new();
    let response = victim.get(&callback).await;
    assert_eq!(response.status(), 400);
    assert!(!has_session(&victim, &gateway));
}

#[tokio::test]
async fn a_callback_cannot_be_replayed() {
    let (issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    let (_, callback) = start_login(&browser, &gateway, &issuer).await;
    let first = browser.get(&callback).await;
    assert_eq!(first.status(), 302);
    assert!(has_session(&browser, &gateway));
    // The sign-in cookie was consumed.
    let again = Browser::new();
    for c in browser.cookies_for(&gateway.url).split("; ") {
        again
            .jar
            .add_cookie_str(c, &reqwest::Url::parse(&gateway.url).unwrap());
    }
    assert_eq!(again.get(&callback).await.status(), 400);
}

#[tokio::test]
async fn sign_ins_in_several_tabs_all_complete() {
    let (issuer, upstream, gateway) = stack().await;
    let browser = Browser::new();
    let mut callbacks = Vec::new();
    for _ in 0..3 {
        callbacks.push(start_login(&browser, &gateway, &issuer).await.1);
    }
    // Finished in reverse order, each one works.
    for callback in callbacks.iter().rev() {
        let response = browser.get(callback).await;
        assert_eq!(response.status(), 302, "{callback}");
        assert_eq!(response.headers()["location"], "/");
    }
    assert_eq!(
        browser.get(&format!("{}/", gateway.url)).await.status(),
        200
    );
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn pending_sign_ins_are_bounded() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    for _ in 0..20 {
        browser.get(&format!("{}/oauth2/start", gateway.url)).await;
    }
    let pending = browser
        .cookies_for(&gateway.url)
        .split("; ")
        .filter(|c| c.starts_with("portcullis_login_"))
        .count();
    assert!(pending <= 5, "{pending} sign-in cookies");
}

#[tokio::test]
async fn issuer_errors_are_shown_escaped_with_403() {
    let (issuer, upstream, gateway) = stack().await;
    issuer.with(|s| s.deny = Some("access_denied".into()));
    let browser = Browser::new();
    let (response, _) = browser.walk(&format!("{}/", gateway.url)).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("access_denied"), "{body}");
    assert!(body.contains("&lt;b&gt;not allowed&lt;/b&gt;"), "{body}");
    assert!(!body.contains("<b>not allowed"));
    assert!(!has_session(&browser, &gateway));
    assert_eq!(upstream.hits(), 0);

    // Markup in the error code itself is escaped too.
    let (state, _) = start_login(&browser, &gateway, &issuer).await;
    let url = format!(
        "{}/oauth2/callback?error=%3Cscript%3Ealert(1)%3C/script%3E&state={state}",
        gateway.url
    );
    let response = browser.get(&url).await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("&lt;script&gt;"), "{body}");
    assert!(!body.contains("<script>alert"), "{body}");
}

#[tokio::test]
async fn post_login_targets_stay_on_the_gateway() {
    let (_issuer, _upstream, gateway) = stack().await;
    for (rd, expected) in [
        ("/app/x?y=1", "/app/x?y=1"),
        ("//evil.com", "/"),
        ("https://evil.com/", "/"),
        ("/\\evil.com", "/"),
        ("/%2F%2Fevil.com", "/"),
        ("/%5Cevil.com", "/"),
        ("/%09/evil.com", "/"),
        ("/..//evil.com", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        let browser = Browser::new();
        let encoded: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        let (_, hops) = browser
            .walk(&format!("{}/oauth2/start?rd={encoded}", gateway.url))
            .await;
        assert_eq!(
            hops[2].location.as_deref(),
            Some(expected),
            "{rd}: {hops:#?}"
        );
    }
}

#[tokio::test]
async fn cognito_sign_out_clears_the_session_and_the_hosted_ui() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let domain = format!("cognito_domain = \"{}\"", issuer.base);
    let gateway = Gateway::start_with(&issuer, &upstream.url, &domain, "").await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    assert!(has_session(&browser, &gateway));

    let out = browser.sign_out(&gateway.url, "?rd=/bye").await;
    assert_eq!(out.status(), 302);
    let location = reqwest::Url::parse(out.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/logout");
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["logout_uri"],
        format!("{}/oauth2/signed_out", gateway.url)
    );
    assert!(!q.contains_key("id_token_hint"));
    assert!(!has_session(&browser, &gateway));

    // The issuer bounces back to /oauth2/signed_out, which follows rd...
    let at_issuer = browser.get(location.as_str()).await;
    let signed_out = at_issuer.headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(signed_out, format!("{}/oauth2/signed_out", gateway.url));
    let bounce = browser.get(&signed_out).await;
    assert_eq!(bounce.headers()["location"], "/bye");
    // ...where the user is asked to sign in again.
    let next = browser.get(&format!("{}/bye", gateway.url)).await;
    assert_eq!(next.status(), 302);
    assert!(
        next.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/oauth2/authorize")
    );
    assert_eq!(issuer.with(|s| s.logouts.len()), 1);
}

#[tokio::test]
async fn rp_initiated_logout_when_the_issuer_offers_it() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| s.end_session = true);
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let out = browser.sign_out(&gateway.url, "?rd=https://evil.com").await;
    let location = reqwest::Url::parse(out.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/oauth2/signed_out", gateway.url)
    );
    assert_eq!(q["id_token_hint"].split('.').count(), 3);
    let (_, hops) = browser.walk(location.as_str()).await;
    assert_eq!(
        hops[1].location.as_deref(),
        Some("/"),
        "hostile rd falls back to /"
    );
}

#[tokio::test]
async fn local_sign_out_without_issuer_logout() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let out = browser.sign_out(&gateway.url, "?rd=//evil.com").await;
    assert_eq!(out.headers()["location"], "/");
    let cleared: Vec<_> = out
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("portcullis=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(!has_session(&browser, &gateway));
    assert_eq!(
        browser.get(&format!("{}/", gateway.url)).await.status(),
        302
    );
}

#[tokio::test]
async fn issuer_errors_without_a_sign_in_in_progress_are_not_shown() {
    // A crafted link must not put text of the attacker's choosing on the gateway's origin.
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    for state in ["", "&state=unknown-state-000000000000000"] {
        let url = format!(
            "{}/oauth2/callback?error=access_denied&error_description=Call+555-0100{state}",
            gateway.url
        );
        let response = browser.get(&url).await;
        assert_eq!(response.status(), 400);
        assert!(!response.text().await.unwrap().contains("555-0100"));
    }
}

#[tokio::test]
async fn sign_out_takes_a_post_from_the_gateways_own_origin() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    // A link or an image elsewhere can make the browser GET it: that only asks to confirm.
    let page = browser
        .get(&format!("{}/oauth2/sign_out?rd=/bye", gateway.url))
        .await;
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("set-cookie").is_none());
    assert_eq!(
        page.headers()["x-frame-options"],
        "DENY",
        "never framed by another site"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/oauth2/sign_out?rd=%2Fbye">"#),
        "{html}"
    );
    assert!(has_session(&browser, &gateway));
    // A form on another site posts with its own origin: refused, the session stays.
    for (name, value) in [
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Referer", "https://evil.example/page"),
    ] {
        let out = browser
            .client
            .post(format!("{}/oauth2/sign_out", gateway.url))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 403, "{name}: {value}");
        assert!(out.headers().get("set-cookie").is_none());
        assert!(has_session(&browser, &gateway));
    }
    assert_eq!(
        browser.get(&format!("{}/", gateway.url)).await.status(),
        200
    );
    // The confirm page's button: a POST from the gateway's origin.
    let out = browser.sign_out(&gateway.url, "?rd=/bye").await;
    assert_eq!(out.status(), 302);
    assert_eq!(out.headers()["location"], "/bye");
    assert!(!has_session(&browser, &gateway));
}
