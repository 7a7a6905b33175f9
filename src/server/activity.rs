//! Whether a client connection is in use, for the idle timeout: its requests in progress, and
//! when anything last moved on it (a request ended, a frame of a streaming response body was
//! sent, bytes crossed a WebSocket tunnel). Counted where the work happens, with no lock.
//!
//! A connection's [`Activity`] also holds its place among `server.max_connections` and its
//! worker's shutdown watch: a response body or a tunnel that outlives the connection's own task
//! keeps both, so neither escapes the connection limit or graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;

use crate::proxy::Lease;

/// A client connection's place: among `server.max_connections`, and among the connections its
/// worker waits for at shutdown. Held, not read: both are released when it is dropped.
pub(super) struct Place {
    _permit: OwnedSemaphorePermit,
    _stop: watch::Receiver<()>,
}

impl Place {
    pub(super) fn new(permit: OwnedSemaphorePermit, stop: watch::Receiver<()>) -> Self {
        Self {
            _permit: permit,
            _stop: stop,
        }
    }
}

/// See the module documentation.
pub(super) struct Activity {
    /// When the connection was opened; `last_active` counts from here.
    opened: Instant,
    /// Requests whose handler has not returned yet.
    in_flight: AtomicU32,
    /// Milliseconds from `opened` to the last time anything moved.
    last_active: AtomicU64,
    /// Held, not read: released with the last holder of the activity.
    _place: Place,
}

impl Activity {
    pub(super) fn new(place: Place) -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            last_active: AtomicU64::new(0),
            _place: place,
        }
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// A lease for a response body or a tunnel that may outlive the request (see [`Lease`]).
    /// Taken while the request is in progress, whose end then counts as its last progress: no
    /// clock is read here, on every proxied request.
    pub(super) fn lease(self: &Arc<Self>) -> Streaming {
        Streaming(self.clone())
    }

    /// Something moved now.
    fn touch(&self) {
        let since_open = self.opened.elapsed().as_millis() as u64;
        self.last_active.store(since_open, Ordering::Relaxed);
    }

    fn last_active(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_active.load(Ordering::Relaxed))
    }

    /// When the connection will have been idle for `idle`; `None` while a request's handler
    /// runs (its own deadlines bound it: the upstream timeout above all).
    pub(super) fn idle_until(&self, idle: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Relaxed) == 0).then(|| self.last_active() + idle)
    }
}

/// A request in progress on a client connection (see [`Activity::begin`]).
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body or a tunnel of a client connection (see [`Activity::lease`]): while it
/// moves, the connection is not idle; once it has not moved for the idle timeout, it is.
pub(super) struct Streaming(Arc<Activity>);

impl Lease for Streaming {
    fn progressed(&self) {
        self.0.touch();
    }

    fn last_progress(&self) -> Instant {
        self.0.last_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    #[tokio::test(start_paused = true)]
    async fn idle_means_nothing_in_progress_and_nothing_moved() {
        let permit = Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap();
        let (_stop, stop) = watch::channel(());
        let activity = Arc::new(Activity::new(Place::new(permit, stop)));
        let idle = Duration::from_secs(10);
        let opened = Instant::now();
        assert_eq!(activity.idle_until(idle), Some(opened + idle));
        let busy = activity.begin();
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(activity.idle_until(idle), None, "a handler runs");
        drop(busy);
        let ended = Instant::now();
        assert_eq!(activity.idle_until(idle), Some(ended + idle));
        // A streaming body: idle counts from its last frame, not from its start.
        let body = activity.lease();
        tokio::time::advance(Duration::from_secs(8)).await;
        body.progressed();
        assert_eq!(activity.idle_until(idle), Some(Instant::now() + idle));
        assert_eq!(body.last_progress(), Instant::now());
    }
}
