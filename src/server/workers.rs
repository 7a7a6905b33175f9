//! Serving connections on worker threads, the way nginx's worker processes do. One accept loop
//! hands each new connection, in turn, to one of `server.worker_threads` threads; each runs its
//! own single-threaded Tokio runtime. A client connection is served by one task there, which
//! also drives the connection's upstream connections ([`Connections`]): an HTTP/1.1 request is
//! handled in one task from its first byte to its last, upstream round trip included, and no
//! request's work moves between cores.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderValue;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Gateway;
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
}

/// How many worker threads `configured` (`server.worker_threads`) means: one per CPU if unset.
pub(super) fn count(configured: Option<usize>) -> usize {
    configured.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How long a client connection may take to send a request's headers, counted from the end of
/// the previous response: idle keep-alive connections close after it (and their upstream
/// connections with them), and so do clients that trickle their headers. Longer than the idle
/// timeout of load balancers in front (60 s for an AWS ALB): they must be the ones to close an
/// idle connection, never the gateway while they reuse it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(75);

/// A connection on its way to a worker: deregistered from the accepting runtime.
type Accepted = (std::net::TcpStream, SocketAddr);

/// The running worker threads.
pub(super) struct Workers {
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
        gateway: impl Fn(ClientConnection) -> Gateway + Clone + Send + 'static,
    ) -> io::Result<Self> {
        let mut workers = Self {
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
                            () = work(connections, gateway) => {}
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
    fn dispatch(&mut self, tcp: TcpStream, peer: SocketAddr) {
        // Responses are written whole; waiting for more to coalesce (Nagle) only adds latency.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        match tcp.into_std() {
            Ok(tcp) => {
                let _ = self.inboxes[self.next].send((tcp, peer));
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
            match listener.accept().await {
                Ok((tcp, peer)) => self.dispatch(tcp, peer),
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
    gateway: impl Fn(ClientConnection) -> Gateway,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    while let Some((tcp, peer)) = connections.recv().await {
        let tcp = match TcpStream::from_std(tcp) {
            Ok(tcp) => tcp,
            Err(e) => {
                tracing::debug!(error = %e, "accepted connection lost");
                continue;
            }
        };
        let (upstream, drive_upstream) = Connections::new();
        let client = ClientConnection {
            peer,
            address: HeaderValue::try_from(peer.ip().to_string())
                .unwrap_or(HeaderValue::from_static("unknown")),
            upstream,
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), gateway(client))
            .into_owned();
        let connection = graceful.watch(connection);
        let served = async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        };
        tokio::spawn(super::joint::run(served, drive_upstream));
    }
    graceful.shutdown().await;
}
