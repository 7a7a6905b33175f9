//! How the app behind the gateway reads what it is sent: split HTTP/2 cookies, headers that name
//! another method or path, responses a shared cache could keep with a user's cookie, and `101`
//! answers that are not the WebSocket handshake the client asked for.

use crate::common::upstream::header;
use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn http2_cookie_fields_reach_the_app_as_one_header() {
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let public = "[[rules]]\npath = \"/\"\npublic = true\n";
    let gateway = Gateway::start_with(&issuer, &upstream.url, "", public).await;
    // No gateway cookie among them: before, the fields went through as they came.
    let response = client
        .get(format!("{}/page", gateway.url))
        .header("Cookie", "a=1")
        .header("Cookie", "b=2; c=3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let echo: serde_json::Value = response.json().await.unwrap();
    assert_eq!(header(&echo, "cookie"), Some("a=1; b=2; c=3"));
}

#[tokio::test]
async fn headers_that_name_another_request_are_stripped() {
    let (_issuer, _upstream, gateway) = stack().await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let mut request = browser.client.get(format!("{}/page", gateway.url));
    let spoofed = [
        "X-HTTP-Method-Override",
        "x-http-method",
        "X_Method_Override",
        "X-Original-URL",
        "x.original.uri",
        "X-Rewrite-Url",
    ];
    for name in spoofed {
        request = request.header(name, "DELETE /admin");
    }
    let echo: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    let sent: Vec<&String> = echo["headers"].as_object().unwrap().keys().collect();
    for name in spoofed {
        let folded = name.to_ascii_lowercase().replace(['_', '.'], "-");
        assert!(
            !sent.iter().any(|h| h.replace(['_', '.'], "-") == folded),
            "{name} reached the app: {sent:?}"
        );
    }
}

#[tokio::test]
async fn responses_carrying_a_refreshed_session_are_private() {
    let (issuer, _upstream, gateway) = stack().await;
    // Tokens from now on are due for refresh at once: every request saves the session.
    issuer.with(|s| s.backdate = 3500);
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let response = browser.get(&format!("{}/cacheable", gateway.url)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_some());
    assert_eq!(response.headers()["cache-control"], "private, max-age=600");
    // Without a cookie to carry, the app's own caching stands.
    issuer.with(|s| s.backdate = 0);
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let response = browser.get(&format!("{}/cacheable", gateway.url)).await;
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["cache-control"], "public, max-age=600");
}

/// An upstream that answers every request on every connection with `answer`, then sends
/// `after` as if a tunnel had opened.
async fn fake_upstream(answer: &'static str, after: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tcp.write_all(answer.as_bytes()).await;
                let _ = tcp.write_all(after).await;
                // Hold the connection open, as a tunnel would be.
                let _ = tcp.read(&mut buf).await;
            });
        }
    });
    url
}

/// Sends a WebSocket handshake (or, with `key` `None`, a plain GET) through the gateway and
/// returns the status line's code and everything that came back.
async fn through(gateway: &Gateway, cookie: &str, key: Option<&str>) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n",
        gateway.addr
    );
    if let Some(key) = key {
        request.push_str(&format!(
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
        ));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

#[tokio::test]
async fn only_a_real_websocket_handshake_opens_a_tunnel() {
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    let issuer = MockIssuer::start().await;
    for (answer, with_key) in [
        // The wrong accept key for the client's.
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
            true,
        ),
        // No accept key at all.
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            true,
        ),
        // Another protocol than the one asked for.
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            true,
        ),
        // A 101 to a request that asked for no upgrade.
        (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            false,
        ),
    ] {
        let upstream = fake_upstream(answer, b"raw bytes past every check").await;
        let gateway = Gateway::start(&issuer, &upstream).await;
        let browser = Browser::new();
        let (response, _) = browser.walk(&format!("{}/", gateway.url)).await;
        assert_eq!(
            response.status(),
            502,
            "the fake app answers 101 to the sign-in's landing too"
        );
        let cookie = browser.cookies_for(&gateway.url);
        let (status, text) = through(&gateway, &cookie, with_key.then_some(KEY)).await;
        assert_eq!(status, 502, "{answer:?}: {text}");
        assert!(!text.contains("raw bytes"), "{text}");
    }
    // The genuine handshake still opens the tunnel.
    let upstream = fake_upstream(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        b"frames",
    )
    .await;
    let gateway = Gateway::start(&issuer, &upstream).await;
    let browser = Browser::new();
    browser.walk(&format!("{}/", gateway.url)).await;
    let cookie = browser.cookies_for(&gateway.url);
    let (status, _) = through(&gateway, &cookie, Some(KEY)).await;
    assert_eq!(status, 101);
}

/// A gateway whose `[server]` section has `server_extra` too.
async fn gateway_with_server(server_extra: &str) -> (MockIssuer, MockUpstream, Gateway) {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = config(&url, &issuer, &upstream.url, "", "")
        .replace("[server]\n", &format!("[server]\n{server_extra}\n"));
    let gateway = Gateway::serve(listener, &toml);
    gateway.wait_ready().await;
    (issuer, upstream, gateway)
}

/// Reads from `tcp` until the gateway closes it; fails if that takes longer than 10 s.
async fn closed_by_gateway(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read_all)
        .await
        .expect("the gateway kept the connection open");
    seen
}

#[tokio::test]
async fn idle_http2_and_http1_connections_are_closed() {
    let (_issuer, _upstream, gateway) = gateway_with_server("idle_timeout = \"1s\"").await;
    // HTTP/2: the preface and an empty SETTINGS frame, then nothing.
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let frames = closed_by_gateway(&mut tcp).await;
    // The gateway says goodbye (a GOAWAY frame, type 7) before it closes.
    assert!(
        frames.windows(4).any(|w| w[3] == 7 && w[0] == 0),
        "no GOAWAY in {frames:?}"
    );
    // HTTP/1.1: one request, then a kept-alive connection with nothing more on it.
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_gateway(&mut tcp).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // A connection that never sends a byte.
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    assert!(closed_by_gateway(&mut tcp).await.is_empty());
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_as_a_whole() {
    let (_issuer, _upstream, gateway) = gateway_with_server("body_timeout = \"1s\"").await;
    let mut tcp = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    tcp.write_all(
        b"POST /oauth2/backchannel_logout HTTP/1.1\r\nHost: x\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
    )
    .await
    .unwrap();
    // One byte every 200 ms: every read succeeds, the whole never arrives.
    let (mut reader, mut writer) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        for _ in 0..100 {
            tick.tick().await;
            if writer.write_all(b"l").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed without an answer");
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the trickled body held the request");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    trickle.abort();
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_place() {
    let (_issuer, _upstream, gateway) = gateway_with_server("max_connections = 1").await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut first = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    first.write_all(request).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The second is accepted by the kernel, but not served while the first is open.
    let mut second = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    second.write_all(request).await.unwrap();
    let waiting =
        tokio::time::timeout(std::time::Duration::from_millis(500), second.read(&mut buf));
    assert!(waiting.await.is_err(), "served past max_connections");
    drop(first);
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), second.read(&mut buf))
        .await
        .expect("not served once a place was free")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn a_response_body_that_moves_keeps_its_connection_and_one_that_stalls_does_not() {
    let (_issuer, upstream, gateway) = gateway_with_server("idle_timeout = \"1s\"").await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    // A body that moves every 800 ms, for longer than the idle timeout and the grace after it
    // together: the connection is in use all along. (The pauses are the app's pace here.)
    let mut response = browser.get(&format!("{}/drip", gateway.url)).await;
    let mut body = Vec::new();
    body.extend_from_slice(&response.chunk().await.unwrap().unwrap());
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        upstream.release.notify_one();
        body.extend_from_slice(&response.chunk().await.unwrap().unwrap());
    }
    assert!(response.chunk().await.unwrap().is_none());
    assert_eq!(body, b"start tick tick tick ");
    // A body that stops: after the idle timeout and the grace, the connection is let go, as a
    // proxy's read timeout would (an app that streams sends something more often than that).
    let mut response = browser.get(&format!("{}/drip", gateway.url)).await;
    assert_eq!(response.chunk().await.unwrap().unwrap(), "start ");
    let cut = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk()).await;
    assert!(cut.expect("the stalled body held the connection").is_err());
}

#[tokio::test]
async fn a_websocket_tunnel_keeps_its_place_and_closes_when_idle() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_issuer, _upstream, gateway) =
        gateway_with_server("idle_timeout = \"1s\"\nmax_connections = 1").await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    // The browser's kept-alive connection closes as idle, and gives its place back.
    let mut request = format!("ws://{}/ws", gateway.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", browser.cookies_for(&gateway.url).parse().unwrap());
    let connect = tokio_tungstenite::connect_async(request);
    let (mut socket, _) = tokio::time::timeout(std::time::Duration::from_secs(10), connect)
        .await
        .expect("no place freed for the tunnel")
        .unwrap();
    assert!(socket.next().await.unwrap().is_ok(), "the app's hello");
    // The tunnel holds the only place: another connection is not served meanwhile.
    let mut other = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let waiting = tokio::time::timeout(std::time::Duration::from_millis(300), other.read(&mut buf));
    assert!(
        waiting.await.is_err(),
        "served past max_connections beside a tunnel"
    );
    // Nothing crosses the tunnel: it closes after the idle timeout, and the place is free.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(Ok(_)) = socket.next().await {}
    });
    ended.await.expect("the idle tunnel stayed open");
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), other.read(&mut buf))
        .await
        .expect("not served once the tunnel closed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}
