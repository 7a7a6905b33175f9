//! Forwarding to the upstream: HTTP/1.1 over each client connection's own upstream connection
//! ([`Connections`]), bodies streamed both ways, hop-by-hop
//! headers removed both ways, WebSocket upgrades spliced through. Other upgrade protocols (h2c
//! above all) are not: a tunnel would carry requests past the identity headers. Nor is a `101`
//! that is not the WebSocket handshake the client asked for (RFC 6455, section 4.2.2, with the
//! `Sec-WebSocket-Accept` its key calls for): whatever answered it would get a raw tunnel past
//! every check, so the client gets 502 instead.

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{
    CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

mod connections;

pub use connections::Connections;

/// Headers that describe one connection, not the message (RFC 9110, section 7.6.1), and
/// `Upgrade`. Compared as header names: for the standard ones that is an integer comparison.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The chain of client addresses: read from the client's request before its headers are
/// stripped, and set, extended with the client's address, for the upstream.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// How the gateway describes the client to the upstream.
pub struct Forwarded<'a> {
    /// The client's address as text (rendered once per client connection).
    pub peer: &'a HeaderValue,
    /// The `X-Forwarded-For` chain the request arrived with (read before client headers were
    /// stripped), to which the client's address is appended.
    pub prior_for: Option<HeaderValue>,
}

/// The I/O of an upstream connection.
type Io = TokioIo<TcpStream>;

/// An upstream app: where it is, how long it may take, and what `Host` it is sent.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Host and port to connect to.
    pub origin: Authority,
    /// The `Host` the app is sent unless `preserve_host`: its URL's host, and port when the URL
    /// names one.
    pub host: HeaderValue,
    /// Time the upstream has to answer with response headers before the client gets 504.
    pub timeout: Duration,
    /// Time allowed to connect before the client gets 502.
    pub connect_timeout: Duration,
    /// Send the client's `Host` rather than `host`.
    pub preserve_host: bool,
    /// `X-Forwarded-Host`: this fixed value, or the client's `Host` when `None`.
    pub forwarded_host: Option<HeaderValue>,
}

/// The upstream application.
#[derive(Debug)]
pub struct Upstream {
    settings: UpstreamSettings,
    /// A WebSocket tunnel across which nothing has moved for this long is closed
    /// (`server.idle_timeout`).
    idle: Duration,
    /// `X-Forwarded-Proto`: the public scheme.
    proto: Option<HeaderValue>,
}

/// Why a request got no response from the upstream; the caller says so to the client (502 or
/// 504). The cause is logged where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// The upstream refused the connection, broke it, or answered what cannot be passed on.
    Unavailable,
    /// The upstream did not answer in time.
    Timeout,
}

/// Why a request did not get a response from the upstream, as logged.
enum Failure {
    Connect(std::io::Error),
    ConnectTimeout,
    Http(hyper::Error),
}

impl Upstream {
    /// The upstream of `settings`, for a gateway whose public scheme is `public_scheme`, closing
    /// WebSocket tunnels idle for `idle`.
    pub fn new(settings: UpstreamSettings, idle: Duration, public_scheme: &str) -> Self {
        Self {
            settings,
            idle,
            proto: HeaderValue::from_str(public_scheme).ok(),
        }
    }

    /// The upstream's origin (`host:port`).
    pub fn origin(&self) -> &Authority {
        &self.settings.origin
    }

    /// Sends `req` upstream and returns the upstream's response, streaming. The request has been
    /// through [`take_hop_by_hop`] (which gave `upgrade`) and had its identity headers set. It
    /// goes over the client connection's upstream `connections`. The response's body, or the
    /// WebSocket tunnel, holds `lease` for as long as it lives, and reports its progress to it.
    pub async fn forward(
        &self,
        mut req: Request<Body>,
        upgrade: Option<HeaderValue>,
        fwd: &Forwarded<'_>,
        connections: &Connections,
        lease: impl Lease,
    ) -> Result<Response, ProxyError> {
        // The accept key a genuine WebSocket handshake answers with; without a key from the
        // client there is no handshake to answer, and no tunnel.
        let accept = upgrade
            .as_ref()
            .and_then(|_| websocket_accept(req.headers()));
        let upgrade = upgrade.filter(|_| accept.is_some());
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
        // The client's host, as it named it (HTTP/2 clients send :authority instead of Host).
        let client_host = match req.headers().get(HOST) {
            Some(host) => Some(host.clone()),
            None => req
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
        };
        let host = match (&client_host, self.settings.preserve_host) {
            (Some(client), true) => client.clone(),
            _ => self.settings.host.clone(),
        };
        req.headers_mut().insert(HOST, host);
        // Origin form (`/path?query`): what an HTTP/1.1 server expects from a client.
        if req.uri().scheme().is_some() || req.uri().authority().is_some() {
            let path = req
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"));
            *req.uri_mut() = Uri::from(path);
        }
        *req.version_mut() = Version::HTTP_11;
        let headers = req.headers_mut();
        self.set_forwarded(headers, fwd, client_host);
        if let Some(protocol) = &upgrade {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, protocol.clone());
        }

        let started = Instant::now();
        let mut timer = connections.timer(started + self.settings.timeout);
        let outcome = {
            let mut sent = pin!(self.send(connections, req));
            std::future::poll_fn(|cx| match sent.as_mut().poll(cx) {
                Poll::Ready(result) => Poll::Ready(Ok(result)),
                // As `tokio::time::timeout` does: the deadline is checked even when the request
                // used up the task's cooperative budget.
                Poll::Pending => pin!(tokio::task::unconstrained(timer.as_mut()))
                    .poll(cx)
                    .map(Err),
            })
            .await
        };
        connections.put_timer(timer);
        let mut response = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(failure)) => {
                match failure {
                    Failure::Connect(e) => tracing::warn!(error = %e, "upstream connection failed"),
                    Failure::ConnectTimeout => tracing::warn!(
                        timeout_ms = self.settings.connect_timeout.as_millis() as u64,
                        "upstream connection timed out"
                    ),
                    Failure::Http(e) => tracing::warn!(error = %e, "upstream request failed"),
                }
                return Err(ProxyError::Unavailable);
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.settings.timeout.as_millis() as u64,
                    "upstream timed out"
                );
                return Err(ProxyError::Timeout);
            }
        };
        if crate::metrics::installed() {
            metrics::histogram!(crate::metrics::UPSTREAM_DURATION)
                .record(started.elapsed().as_secs_f64());
        }

        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let handshake = accept.is_some_and(|a| is_websocket_handshake(response.headers(), &a));
            if let (Some(client_upgrade), Some(protocol), true) =
                (client_upgrade, upgrade, handshake)
            {
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                tokio::spawn(splice(client_upgrade, upstream_upgrade, lease, self.idle));
                let (mut parts, _) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                parts
                    .headers
                    .insert(CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(UPGRADE, protocol);
                return Ok(Response::from_parts(parts, Body::empty()));
            }
            tracing::warn!("upstream answered 101 without the WebSocket handshake asked for");
            return Err(ProxyError::Unavailable);
        }
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(
            parts,
            Body::new(Leased { body, lease }),
        ))
    }
}

impl Upstream {
    /// Sets `X-Forwarded-For` (the client's chain plus its address), `-Proto` and `-Host` (the
    /// configured one, else `client_host`).
    fn set_forwarded(
        &self,
        headers: &mut HeaderMap,
        fwd: &Forwarded<'_>,
        client_host: Option<HeaderValue>,
    ) {
        // A load balancer in front appends to the chain, so it is kept; apps trust only its
        // right end.
        let prior = fwd
            .prior_for
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty());
        let chain = match prior {
            Some(prior) => {
                let peer = fwd.peer.to_str().unwrap_or("");
                HeaderValue::try_from(format!("{prior}, {peer}")).ok()
            }
            None => Some(fwd.peer.clone()),
        };
        for (name, value) in [
            (X_FORWARDED_FOR, chain),
            (X_FORWARDED_PROTO, self.proto.clone()),
            (
                X_FORWARDED_HOST,
                self.settings.forwarded_host.clone().or(client_host),
            ),
        ] {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
    }

    /// Sends `req` on a kept connection that is free, or on a new one if there is none, or if
    /// the kept one turns out closed before the request was written.
    async fn send(
        &self,
        connections: &Connections,
        mut req: Request<Body>,
    ) -> Result<http::Response<Incoming>, Failure> {
        let origin = &self.settings.origin;
        if let Some(mut sender) = connections.take_ready(origin) {
            let sent = sender.try_send_request(req);
            connections.keep(origin, sender);
            match sent.await {
                Ok(response) => return Ok(response),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(Failure::Http(e.into_error())),
                },
            }
        }
        let mut sender = self.connect(connections).await?;
        let sent = sender.send_request(req);
        connections.keep(origin, sender);
        sent.await.map_err(Failure::Http)
    }

    /// Opens a connection to the upstream, driven by `connections`.
    async fn connect(&self, connections: &Connections) -> Result<SendRequest<Body>, Failure> {
        // An IPv6 literal is bracketed in the authority, not in an address.
        let origin = &self.settings.origin;
        let host = origin.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let address = (host, origin.port_u16().unwrap_or(80));
        let tcp = tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Failure::ConnectTimeout)?
            .map_err(Failure::Connect)?;
        // Requests are written whole; waiting for more to coalesce (Nagle) only adds latency.
        tcp.set_nodelay(true).map_err(Failure::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(Failure::Http)?;
        connections.drive(connection);
        Ok(sender)
    }
}

/// Removes the hop-by-hop headers of a client request, and returns its WebSocket upgrade
/// (`Connection: upgrade` plus `Upgrade: websocket`), if it asks for one. Called before the
/// identity headers are added, so `Connection` cannot name them away.
pub fn take_hop_by_hop(headers: &mut HeaderMap) -> Option<HeaderValue> {
    let wants = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    let websocket = headers
        .get(UPGRADE)
        .filter(|v| wants && v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .cloned();
    remove_hop_by_hop(headers);
    websocket
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names present: most messages carry none, and the list stays empty
    // (no allocation) rather than costing a removal per hop-by-hop name.
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| HOP_BY_HOP.contains(n))
        .cloned()
        .collect();
    doomed.extend(
        connection_tokens(headers)
            // `close` names no header, and hop-by-hop names are already listed: most
            // `Connection` headers (`keep-alive`, `close`, `upgrade`) need no new name.
            .filter(|t| {
                !t.eq_ignore_ascii_case("close")
                    && !HOP_BY_HOP
                        .iter()
                        .any(|h| t.eq_ignore_ascii_case(h.as_str()))
            })
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok()),
    );
    for name in doomed {
        headers.remove(name);
    }
}

/// The comma-separated tokens of the `Connection` header(s), trimmed.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The client connection's claim on being in use, held by a response body or a WebSocket tunnel
/// for as long as it lives and told of its progress: the connection is idle only once nothing
/// has moved for the idle timeout, and keeps its place among the connections until then.
pub trait Lease: Send + Sync + Unpin + 'static {
    /// Data moved.
    fn progressed(&self);
    /// When data last moved (or the lease was taken).
    fn last_progress(&self) -> Instant;
}

/// An upstream response body that holds the client connection's [`Lease`], and tells it of each
/// frame sent on. Boxed into the response's body where the plain body would be: no allocation
/// more than without it. A client that stops reading stops the frames: hyper asks for the next
/// one only once it has room to write it.
struct Leased<L> {
    body: Incoming,
    lease: L,
}

impl<L: Lease> hyper::body::Body for Leased<L> {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::pin::Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &frame {
            this.lease.progressed();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The GUID every `Sec-WebSocket-Accept` is derived with (RFC 6455, section 1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` a server must answer the request's `Sec-WebSocket-Key` with;
/// `None` without exactly one key that is 16 bytes in base64 (RFC 6455, section 4.1).
fn websocket_accept(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use sha1::{Digest, Sha1};
    let mut keys = headers.get_all("sec-websocket-key").iter();
    let key = keys.next().filter(|_| keys.next().is_none())?.as_bytes();
    if STANDARD.decode(key).ok()?.len() != 16 {
        return None;
    }
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    Some(STANDARD.encode(sha.finalize()))
}

/// Whether a `101` answers a WebSocket handshake: `Upgrade: websocket`, `Connection: upgrade`
/// and the `Sec-WebSocket-Accept` the request's key calls for.
fn is_websocket_handshake(headers: &HeaderMap, accept: &str) -> bool {
    let upgrade = headers
        .get(UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let connection = connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"));
    let mut accepts = headers.get_all("sec-websocket-accept").iter();
    let accepted = accepts
        .next()
        .is_some_and(|v| v.as_bytes() == accept.as_bytes())
        && accepts.next().is_none();
    upgrade && connection && accepted
}

/// Copies bytes both ways between an upgraded client and an upgraded upstream connection, until
/// either side closes or nothing has crossed for `idle`. The tunnel holds the client
/// connection's `lease` (its place among the connections) until then.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    lease: impl Lease,
    idle: Duration,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut client = Watched {
        io: TokioIo::new(client),
        lease: &lease,
    };
    let mut upstream = Watched {
        io: TokioIo::new(upstream),
        lease: &lease,
    };
    let mut copy = pin!(tokio::io::copy_bidirectional(&mut client, &mut upstream));
    loop {
        let quiet_until = lease.last_progress() + idle;
        tokio::select! {
            result = copy.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "upgraded connection ended");
                }
                return;
            }
            () = tokio::time::sleep_until(quiet_until) => {
                if lease.last_progress() + idle <= Instant::now() {
                    tracing::debug!("idle upgraded connection closed");
                    return;
                }
            }
        }
    }
}

/// One side of a tunnel, telling the lease of every read: both directions read from one side
/// and write to the other, so reads are all the traffic there is.
struct Watched<'a, I, L> {
    io: I,
    lease: &'a L,
}

impl<I: AsyncRead + Unpin, L: Lease> AsyncRead for Watched<'_, I, L> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.lease.progressed();
        }
        read
    }
}

impl<I: AsyncWrite + Unpin, L: Lease> AsyncWrite for Watched<'_, I, L> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn forwarded_chain() {
        let settings = |forwarded_host| UpstreamSettings {
            origin: Authority::from_static("127.0.0.1:8080"),
            host: HeaderValue::from_static("127.0.0.1:8080"),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            preserve_host: false,
            forwarded_host,
        };
        let public = Some(HeaderValue::from_static("app.example.com"));
        let upstream = Upstream::new(settings(public), Duration::from_secs(1), "https");
        let routed = Upstream::new(settings(None), Duration::from_secs(1), "https");
        let client_host = || Some(HeaderValue::from_static("wiki.example.com"));
        let peer = HeaderValue::from_static("10.0.0.1");
        for (prior, chain) in [
            (Some("203.0.113.9"), "203.0.113.9, 10.0.0.1"),
            (None, "10.0.0.1"),
            (Some(" "), "10.0.0.1"),
        ] {
            let mut h = HeaderMap::new();
            let fwd = Forwarded {
                peer: &peer,
                prior_for: prior.map(HeaderValue::from_static),
            };
            upstream.set_forwarded(&mut h, &fwd, client_host());
            assert_eq!(h["x-forwarded-for"], chain);
            assert_eq!(h["x-forwarded-proto"], "https");
            assert_eq!(h["x-forwarded-host"], "app.example.com");
            routed.set_forwarded(&mut h, &fwd, client_host());
            assert_eq!(h["x-forwarded-host"], "wiki.example.com");
        }
    }

    #[test]
    fn websocket_handshakes() {
        // RFC 6455, section 1.3.
        let mut request = HeaderMap::new();
        request.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        let accept = websocket_accept(&request).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let answer = |upgrade: &'static str, connection: &'static str, accept: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(UPGRADE, HeaderValue::from_static(upgrade));
            h.insert(CONNECTION, HeaderValue::from_static(connection));
            h.insert("sec-websocket-accept", HeaderValue::from_static(accept));
            h
        };
        let good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert!(is_websocket_handshake(
            &answer("websocket", "Upgrade", good),
            &accept
        ));
        assert!(is_websocket_handshake(
            &answer("WebSocket", "keep-alive, upgrade", good),
            &accept
        ));
        assert!(!is_websocket_handshake(
            &answer("websocket", "Upgrade", "wrong"),
            &accept
        ));
        assert!(!is_websocket_handshake(
            &answer("h2c", "Upgrade", good),
            &accept
        ));
        assert!(!is_websocket_handshake(
            &answer("websocket", "close", good),
            &accept
        ));
        assert!(!is_websocket_handshake(&HeaderMap::new(), &accept));
        // Keys that are not 16 bytes of base64, or not one key, call for no handshake at all.
        for key in [
            "",
            "short",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZSE=",
        ] {
            let mut h = HeaderMap::new();
            h.insert("sec-websocket-key", HeaderValue::from_static(key));
            assert_eq!(websocket_accept(&h), None, "{key:?}");
        }
        request.append(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert_eq!(websocket_accept(&request), None);
    }

    #[test]
    fn only_websocket_upgrades_pass() {
        let request = |connection: Option<&'static str>, upgrade: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(UPGRADE, HeaderValue::from_static(upgrade));
            if let Some(c) = connection {
                h.insert(CONNECTION, HeaderValue::from_static(c));
            }
            let taken = take_hop_by_hop(&mut h);
            assert!(h.is_empty(), "{h:?}");
            taken
        };
        assert!(request(None, "websocket").is_none());
        assert_eq!(
            request(Some("keep-alive, Upgrade"), "WebSocket").unwrap(),
            "WebSocket"
        );
        assert!(request(Some("Upgrade, HTTP2-Settings"), "h2c").is_none());
        assert!(request(Some("upgrade"), "tls/1.2").is_none());
    }
}
