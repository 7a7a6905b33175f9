//! Prometheus metrics, served on a listener of their own (`[metrics] listen`), never on the
//! gateway's port. Names:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `portcullis_requests_total` | counter | `route` (the route's name; `auth`, `health`, or `none` for requests no route took), `status` (2xx..5xx) |
//! | `portcullis_upstream_duration_seconds` | histogram | |
//! | `portcullis_logins_total` | counter | `event` (started, completed, failed), `reason` |
//! | `portcullis_token_refreshes_total` | counter | `result` (ok, rejected, unavailable) |
//! | `portcullis_jwks_fetches_total` | counter | `result` (ok, error) |
//! | `portcullis_sessions_created_total` | counter | `store` (cookie, redis) |
//! | `portcullis_denials_total` | counter | `route`, `rule` (its index, or `default`) |
//!
//! Recording goes through the `metrics` facade: a no-op until [`install`] runs, and lock-free
//! after (counters and histogram buckets are atomics).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics::Counter;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Requests, by route and status class.
pub const REQUESTS: &str = "portcullis_requests_total";
/// Time to the upstream's response headers.
pub const UPSTREAM_DURATION: &str = "portcullis_upstream_duration_seconds";
/// Sign-ins started, completed, failed (with a reason).
pub const LOGINS: &str = "portcullis_logins_total";
/// Token refreshes by result.
pub const REFRESHES: &str = "portcullis_token_refreshes_total";
/// JWKS fetches by result.
pub const JWKS_FETCHES: &str = "portcullis_jwks_fetches_total";
/// Sessions created, by store.
pub const SESSIONS: &str = "portcullis_sessions_created_total";
/// Requests denied by the rules, by route and rule.
pub const DENIALS: &str = "portcullis_denials_total";

/// Upstream latency buckets, in seconds: sub-millisecond to the default upstream timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];
/// How often histogram samples are folded into buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Labels of the status classes counted.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// `portcullis_requests_total` of one `route` label, registered once so that counting a request
/// is an atomic add, never a lookup.
#[derive(Debug)]
pub struct RequestCounter {
    route: String,
    by_class: [Counter; 5],
}

impl RequestCounter {
    /// The counters of requests labelled `route`.
    pub fn register(route: &str) -> Self {
        Self {
            route: route.to_string(),
            by_class: STATUS_CLASSES.map(|status| {
                metrics::counter!(REQUESTS, "route" => route.to_string(), "status" => status)
            }),
        }
    }

    /// Counts a request answered with `status`.
    pub fn count(&self, status: http::StatusCode) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].increment(1);
    }

    /// The `route` label.
    pub fn route(&self) -> &str {
        &self.route
    }
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls reuse it).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::error!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// Whether the recorder is installed: without it samples go nowhere, and what only feeds them
/// (reading the clock for a duration) can be skipped.
pub fn installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// Serves `/metrics` on `addr` and keeps the histograms folded; returns the tasks.
pub async fn serve(addr: SocketAddr) -> std::io::Result<(SocketAddr, Vec<JoinHandle<()>>)> {
    let Some(handle) = install() else {
        return Err(std::io::Error::other("metrics recorder unavailable"));
    };
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let render = handle.clone();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = render.clone();
            async move { handle.render() }
        }),
    );
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    let upkeep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP_EVERY).await;
            handle.run_upkeep();
        }
    });
    Ok((bound, vec![server, upkeep]))
}

/// Describes the metrics, so `# HELP` lines come out even before the first sample.
pub fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests by route and status class.");
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time until the upstream's response headers."
    );
    metrics::describe_counter!(
        LOGINS,
        "Sign-ins started, completed and failed (by reason)."
    );
    metrics::describe_counter!(REFRESHES, "Token refreshes by result.");
    metrics::describe_counter!(JWKS_FETCHES, "JWKS fetches by result.");
    metrics::describe_counter!(SESSIONS, "Sessions created, by store.");
    metrics::describe_counter!(DENIALS, "Requests denied by the rules, by route and rule.");
}
