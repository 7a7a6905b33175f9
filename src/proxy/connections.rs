//! Upstream connections, one set per client connection. The first request of a client
//! connection that goes upstream opens an HTTP/1.1 connection to the app, and its next requests
//! reuse it (HTTP/2 clients, with requests in parallel, get one per request in flight, kept
//! likewise). Those connections are driven by the client connection's own task, next to it:
//! for an HTTP/1.1 client, a request, its upstream round trip and its response never leave one
//! task (and one thread), where a shared pool hands every request to the pooled connection's
//! task and back. They close with the client connection, or sooner if the app closes them (its
//! keep-alive timeout).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use axum::body::Body;
use futures_util::task::AtomicWaker;
use http::uri::Authority;
use hyper::client::conn::http1::{self, SendRequest};
use tokio::time::{Instant, Sleep};

/// An upstream connection's I/O, driven until the app or the gateway closes it.
type Link = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// The upstream connections of one client connection. Cheap to clone; only the requests of that
/// client connection use it, so its lock is never contended.
#[derive(Clone)]
pub struct Connections(Arc<Mutex<Inner>>);

/// Most upstream connections a client connection keeps.
const MAX_KEPT: usize = 8;

struct Inner {
    /// Connections kept for the next requests, by the upstream they go to: free, or carrying
    /// a response. A client connection may reach several routes' upstreams.
    kept: Vec<(Authority, SendRequest<Body>)>,
    /// Newly opened connections, to the task that drives them.
    links: Arc<Links>,
    /// The upstream timeout's timer, kept for the next request (see [`Connections::timer`]).
    timer: Option<Pin<Box<Sleep>>>,
}

/// Newly opened connections on their way to the driving future, which holds this and not the
/// set: the set (and the senders it keeps) goes with the client connection. A plain list, not a
/// channel: every client connection has one, and most idle ones never open an upstream
/// connection, so it must cost a few words, not a channel's block of slots.
#[derive(Default)]
struct Links {
    opened: Mutex<Vec<Link>>,
    driver: AtomicWaker,
    /// The set is gone: no more connections will come.
    closed: AtomicBool,
}

impl Links {
    fn wake(&self) {
        self.driver.wake();
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.links.closed.store(true, Ordering::Release);
        self.links.wake();
    }
}

impl Connections {
    /// A set for a new client connection, and the future that drives its upstream connections:
    /// run it in the client connection's task, alongside the connection. It ends once the set is
    /// dropped and its connections are closed.
    pub fn new() -> (Self, impl Future<Output = ()> + Send) {
        let links = Arc::new(Links::default());
        let connections = Self(Arc::new(Mutex::new(Inner {
            kept: Vec::new(),
            links: links.clone(),
            timer: None,
        })));
        (connections, drive(links))
    }

    /// A kept connection to `origin` free for a request; those the app has closed are let go.
    pub(super) fn take_ready(&self, origin: &Authority) -> Option<SendRequest<Body>> {
        let mut inner = self.lock();
        inner.kept.retain(|(_, s)| !s.is_closed());
        let free = inner
            .kept
            .iter()
            .position(|(to, s)| s.is_ready() && to == origin)?;
        Some(inner.kept.swap_remove(free).1)
    }

    /// Keeps `sender` (a connection to `origin`) for the next requests. When enough are kept
    /// already, the oldest one goes (it closes once its response is done): the client is more
    /// likely to ask the app it asked last.
    pub(super) fn keep(&self, origin: &Authority, sender: SendRequest<Body>) {
        let mut inner = self.lock();
        if sender.is_closed() {
            return;
        }
        if inner.kept.len() >= MAX_KEPT {
            inner.kept.remove(0);
        }
        inner.kept.push((origin.clone(), sender));
    }

    /// A timer for one request's upstream round trip, due at `deadline`; give it back with
    /// [`put_timer`](Self::put_timer). The client connection's timer is reused, and stays
    /// registered between requests. A timer due sooner than everything else on the worker's
    /// timer wheel makes Tokio wake the worker's event loop at once, to shorten its sleep: with a
    /// fresh timer per request that happened on most requests (an eventfd write and an extra
    /// epoll round). A timer moved later never does. Requests in parallel (HTTP/2) get timers of
    /// their own.
    pub(super) fn timer(&self, deadline: Instant) -> Pin<Box<Sleep>> {
        match self.lock().timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Keeps `timer` for the next request. If it fires before then, it only wakes the client
    /// connection's task, once, for nothing.
    pub(super) fn put_timer(&self, timer: Pin<Box<Sleep>>) {
        self.lock().timer.get_or_insert(timer);
    }

    /// Hands a newly opened connection's I/O to the driving task.
    pub(super) fn drive(&self, connection: http1::Connection<super::Io, Body>) {
        let link: Link = Box::pin(connection.with_upgrades());
        let links = self.lock().links.clone();
        lock(&links.opened).push(link);
        links.wake();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.0)
    }
}

/// Locks `mutex`; its holders only move values in and out, so a panic cannot leave it half-done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drives every connection opened through `links` until each closes and no more can come.
/// Each wake-up polls them all: a client connection has one upstream connection at a time
/// (HTTP/2 clients may have a few), so a plain list beats any bookkeeping of which one woke.
async fn drive(links: Arc<Links>) {
    let mut running: Vec<Link> = Vec::new();
    std::future::poll_fn(|cx| {
        links.driver.register(cx.waker());
        // Read before the list: a connection handed over before the set closed is in it.
        let more = !links.closed.load(Ordering::Acquire);
        running.append(&mut lock(&links.opened));
        running.retain_mut(|link| match link.as_mut().poll(cx) {
            Poll::Ready(result) => {
                log(result);
                false
            }
            Poll::Pending => true,
        });
        if more || !running.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
}

fn log(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "upstream connection ended with an error");
    }
}
