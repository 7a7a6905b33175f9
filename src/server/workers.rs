//! Serving connections on worker threads, the way nginx's worker processes do. One accept loop
//! hands each new connection, in turn, to one of `server.worker_threads` threads; each runs its
//! own single-threaded Tokio runtime. A client connection is served by one task there, which
//! also drives the connection's upstream connections ([`Connections`]): an HTTP/1.1 request is
//! handled in one task from its first byte to its last, upstream round trip included, and no
//! request's work moves between cores.
//!
//! Every phase of a client connection has a deadline (`server.idle_timeout`): saying which
//! protocol it speaks, its request headers, and any stretch in which nothing moves on it, between
//! requests or while a response streams ([`Activity`] says what moved), HTTP/1.1 and HTTP/2 alike
//! (an HTTP/2 client that sends its preface and then nothing is closed like an idle HTTP/1.1
//! one); HTTP/2 pings must be answered too. At most `server.max_connections` are open at once,
//! WebSocket tunnels included; past that, new connections wait in the listen queue.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::Gateway;
use super::activity::{Activity, Place};
use super::protocol::{Protocols, Served};
use crate::config::ServerSettings;
use crate::proxy::Connections;

/// The client connection a request came on: handed to the proxy, and set as an extension on
/// requests to the gateway's own routes.
#[derive(Clone)]
pub(super) struct ClientConnection {
    /// The client's address.
    pub(super) peer: SocketAddr,
    /// Its IP address as text, for `X-Forwarded-For`: rendered once per connection.
    pub(super) address: HeaderValue,
    /// The connection's upstream connections.
    pub(super) upstream: Connections,
    /// Whether it is in use (see [`Activity`]).
    pub(super) activity: Arc<Activity>,
}

/// The limits of client connections, from `[server]`.
#[derive(Clone, Copy)]
pub(super) struct Limits {
    idle: Duration,
    max_connections: usize,
}

impl From<&ServerSettings> for Limits {
    fn from(s: &ServerSettings) -> Self {
        Self {
            idle: s.idle_timeout,
            max_connections: s.max_connections,
        }
    }
}

/// How many worker threads `configured` (`server.worker_threads`) means: one per CPU if unset.
pub(super) fn count(configured: Option<usize>) -> usize {
    configured.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How long an idle connection that was asked to close gracefully may take to do so, at most:
/// an HTTP/2 client that never acknowledges the GOAWAY's ping would otherwise keep it.
const MAX_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A connection on its way to a worker: deregistered from the accepting runtime, with its place
/// among `server.max_connections`.
type Accepted = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// The running worker threads.
pub(super) struct Workers {
    /// Places for client connections: one is taken per connection, until it closes.
    places: Arc<Semaphore>,
    inboxes: Vec<mpsc::UnboundedSender<Accepted>>,
    /// Dropped to stop the workers at once, connections and all (also when the server future is
    /// itself dropped).
    kill: Vec<oneshot::Sender<()>>,
    done: Vec<oneshot::Receiver<()>>,
    next: usize,
}

impl Workers {
    /// Starts `count` workers; `gateway` gives the service for each client connection.
    pub(super) fn start(
        count: usize,
        limits: Limits,
        gateway: impl Fn(ClientConnection) -> Gateway + Clone + Send + 'static,
    ) -> io::Result<Self> {
        let mut workers = Self {
            places: Arc::new(Semaphore::new(limits.max_connections)),
            inboxes: Vec::with_capacity(count),
            kill: Vec::with_capacity(count),
            done: Vec::with_capacity(count),
            next: 0,
        };
        for index in 0..count {
            let (inbox, connections) = mpsc::unbounded_channel();
            let (kill, killed) = oneshot::channel::<()>();
            let (finished, done) = oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let gateway = gateway.clone();
            std::thread::Builder::new()
                .name(format!("portcullis-worker-{index}"))
                .spawn(move || {
                    runtime.block_on(async {
                        tokio::select! {
                            () = work(connections, limits, gateway) => {}
                            _ = killed => {}
                        }
                    });
                    // Dropping the runtime ends whatever it still runs (upgraded connections).
                    drop(runtime);
                    let _ = finished.send(());
                })?;
            workers.inboxes.push(inbox);
            workers.kill.push(kill);
            workers.done.push(done);
        }
        Ok(workers)
    }

    /// Hands a newly accepted connection to the next worker in turn.
    fn dispatch(&mut self, tcp: TcpStream, peer: SocketAddr, place: OwnedSemaphorePermit) {
        // Responses are written whole; waiting for more to coalesce (Nagle) only adds latency.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        match tcp.into_std() {
            Ok(tcp) => {
                let _ = self.inboxes[self.next].send((tcp, peer, place));
                self.next = (self.next + 1) % self.inboxes.len();
            }
            Err(e) => tracing::debug!(error = %e, "accepted connection lost"),
        }
    }

    /// Accepts connections on `listener` and hands them out, for as long as it is polled. Errors
    /// that name one failed connection are skipped; others (out of file descriptors) pause
    /// accepting for a second rather than spin.
    pub(super) async fn accept(&mut self, listener: &TcpListener) {
        loop {
            // At the limit, connections wait in the kernel's listen queue until one closes.
            let Ok(place) = self.places.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((tcp, peer)) => self.dispatch(tcp, peer, place),
                // The client gave up before we took the connection: nothing to do.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                // Out of file descriptors or memory: retrying at once would spin.
                Err(e) => {
                    tracing::error!(error = %e, "cannot accept connections");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Stops handing out connections and lets the workers finish the requests in flight (idle
    /// connections close at once) for at most `grace`; then drops what is left. Returns whether
    /// everything finished in time.
    pub(super) async fn shutdown(self, grace: Duration) -> bool {
        drop(self.inboxes);
        let deadline = Instant::now() + grace;
        let mut in_time = true;
        let mut late = Vec::new();
        for mut done in self.done {
            if in_time && tokio::time::timeout_at(deadline, &mut done).await.is_ok() {
                continue;
            }
            in_time = false;
            late.push(done);
        }
        drop(self.kill);
        for done in late {
            let _ = done.await;
        }
        in_time
    }
}

/// One worker: serves the connections it is handed until the accept loop stops, then shuts them
/// down gracefully.
async fn work(
    mut connections: mpsc::UnboundedReceiver<Accepted>,
    limits: Limits,
    gateway: impl Fn(ClientConnection) -> Gateway,
) {
    // Every connection task holds a receiver: `closed` completes once they have all ended.
    let (stop, stopped) = watch::channel(());
    let protocols = Arc::new(Protocols::new(limits.idle));
    while let Some((tcp, peer, place)) = connections.recv().await {
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(error = %e, "accepted connection lost");
                continue;
            }
        };
        let (upstream, drive_upstream) = Connections::new();
        let activity = Arc::new(Activity::new(Place::new(place, stopped.clone())));
        let client = ClientConnection {
            peer,
            address: HeaderValue::try_from(peer.ip().to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            upstream,
            activity: activity.clone(),
        };
        // Both boxed, and so stored once: a future keeps room for its arguments for as long as
        // it lives, and the joint task keeps room for its argument beside the local it moves it
        // into; every idle connection would pay for all of that. The protocol is chosen in a
        // box of its own, freed once it is.
        let (protocols, gateway) = (protocols.clone(), gateway(client));
        let choose = Box::pin(async move { protocols.serve(tcp, gateway).await });
        let served = Box::pin(serve(choose, activity, limits.idle, stopped.clone()));
        tokio::spawn(super::joint::run(served, drive_upstream));
    }
    // Idle connections close at once, the others after their requests in flight.
    drop(stopped);
    let _ = stop.send(());
    stop.closed().await;
}

/// Serves one client connection until it ends: closed gracefully (requests in progress finish,
/// HTTP/2 gets a GOAWAY) once nothing has moved on it for `idle`, or when the worker stops.
/// Once asked to close, a connection on which nothing moves for a little while (`idle`, at most
/// [`MAX_CLOSE_GRACE`]) is dropped: an HTTP/2 client that never acknowledges the GOAWAY, or one
/// that stopped reading its response, holds nothing.
async fn serve(
    mut choose: Pin<Box<impl Future<Output = Option<Served>> + Send>>,
    activity: Arc<Activity>,
    idle: Duration,
    mut stop: watch::Receiver<()>,
) {
    // Moved forward lazily: the timer is looked at when it fires, not on every request. A
    // client that never says which protocol it speaks is idle too.
    let timer = tokio::time::sleep(idle);
    let mut timer = std::pin::pin!(timer);
    let chosen = tokio::select! {
        biased;
        chosen = choose.as_mut() => chosen,
        () = timer.as_mut() => None,
        _ = stop.changed() => None,
    };
    drop(choose);
    let Some(mut connection) = chosen else {
        return;
    };
    let grace = idle.min(MAX_CLOSE_GRACE);
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            result = &mut connection => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !closing => {
                connection.graceful_shutdown();
                closing = true;
                timer.as_mut().reset(Instant::now() + grace);
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                let window = if closing { grace } else { idle };
                match activity.idle_until(window) {
                    None => timer.as_mut().reset(now + window),
                    Some(until) if until > now => timer.as_mut().reset(until),
                    Some(_) if closing => {
                        tracing::debug!("connection dropped: nothing moved after it was asked to close");
                        break;
                    }
                    Some(_) => {
                        tracing::debug!("idle connection closed");
                        connection.graceful_shutdown();
                        closing = true;
                        timer.as_mut().reset(now + grace);
                    }
                }
            }
        }
    }
}
