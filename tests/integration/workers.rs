//! Worker threads and upstream connections: client connections are handed to the workers in
//! turn, and each client connection gets an upstream connection of its own, kept for its next
//! requests.

use std::collections::HashSet;

use crate::common::upstream::assert_alice;
use crate::common::*;

/// Signs the default user in at `gw` and returns the session's `Cookie` header.
async fn session_cookie(gw: &Gateway) -> String {
    let browser = Browser::new();
    sign_in(&browser, gw).await;
    browser.cookies_for(&gw.url)
}

/// `GET path` at `gw` with `cookie`, on `client`'s connection.
async fn get(
    client: &reqwest::Client,
    gw: &Gateway,
    cookie: &str,
    path: &str,
) -> reqwest::Response {
    client
        .get(format!("{}{path}", gw.url))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_client_connection_keeps_an_upstream_connection_of_its_own() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = config(&url, &issuer, &upstream.url, "", "")
        .replace("[server]\n", "[server]\nworker_threads = 3\n");
    let gw = Gateway::serve(listener, &toml);
    gw.wait_ready().await;
    let cookie = session_cookie(&gw).await;

    // Three clients, one connection each, taking turns (their connections land on the three
    // workers): each client connection's requests reuse the upstream connection it opened.
    let clients: Vec<reqwest::Client> = (0..3).map(|_| reqwest::Client::new()).collect();
    let mut peers = vec![HashSet::new(); clients.len()];
    for _ in 0..3 {
        for (client, seen) in clients.iter().zip(&mut peers) {
            let echo: serde_json::Value = get(client, &gw, &cookie, "/app")
                .await
                .json()
                .await
                .unwrap();
            assert_alice(&echo);
            seen.insert(echo["peer"].as_str().unwrap().to_string());
        }
    }
    assert!(peers.iter().all(|p| p.len() == 1), "{peers:?}");
    // One shared pool would have carried these strictly sequential requests on one connection.
    let all: HashSet<&String> = peers.iter().flatten().collect();
    assert_eq!(all.len(), 3, "{peers:?}");
}

#[tokio::test]
async fn a_request_after_the_app_closed_the_upstream_connection_gets_a_new_one() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gw = Gateway::start(&issuer, &upstream.url).await;
    let cookie = session_cookie(&gw).await;
    let client = reqwest::Client::new();
    let first: serde_json::Value = get(&client, &gw, &cookie, "/before")
        .await
        .json()
        .await
        .unwrap();
    let closing = get(&client, &gw, &cookie, "/close").await;
    assert_eq!(closing.status(), 200);
    assert_eq!(closing.text().await.unwrap(), "closing");
    for _ in 0..3 {
        let echo: serde_json::Value = get(&client, &gw, &cookie, "/after")
            .await
            .json()
            .await
            .unwrap();
        assert_alice(&echo);
        assert_ne!(
            echo["peer"], first["peer"],
            "the closed connection was reused"
        );
    }
}

#[tokio::test]
async fn a_request_after_an_upstream_timeout_gets_a_fresh_connection() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gw = Gateway::start(&issuer, &upstream.url).await;
    let cookie = session_cookie(&gw).await;
    // One client connection: the timed-out request's upstream connection is abandoned, and the
    // next request must not wait on it or fail with it. The connection's timer is reused from
    // request to request: it must time out the slow requests, each time, and only those.
    let client = reqwest::Client::new();
    assert_eq!(get(&client, &gw, &cookie, "/before").await.status(), 200);
    for _ in 0..2 {
        assert_eq!(get(&client, &gw, &cookie, "/slow").await.status(), 504);
        for _ in 0..3 {
            let response = get(&client, &gw, &cookie, "/after").await;
            assert_eq!(response.status(), 200);
            assert_alice(&response.json().await.unwrap());
        }
    }
}

#[tokio::test]
async fn an_upstream_at_an_ipv6_address_is_reached() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start_at("[::1]:0").await;
    assert!(
        upstream.url.starts_with("http://[::1]:"),
        "{}",
        upstream.url
    );
    let gw = Gateway::start(&issuer, &upstream.url).await;
    let browser = Browser::new();
    let echo = sign_in(&browser, &gw).await;
    assert_alice(&echo);
}

#[tokio::test]
async fn parallel_requests_of_one_http2_client_each_get_an_upstream_connection() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gw = Gateway::start(&issuer, &upstream.url).await;
    let cookie = session_cookie(&gw).await;
    // One HTTP/2 connection (prior knowledge), several requests at once, twice over.
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let mut peers = HashSet::new();
    for _ in 0..2 {
        let paths: Vec<String> = (0..4).map(|i| format!("/parallel/{i}")).collect();
        let requests = paths.iter().map(|p| get(&client, &gw, &cookie, p));
        for response in futures_util::future::join_all(requests).await {
            assert_eq!(response.version(), reqwest::Version::HTTP_2);
            let echo: serde_json::Value = response.json().await.unwrap();
            assert_alice(&echo);
            peers.insert(echo["peer"].as_str().unwrap().to_string());
        }
    }
    // The second round reuses the connections the first opened (at most one per request).
    assert!(peers.len() <= 4, "{peers:?}");
}
