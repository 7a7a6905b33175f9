//! Which HTTP a client connection speaks, and hyper's server for it. HTTP/2 clients without TLS
//! start with the connection preface (prior knowledge, RFC 9113 section 3.3); everything else is
//! HTTP/1.x. The first bytes are peeked at, not read, so the chosen server sees the connection
//! from its first byte, with no buffer in between: an idle HTTP/1.1 connection then costs what
//! hyper's own HTTP/1 server costs (about 11 KB), where serving every connection through a
//! version-sniffing wrapper costs 4 KB more.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::Gateway;

/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How often an HTTP/2 connection is pinged while open, and how long the client has to answer:
/// a peer that is gone (or will not answer) is noticed without waiting for the idle timeout.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(20);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// While a client has sent only part of what tells the protocols apart, it is looked at again
/// after this, then after twice as long each time, up to [`MAX_PEEK_AGAIN`] (until the idle
/// timeout gives up on it): real clients send their first line in one segment, and one that
/// sends a byte and stalls must not cost a wake-up every few milliseconds.
const PEEK_AGAIN: Duration = Duration::from_millis(5);
const MAX_PEEK_AGAIN: Duration = Duration::from_secs(1);

/// Largest header list an HTTP/2 client may send: room for a session in five cookies of 3.8 KB
/// (HTTP/1 requests get hyper's larger buffer).
const HTTP2_MAX_HEADER_LIST: u32 = 64 * 1024;

type Io = TokioIo<TcpStream>;
type H1 = http1::UpgradeableConnection<Io, Gateway>;
type H2 = http2::Connection<Io, Gateway, TokioExecutor>;

/// A client connection being served. Boxed, so that the task holding it stays small whichever
/// protocol it speaks.
pub(super) enum Served {
    Http1(Pin<Box<H1>>),
    Http2(Pin<Box<H2>>),
}

impl Served {
    /// Asks the connection to close once the requests in progress are done (HTTP/2: GOAWAY).
    pub(super) fn graceful_shutdown(&mut self) {
        match self {
            Self::Http1(c) => c.as_mut().graceful_shutdown(),
            Self::Http2(c) => c.as_mut().graceful_shutdown(),
        }
    }
}

impl Future for Served {
    type Output = Result<(), hyper::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Http1(c) => c.as_mut().poll(cx),
            Self::Http2(c) => c.as_mut().poll(cx),
        }
    }
}

/// hyper's servers for both protocols, configured once per worker.
pub(super) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    /// Servers whose connections must send a request's headers within `header_timeout`.
    pub(super) fn new(header_timeout: Duration) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_PING_INTERVAL)
            .keep_alive_timeout(HTTP2_PING_TIMEOUT)
            .max_header_list_size(HTTP2_MAX_HEADER_LIST);
        Self { http1, http2 }
    }

    /// Serves `tcp` with `gateway` in the protocol its first bytes name. `None` if the client
    /// closes (or fails) before it says.
    pub(super) async fn serve(&self, tcp: TcpStream, gateway: Gateway) -> Option<Served> {
        let http2 = speaks_http2(&tcp).await?;
        let io = TokioIo::new(tcp);
        Some(if http2 {
            Served::Http2(Box::pin(self.http2.serve_connection(io, gateway)))
        } else {
            Served::Http1(Box::pin(
                self.http1.serve_connection(io, gateway).with_upgrades(),
            ))
        })
    }
}

/// Whether the client opens with the HTTP/2 preface, from as many of its first bytes as it takes
/// to tell; `None` if it closes first.
async fn speaks_http2(tcp: &TcpStream) -> Option<bool> {
    let mut first = [0u8; PREFACE.len()];
    let mut wait = PEEK_AGAIN;
    loop {
        let n = tcp.peek(&mut first).await.ok()?;
        match verdict(&first[..n]) {
            Some(http2) => return Some(http2),
            None if n == 0 => return None,
            // A prefix of the preface, and no more yet: it stays unread, so wait a little
            // rather than be woken at once for the same bytes. (Boxed: every connection's
            // task would otherwise have room for a timer that almost none of them uses.)
            None => {
                Box::pin(tokio::time::sleep(wait)).await;
                wait = (wait * 2).min(MAX_PEEK_AGAIN);
            }
        }
    }
}

/// HTTP/2 or not from the first bytes, or `None` while they are a prefix of the preface.
fn verdict(first: &[u8]) -> Option<bool> {
    if first.len() >= PREFACE.len() {
        Some(first.starts_with(PREFACE))
    } else if first.is_empty() || PREFACE.starts_with(first) {
        None
    } else {
        Some(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_and_nothing_else_is_http2() {
        assert_eq!(verdict(PREFACE), Some(true));
        assert_eq!(
            verdict(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04"),
            Some(true)
        );
        assert_eq!(verdict(b"GET / HTTP/1.1\r\n"), Some(false));
        // `P` and `PR` could still be either; `PO`, `PU`, `PA` are HTTP/1 methods.
        assert_eq!(verdict(b"P"), None);
        assert_eq!(verdict(b"PRI * HTTP/2"), None);
        assert_eq!(verdict(b"POST / HTTP/1.1"), Some(false));
        assert_eq!(verdict(b"PRI * HTTP/1.1\r\n\r\nxxxxxxx"), Some(false));
        assert_eq!(verdict(b""), None);
    }
}
