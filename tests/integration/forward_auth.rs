//! Forward-auth at `/oauth2/auth`: the original request from trusted proxies' headers (and
//! never from anyone else's), Envoy's path prefix, Traefik's redirect, and a real nginx driven
//! through the whole sign-in with the gateway as its auth server.

use crate::common::nginx::{Nginx, site};
use crate::common::upstream::header;
use crate::common::*;
use serde_json::json;
use tokio::net::TcpListener;

const RULES: &str = r#"
[[rules]]
path = "/health"
public = true

[[rules]]
path = "/admin"
groups = ["admins"]
"#;

/// A gateway whose `[server]` gets `server_extra` and whose public URL may be another origin.
async fn gateway(
    issuer: &MockIssuer,
    upstream: &str,
    server_extra: &str,
    public_url: Option<&str>,
) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let public = public_url.unwrap_or(&own);
    let toml = config(public, issuer, upstream, "", RULES).replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:0\"\n{server_extra}"),
    );
    let gw = Gateway::serve(listener, &toml);
    gw.wait_ready().await;
    gw
}

async fn ask(gateway: &Gateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", gateway.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn session_of(issuer: &MockIssuer, gateway: &Gateway, groups: &[&str]) -> String {
    issuer.with(|s| {
        s.user.insert("cognito:groups".into(), json!(groups));
    });
    let browser = Browser::new();
    let (_, hops) = browser.walk(&format!("{}/oauth2/start", gateway.url)).await;
    assert!(
        hops.iter().any(|h| h.url.contains("/oauth2/callback")),
        "{hops:#?}"
    );
    browser.cookies_for(&gateway.url)
}

#[tokio::test]
async fn trusted_proxies_name_the_original_request() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gw = gateway(&issuer, &upstream.url, "", None).await;
    let admin = session_of(&issuer, &gw, &["admins"]).await;
    let staff = session_of(&issuer, &gw, &["staff"]).await;
    let hits = upstream.hits();

    let response = ask(
        &gw,
        "/oauth2/auth",
        &[
            ("Cookie", &admin),
            ("X-Forwarded-Uri", "/admin/x"),
            ("X-Forwarded-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(response.status(), 202);
    let h = response.headers();
    assert_eq!(
        h["x-auth-request-user"],
        "6f1c2a52-0000-4000-8000-000000000001"
    );
    assert_eq!(h["x-auth-request-email"], "alice@example.com");
    assert_eq!(h["x-auth-request-groups"], "admins");
    assert_eq!(h["x-auth-request-preferred-username"], "alice");
    assert_eq!(
        h["x-roles"], "authp/admin,authp/user",
        "configured mappings too"
    );

    for (name, value) in [
        ("X-Forwarded-Uri", "/admin/x"),
        ("X-Original-URI", "/%61dmin/../admin/x?q=1"),
        ("X-Original-URL", "https://app.example.com/admin/x"),
    ] {
        let r = ask(&gw, "/oauth2/auth", &[("Cookie", &staff), (name, value)]).await;
        assert_eq!(r.status(), 403, "{name}");
    }
    assert_eq!(
        ask(&gw, "/oauth2/auth", &[("X-Forwarded-Uri", "/admin")])
            .await
            .status(),
        401
    );
    assert_eq!(
        ask(&gw, "/oauth2/auth", &[("X-Forwarded-Uri", "/health")])
            .await
            .status(),
        202
    );
    assert_eq!(
        ask(&gw, "/oauth2/auth", &[("X-Forwarded-Uri", "/a%2fb")])
            .await
            .status(),
        400
    );
    // Paths an app reads as `/admin/x` once it drops `;` parameters or decodes `#`.
    for uri in [
        "/;/admin/x",
        "/;x/admin/x",
        "/%3b/admin/x",
        "/admin%23",
        "/admin%3F",
    ] {
        let r = ask(
            &gw,
            "/oauth2/auth",
            &[("Cookie", &staff), ("X-Forwarded-Uri", uri)],
        )
        .await;
        assert_eq!(r.status(), 400, "{uri}");
    }
    // What a trusted proxy says but cannot be read one way is refused, never guessed at.
    let (status, _) = raw_get(
        gw.addr,
        "/oauth2/auth",
        &[("Cookie", &staff), ("X-Forwarded-Uri", "/admin#/../health")],
    )
    .await;
    assert_eq!(status, 400);
    let mut request = reqwest::Client::new().get(format!("{}/oauth2/auth", gw.url));
    request = request.header("Cookie", &staff).header(
        "X-Forwarded-Uri",
        reqwest::header::HeaderValue::from_bytes(b"/admin?\xc3\xa9").unwrap(),
    );
    assert_eq!(request.send().await.unwrap().status(), 400);
    assert_eq!(upstream.hits(), hits, "forward-auth never proxies");
}

#[tokio::test]
async fn untrusted_peers_cannot_name_the_original_request() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    // Loopback is not trusted here, so these headers come from "anyone".
    let gw = gateway(
        &issuer,
        &upstream.url,
        r#"trusted_proxies = ["10.0.0.0/8"]"#,
        None,
    )
    .await;
    let staff = session_of(&issuer, &gw, &["staff"]).await;
    // Claiming a public path does not let an anonymous client through...
    for (name, value) in [
        ("X-Forwarded-Uri", "/health"),
        ("X-Original-URI", "/health"),
        ("X-Original-URL", "http://x/health"),
    ] {
        assert_eq!(
            ask(&gw, "/oauth2/auth", &[(name, value)]).await.status(),
            401,
            "{name}"
        );
    }
    // ...and a signed-in user is judged on the auth path itself, not on the claimed one.
    let r = ask(
        &gw,
        "/oauth2/auth",
        &[("Cookie", &staff), ("X-Forwarded-Uri", "/admin")],
    )
    .await;
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn envoy_path_prefix_and_traefik_redirect() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gw = gateway(&issuer, &upstream.url, "", None).await;
    let staff = session_of(&issuer, &gw, &["staff"]).await;
    // Envoy ext_authz with path_prefix = /oauth2/auth: the original path follows the prefix.
    assert_eq!(
        ask(&gw, "/oauth2/auth/admin/x", &[("Cookie", &staff)])
            .await
            .status(),
        403
    );
    // Envoy lets a request through on exactly 200.
    assert_eq!(
        ask(&gw, "/oauth2/auth/app/x?y=1", &[("Cookie", &staff)])
            .await
            .status(),
        200
    );
    assert_eq!(ask(&gw, "/oauth2/auth/health", &[]).await.status(), 200);
    let (status, _) = raw_get(gw.addr, "/oauth2/auth/;/admin/x", &[("Cookie", &staff)]).await;
    assert_eq!(
        status, 400,
        "a parameter-only segment in the path-prefix form"
    );
    assert_eq!(ask(&gw, "/oauth2/auth/app", &[]).await.status(), 401);

    // Traefik forwardAuth with ?redirect=true: browsers are sent to sign in, back to the
    // original URI; API clients still get 401.
    let page = [
        ("Accept", "text/html"),
        ("X-Forwarded-Uri", "/app/page?x=1"),
        ("X-Forwarded-Method", "GET"),
    ];
    let r = ask(&gw, "/oauth2/auth?redirect=true", &page).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/oauth2/authorize?")
    );
    let login_cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(login_cookie.starts_with("portcullis_login_"));
    let r = ask(
        &gw,
        "/oauth2/auth?redirect=true",
        &[("X-Forwarded-Uri", "/app")],
    )
    .await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn nginx_auth_request_through_the_whole_sign_in() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let nginx_port = free_port();
    let public = format!("http://127.0.0.1:{nginx_port}");
    let gw = gateway(&issuer, &upstream.url, "", Some(&public)).await;
    let _nginx = Nginx::start(nginx_port, &site(nginx_port, &gw.url, &upstream.url)).await;

    // Anonymous: nginx sends the browser to sign in; the gateway, through nginx, to the issuer;
    // back through nginx to the callback and the original page.
    let browser = Browser::new();
    let (response, hops) = browser.walk(&format!("{public}/app/page?x=1")).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    assert_eq!(
        hops[0].location.as_deref(),
        Some(format!("{public}/oauth2/start?rd=/app/page?x=1").as_str())
    );
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echo["uri"], "/app/page?x=1");
    assert_eq!(
        header(&echo, "x-user"),
        Some("6f1c2a52-0000-4000-8000-000000000001")
    );
    assert_eq!(header(&echo, "x-email"), Some("alice@example.com"));
    assert_eq!(header(&echo, "x-groups"), Some("admins,staff"));
    // Headers that would make the app read another method or path never reach it.
    let echo: serde_json::Value = browser
        .client
        .get(format!("{public}/app/page"))
        .header("X-HTTP-Method-Override", "DELETE")
        .header("X-Original-URL", "/admin")
        .header("X-Rewrite-URL", "/admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for name in ["x-http-method-override", "x-original-url", "x-rewrite-url"] {
        assert_eq!(header(&echo, name), None, "{name}");
    }

    // Rules apply through nginx: a non-admin gets 403 on /admin.
    issuer.with(|s| {
        s.user.insert("cognito:groups".into(), json!(["staff"]));
    });
    let staff = Browser::new();
    let (response, _) = staff.walk(&format!("{public}/app")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(staff.get(&format!("{public}/admin/x")).await.status(), 403);
    // nginx passes `$request_uri` as it came: a parameter-only segment is refused there too,
    // and nginx then refuses the request (it treats the auth server's 400 as an error).
    let hits = upstream.hits();
    let staff_cookies = staff.cookies_for(&public);
    let nginx_addr: std::net::SocketAddr = format!("127.0.0.1:{nginx_port}").parse().unwrap();
    for path in ["/;/admin/x", "/%3b/admin/x"] {
        let (status, _) = raw_get(nginx_addr, path, &[("Cookie", &staff_cookies)]).await;
        assert!(status >= 400, "{path}: {status}");
    }
    assert_eq!(upstream.hits(), hits, "nothing reached the app");
    assert_eq!(
        browser.get(&format!("{public}/admin/x")).await.status(),
        200
    );
}
