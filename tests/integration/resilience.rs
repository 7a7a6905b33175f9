//! Outside systems misbehaving: the issuer down at start, the upstream down or slow; and
//! WebSocket pass-through.

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn gateway_starts_before_its_issuer_and_becomes_ready_without_restart() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| s.down = true);
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::spawn(&issuer, &upstream.url, "", "").await;
    let client = reqwest::Client::new();
    let readyz = format!("{}/readyz", gateway.url);
    assert_eq!(client.get(&readyz).send().await.unwrap().status(), 503);
    assert_eq!(
        client
            .get(format!("{}/healthz", gateway.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Sign-in attempts get a clear 503 page; API calls are still 401.
    let browser = Browser::new();
    let page = browser.get(&format!("{}/", gateway.url)).await;
    assert_eq!(page.status(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("identity provider cannot be reached")
    );
    assert_eq!(
        browser
            .get(&format!("{}/oauth2/start", gateway.url))
            .await
            .status(),
        503
    );
    assert_eq!(
        client
            .get(format!("{}/api", gateway.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    issuer.with(|s| s.down = false);
    gateway.wait_ready().await;
    sign_in(&browser, &gateway).await;
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test]
async fn issuer_naming_another_issuer_is_never_trusted() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    // Configured with a trailing slash: the discovery document's issuer differs by one byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = config(&url, &issuer, &upstream.url, "", "").replace(
        &format!("issuer = \"{}\"", issuer.issuer_url()),
        &format!("issuer = \"{}/\"", issuer.issuer_url()),
    );
    let settings = portcullis::config::from_toml_str(&toml).unwrap();
    let state = portcullis::server::AppState::new(settings).unwrap();
    let err = state.issuer().discover().await.unwrap_err().to_string();
    assert!(err.contains("names issuer"), "{err}");
}

#[tokio::test]
async fn upstream_down_is_502_and_slow_is_504() {
    let issuer = MockIssuer::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let gateway = Gateway::start(&issuer, &closed).await;
    let browser = Browser::new();
    let (response, _) = browser.walk(&format!("{}/", gateway.url)).await;
    assert_eq!(response.status(), 502);
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("127.0.0.1") && !body.contains("refused"),
        "{body}"
    );

    let upstream = MockUpstream::start().await;
    let gateway = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let slow = browser.get(&format!("{}/slow", gateway.url)).await;
    assert_eq!(slow.status(), 504);
}

#[tokio::test]
async fn request_and_response_bodies_pass_through() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let body = "x".repeat(1 << 20);
    let echo: serde_json::Value = browser
        .client
        .put(format!("{}/upload", gateway.url))
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body"].as_str().unwrap().len(), body.len());
}

#[tokio::test]
async fn websockets_pass_through_for_signed_in_users() {
    let (_issuer, _upstream, gateway) = stack().await;
    let ws_url = format!("ws://{}/ws", gateway.addr);

    // Without a session the upgrade is refused.
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    assert!(refused.is_err());

    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let mut request = ws_url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", browser.cookies_for(&gateway.url).parse().unwrap());
    request
        .headers_mut()
        .insert("x-forwarded-user", "mallory".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    let hello = socket.next().await.unwrap().unwrap();
    assert_eq!(
        hello,
        Message::text("hello 6f1c2a52-0000-4000-8000-000000000001")
    );
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo ping")
    );
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn a_hanging_issuer_times_out_into_503s() {
    let issuer = MockIssuer::start().await;
    issuer.with(|s| s.hang = true);
    let upstream = MockUpstream::start().await;
    let gateway = Gateway::spawn(&issuer, &upstream.url, "timeout = \"300ms\"", "").await;
    let browser = Browser::new();
    assert_eq!(
        browser.get(&format!("{}/", gateway.url)).await.status(),
        503
    );
    issuer.with(|s| s.hang = false);
    gateway.wait_ready().await;

    // The token endpoint hangs during a sign-in: a 503 page after the timeout, no session.
    issuer.with(|s| s.hang_token = true);
    let (response, _) = browser.walk(&format!("{}/", gateway.url)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(upstream.hits(), 0);
}
