//! Route rules end to end: groups, roles, public routes, default deny, and hostile paths that
//! try to reach a protected route through another reading of the path.

use crate::common::upstream::header;
use crate::common::*;
use serde_json::json;

const RULES: &str = r#"
[policy]
default = "authenticated"

[[rules]]
path = "/health"
public = true

[[rules]]
path = "/admin"
groups = ["admins"]

[[rules]]
path = "/reports"
roles = ["authp/reports"]

[[rules]]
path = "/api"
methods = ["POST", "DELETE"]
email_domains = ["example.com"]
"#;

struct Setup {
    issuer: MockIssuer,
    upstream: MockUpstream,
    gateway: Gateway,
}

async fn setup(rules: &str) -> Setup {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start_with(&issuer, &upstream.url, "", rules).await;
    Setup {
        issuer,
        upstream,
        gateway,
    }
}

/// Signs in as a user who is not in `admins` and has only `authp/user`.
async fn bob(t: &Setup) -> Browser {
    t.issuer.with(|s| {
        s.user.insert("sub".into(), json!("bob-sub"));
        s.user.insert("email".into(), json!("bob@other.org"));
        s.user.insert("cognito:username".into(), json!("bob"));
        s.user.insert("cognito:groups".into(), json!(["staff"]));
        s.user.insert("custom:roles".into(), json!("authp/user"));
    });
    let browser = Browser::new();
    sign_in(&browser, &t.gateway).await;
    browser
}

async fn alice(t: &Setup) -> Browser {
    let browser = Browser::new();
    sign_in(&browser, &t.gateway).await;
    browser
}

#[tokio::test]
async fn groups_guard_the_admin_area() {
    let t = setup(RULES).await;
    let alice = alice(&t).await;
    assert_eq!(
        alice
            .get(&format!("{}/admin/users", t.gateway.url))
            .await
            .status(),
        200
    );

    let bob = bob(&t).await;
    let hits = t.upstream.hits();
    let page = bob.get(&format!("{}/admin/users", t.gateway.url)).await;
    assert_eq!(page.status(), 403);
    let body = page.text().await.unwrap();
    assert!(body.contains("bob@other.org"), "says who: {body}");
    assert!(
        body.contains("/oauth2/sign_out?rd=%2Foauth2%2Fstart%3Frd%3D%252Fadmin%252Fusers"),
        "{body}"
    );
    // API clients get JSON.
    let api = reqwest::Client::new()
        .get(format!("{}/admin/users", t.gateway.url))
        .header("Cookie", bob.cookies_for(&t.gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    assert_eq!(
        api.json::<serde_json::Value>().await.unwrap()["error"],
        "forbidden"
    );
    assert_eq!(
        t.upstream.hits(),
        hits,
        "nothing denied reached the upstream"
    );
}

#[tokio::test]
async fn roles_from_custom_roles() {
    let t = setup(RULES).await;
    t.issuer.with(|s| {
        s.user
            .insert("custom:roles".into(), json!("authp/user|authp/reports"));
    });
    let alice = alice(&t).await;
    assert_eq!(
        alice
            .get(&format!("{}/reports/q3", t.gateway.url))
            .await
            .status(),
        200
    );
    let bob = bob(&t).await;
    assert_eq!(
        bob.get(&format!("{}/reports/q3", t.gateway.url))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn methods_and_email_domains() {
    let t = setup(RULES).await;
    let alice = alice(&t).await;
    let bob = bob(&t).await;
    let url = format!("{}/api/items", t.gateway.url);
    assert_eq!(
        bob.get(&url).await.status(),
        200,
        "GET is not covered by the rule"
    );
    assert_eq!(bob.client.post(&url).send().await.unwrap().status(), 403);
    assert_eq!(alice.client.post(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn public_routes_need_no_sign_in_and_still_strip_spoofed_identity() {
    let t = setup(RULES).await;
    let response = reqwest::Client::new()
        .get(format!("{}/health/live", t.gateway.url))
        .header("X-Forwarded-User", "mallory")
        .header("x_forwarded_groups", "admins")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "x-forwarded-user"), None);
    assert!(echo["headers"].get("x_forwarded_groups").is_none());
    // A signed-in user's identity still goes along.
    let alice = alice(&t).await;
    let echo: serde_json::Value = alice
        .get(&format!("{}/health", t.gateway.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        header(&echo, "x-forwarded-email"),
        Some("alice@example.com")
    );
}

#[tokio::test]
async fn hostile_paths_never_reach_a_protected_route() {
    let t = setup(RULES).await;
    let alice = alice(&t).await;
    let bob = bob(&t).await;
    let hits = t.upstream.hits();
    let cookies = bob.cookies_for(&t.gateway.url);
    let get = |path: &'static str| {
        let cookies = cookies.clone();
        let addr = t.gateway.addr;
        async move { raw_get(addr, path, &[("Cookie", &cookies)]).await.0 }
    };
    for path in [
        "/admin",
        "/%61dmin",
        "/ADMIN/../admin",
        "/x/../admin",
        "/x/%2e%2e/admin",
        "//admin",
        "/./admin",
        "/admin;x=1",
        "/health/../admin",
    ] {
        assert_eq!(get(path).await, 403, "{path}");
    }
    for path in [
        "/admin%2fusers",
        "/health%2f..%2fadmin",
        "/health/%2e%2e%5cadmin",
        "/%252e%252e/admin",
        "/health/..;/admin",
        "/health/%00/../admin",
        "/health\\..\\admin",
        "/health%",
        // Encoded `#` and `?`: an app that decodes before routing reads `/admin`.
        "/health%23/../admin",
        "/admin%23",
        "/health%3F/../admin",
        // Segments that are only `;` parameters: servlet containers drop them and merge the
        // slashes, and serve `/admin`; an encoded `;` is one to whoever decodes first.
        "/;/admin",
        "/;x/admin",
        "/%3b/admin",
        "/%3Bfoo/admin/users",
        "/health/;/admin",
    ] {
        assert_eq!(get(path).await, 400, "{path}");
    }
    assert_eq!(t.upstream.hits(), hits, "nothing reached the upstream");

    // The query never takes part, and the upstream gets the canonical path.
    let alice_cookies = alice.cookies_for(&t.gateway.url);
    let (status, body) = raw_get(
        t.gateway.addr,
        "/x/../%61dmin//users?next=/../health",
        &[("Cookie", &alice_cookies)],
    )
    .await;
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["uri"], "/admin/users?next=/../health");
    let (status, body) = raw_get(t.gateway.addr, "/health?/../admin", &[]).await;
    assert_eq!(status, 200);
    let echo: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(echo["uri"], "/health?/../admin");
}

#[tokio::test]
async fn default_deny_refuses_unmatched_routes() {
    let t = setup(
        r#"
[policy]
default = "deny"

[[rules]]
path = "/app"
"#,
    )
    .await;
    let alice = Browser::new();
    let (response, _) = alice.walk(&format!("{}/app/x", t.gateway.url)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        alice
            .get(&format!("{}/other", t.gateway.url))
            .await
            .status(),
        403
    );
    assert_eq!(
        Browser::new()
            .get(&format!("{}/other", t.gateway.url))
            .await
            .status(),
        403
    );
}

/// Signs in as a user whose email is `email`, with `email_verified` as given (absent for null).
async fn signed_in_with_email(t: &Setup, email: &str, verified: serde_json::Value) -> Browser {
    t.issuer.with(|s| {
        s.user.insert("email".into(), json!(email));
        if verified.is_null() {
            s.user.remove("email_verified");
        } else {
            s.user.insert("email_verified".into(), verified);
        }
    });
    let browser = Browser::new();
    sign_in(&browser, &t.gateway).await;
    browser
}

#[tokio::test]
async fn unverified_and_malformed_emails_are_no_identity() {
    let t = setup(RULES).await;
    let url = format!("{}/api/items", t.gateway.url);
    for (email, verified) in [
        // Cognito users can change their own address; it is then unverified.
        ("mallory@example.com", json!(false)),
        ("mallory@example.com", json!("false")),
        // Issuers that say nothing vouch for nothing (unless `assume_email_verified`).
        ("mallory@example.com", serde_json::Value::Null),
        // Verified, but not an address at example.com.
        ("ivan@evil.test@example.com", json!(true)),
    ] {
        let browser = signed_in_with_email(&t, email, verified.clone()).await;
        let case = format!("{email} {verified}");
        assert_eq!(
            browser.client.post(&url).send().await.unwrap().status(),
            403,
            "email_domains: {case}"
        );
        let echo: serde_json::Value = browser.get(&url).await.json().await.unwrap();
        let info: serde_json::Value = browser
            .get(&format!("{}/oauth2/userinfo", t.gateway.url))
            .await
            .json()
            .await
            .unwrap();
        let answer = browser
            .get(&format!("{}/oauth2/auth/app", t.gateway.url))
            .await;
        assert_eq!(answer.status(), 200);
        if verified == json!(true) {
            // A verified address is identity, whatever its shape; only the domain check fails.
            assert_eq!(header(&echo, "x-forwarded-email"), Some(email));
            continue;
        }
        assert_eq!(header(&echo, "x-forwarded-email"), None, "{case}");
        assert_eq!(info["email"], serde_json::Value::Null, "{case}");
        assert!(
            answer.headers().get("x-auth-request-email").is_none(),
            "{case}"
        );
        assert!(
            answer.headers().get("x-forwarded-email").is_none(),
            "{case}"
        );
    }
    // A verified address at the domain passes.
    let browser = signed_in_with_email(&t, "alice@example.com", json!("true")).await;
    assert_eq!(
        browser.client.post(&url).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn issuers_that_never_say_may_be_trusted_explicitly() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start_with(
        &issuer,
        &upstream.url,
        "assume_email_verified = true",
        RULES,
    )
    .await;
    let t = Setup {
        issuer,
        upstream,
        gateway,
    };
    let url = format!("{}/api/items", t.gateway.url);
    let browser = signed_in_with_email(&t, "una@example.com", serde_json::Value::Null).await;
    let echo: serde_json::Value = browser.get(&url).await.json().await.unwrap();
    assert_eq!(header(&echo, "x-forwarded-email"), Some("una@example.com"));
    assert_eq!(
        browser.client.post(&url).send().await.unwrap().status(),
        200
    );
    // An explicit `false` is never overridden.
    let browser = signed_in_with_email(&t, "una@example.com", json!(false)).await;
    assert_eq!(
        browser.client.post(&url).send().await.unwrap().status(),
        403
    );
}
