//! Worker threads: connections are handed out in turn, and each worker keeps its own upstream
//! connections, so a request never waits on another thread's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::upstream::assert_alice;
use common::*;

#[tokio::test]
async fn each_worker_serves_its_connections_over_its_own_upstream_connections() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = config(&url, &issuer, &upstream.url, "", "")
        .replace("[server]\n", "[server]\nworker_threads = 3\n");
    let gw = Gateway::serve(listener, &toml);
    gw.wait_ready().await;
    let browser = Browser::new();
    sign_in(&browser, &gw).await;
    let cookie = browser.cookies_for(&gw.url);

    // Three clients, one connection each, taking turns: the three connections land on the three
    // workers, and each worker reuses the one upstream connection it opened.
    let clients: Vec<reqwest::Client> = (0..3).map(|_| reqwest::Client::new()).collect();
    let mut peers = HashSet::new();
    for _ in 0..3 {
        for client in &clients {
            let echo: serde_json::Value = client
                .get(format!("{}/app", gw.url))
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_alice(&echo);
            peers.insert(echo["peer"].as_str().unwrap().to_string());
        }
    }
    // One shared pool would have carried these strictly sequential requests on one connection.
    assert_eq!(peers.len(), 3, "{peers:?}");
}
