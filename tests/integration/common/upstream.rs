//! A mock upstream app: echoes every request as JSON (method, path, headers, body, and the
//! address of the connection it came on), offers a
//! WebSocket echo at `/ws`, a `/slow` route that never answers, a `/close` route that closes
//! its connection after answering, a `/cacheable` page that shared caches may keep, and a
//! `/drip` body that sends `start `, then `tick ` each time `release` is notified, and ends
//! after three.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

/// A running upstream; `hits` counts requests it received.
pub struct MockUpstream {
    pub url: String,
    pub hits: Arc<Mutex<usize>>,
    /// `/hold` answers only once `release` is notified; `arrived` tells that one came in.
    pub arrived: Arc<tokio::sync::Notify>,
    pub release: Arc<tokio::sync::Notify>,
}

impl MockUpstream {
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0").await
    }

    /// Like [`start`](Self::start), listening on `address`.
    pub async fn start_at(address: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(0));
        let counter = hits.clone();
        let arrived = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let (a, r) = (arrived.clone(), release.clone());
        let drip = release.clone();
        let app = Router::new()
            .route(
                "/hold",
                get(move || async move {
                    a.notify_one();
                    r.notified().await;
                    "released"
                }),
            )
            .route("/ws", get(ws))
            .route("/slow", get(std::future::pending::<&'static str>))
            .route(
                "/drip",
                get(move || {
                    let release = drip.clone();
                    async move {
                        let halves = futures_util::stream::unfold(0, move |half| {
                            let release = release.clone();
                            async move {
                                match half {
                                    0 => Some((Ok::<_, std::convert::Infallible>("start "), 1)),
                                    1..=3 => {
                                        release.notified().await;
                                        Some((Ok("tick "), half + 1))
                                    }
                                    _ => None,
                                }
                            }
                        });
                        axum::body::Body::from_stream(halves)
                    }
                }),
            )
            .route(
                "/cacheable",
                get(|| async {
                    (
                        [(axum::http::header::CACHE_CONTROL, "public, max-age=600")],
                        "the same for everyone",
                    )
                }),
            )
            // Answers, then closes the connection (as an app's keep-alive timeout does).
            .route(
                "/close",
                get(|| async { ([(axum::http::header::CONNECTION, "close")], "closing") }),
            )
            .fallback(
                move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                      method: Method,
                      uri: Uri,
                      headers: HeaderMap,
                      body: Bytes| {
                    *counter.lock().unwrap() += 1;
                    echo(peer, method, uri, headers, body)
                },
            );
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        Self {
            url,
            hits,
            arrived,
            release,
        }
    }

    pub fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

async fn echo(
    peer: SocketAddr,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Json<serde_json::Value> {
    let mut h: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        h.entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": h,
        "body": String::from_utf8_lossy(&body),
        "peer": peer.to_string(),
    }))
}

async fn ws(upgrade: WebSocketUpgrade, headers: HeaderMap) -> Response {
    let user = headers
        .get("x-forwarded-user")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    upgrade
        .on_upgrade(move |mut socket| async move {
            let _ = socket
                .send(Message::Text(format!("hello {user}").into()))
                .await;
            while let Some(Ok(msg)) = socket.recv().await {
                if let Message::Text(t) = msg {
                    if socket
                        .send(Message::Text(format!("echo {t}").into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        })
        .into_response()
}

/// The single value of header `name` in an echo, if present.
pub fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    let values = echo["headers"][name].as_array()?;
    assert_eq!(
        values.len(),
        1,
        "{name} sent {} times: {values:?}",
        values.len()
    );
    values[0].as_str()
}

/// Checks that an echo carries the default test user's identity (the mock issuer's alice).
pub fn assert_alice(echo: &serde_json::Value) {
    for (name, value) in [
        ("x-forwarded-user", "6f1c2a52-0000-4000-8000-000000000001"),
        ("x-forwarded-email", "alice@example.com"),
        ("x-forwarded-groups", "admins,staff"),
        ("x-roles", "authp/admin,authp/user"),
    ] {
        assert_eq!(header(echo, name), Some(value), "{name}");
    }
}
