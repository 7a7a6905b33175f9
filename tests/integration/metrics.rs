//! Prometheus metrics on their own listener, under the documented names.

use crate::common::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn metrics_are_served_on_their_own_listener() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let metrics_port = free_port();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = format!(
        "{}\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\n[[rules]]\npath = \"/admin\"\ngroups = [\"nobody\"]\n",
        config(&url, &issuer, &upstream.url, "", "")
    );
    let gateway = Gateway::serve(listener, &toml);
    gateway.wait_ready().await;

    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    assert_eq!(
        browser
            .get(&format!("{}/admin", gateway.url))
            .await
            .status(),
        403
    );
    // A failed sign-in, too.
    browser
        .get(&format!("{}/oauth2/callback?state=x", gateway.url))
        .await;

    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"portcullis_requests_total{route="proxy",status="2xx"}"#,
        r#"portcullis_requests_total{route="auth",status="3xx"}"#,
        r#"portcullis_requests_total{route="health",status="2xx"}"#,
        "portcullis_upstream_duration_seconds_bucket",
        r#"portcullis_logins_total{event="started""#,
        r#"portcullis_logins_total{event="completed""#,
        r#"portcullis_logins_total{event="failed",reason="bad_request"}"#,
        r#"portcullis_jwks_fetches_total{result="ok"}"#,
        r#"portcullis_sessions_created_total{store="cookie"}"#,
        r#"portcullis_denials_total{route="proxy",rule="0"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Not on the gateway's own port.
    let on_gateway = reqwest::get(format!("{}/metrics", gateway.url))
        .await
        .unwrap();
    assert_ne!(on_gateway.status(), 200);
}
