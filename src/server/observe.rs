//! What every request leaves behind: a request id (kept from the client or a load balancer when
//! it is well formed, else made up; sent upstream and back as `X-Request-Id`), one access-log
//! line, and the request counter. Paths are logged without their query, which can hold codes.

use std::time::Instant;

use std::future::Future;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

use super::AppState;
use crate::metrics::RequestCounter;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id taken from a client.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Where a request goes, by its path. A proxied request's `route` label in metrics and logs is
/// its route's name; the others are labelled by their target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// Anything the gateway does not own (labelled `none` if no route takes it).
    Proxy,
    /// `/oauth2/…`.
    Auth,
    /// `/healthz`, `/readyz`.
    Health,
}

impl Target {
    /// Where a request for `path` goes.
    pub(super) fn of(path: &str) -> Self {
        if path.starts_with("/oauth2/") || path.starts_with("/.well-known/portcullis/") {
            Self::Auth
        } else if path == super::HEALTHZ_PATH || path == super::READYZ_PATH {
            Self::Health
        } else {
            Self::Proxy
        }
    }
}

/// `portcullis_requests_total` of the requests no route counts: the gateway's own (`auth`,
/// `health`), and those no route took (`none`). Each route has its own.
pub(super) struct RequestCounters {
    auth: RequestCounter,
    health: RequestCounter,
    none: RequestCounter,
}

impl RequestCounters {
    pub(super) fn register() -> Self {
        Self {
            auth: RequestCounter::register("auth"),
            health: RequestCounter::register("health"),
            none: RequestCounter::register("none"),
        }
    }

    fn of(&self, target: Target) -> &RequestCounter {
        match target {
            Target::Proxy => &self.none,
            Target::Auth => &self.auth,
            Target::Health => &self.health,
        }
    }
}

fn well_formed(id: &HeaderValue) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_REQUEST_ID_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
}

/// A random request id: 32 hex digits.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u128>();
    let mut text = [0u8; 32];
    for (i, c) in text.iter_mut().enumerate() {
        *c = HEX[((n >> (124 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("-"))
}

/// Observes the request while `handle` answers it (told where the request goes; it gives the
/// counter of the route that took the request, if one did).
pub(super) async fn observe<F>(
    app: &AppState,
    mut req: Request,
    handle: impl FnOnce(Request, Target) -> F,
) -> Response
where
    F: Future<Output = (Response, Option<Arc<RequestCounter>>)>,
{
    let id = match req.headers().get(&REQUEST_ID) {
        Some(v) if well_formed(v) => v.clone(),
        _ => new_request_id(),
    };
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let target = Target::of(req.uri().path());
    // Kept only for the access log.
    let logged = app.0.settings.log.access.then(|| {
        let start = Instant::now();
        (start, req.method().clone(), req.uri().path().to_string())
    });
    let (mut response, routed) = handle(req, target).await;
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let status = response.status();
    let counter = routed
        .as_deref()
        .unwrap_or_else(|| app.0.counters.of(target));
    counter.count(status);
    if let Some((start, method, path)) = logged {
        tracing::info!(
            target: "portcullis::access",
            request_id = id.to_str().unwrap_or("-"),
            method = %method,
            path = %path,
            status = status.as_u16(),
            duration_ms = start.elapsed().as_secs_f64() * 1000.0,
            route = counter.route(),
            "request"
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(well_formed(&HeaderValue::from_static("abc-123_x.y:z")));
        assert!(!well_formed(&HeaderValue::from_static("")));
        assert!(!well_formed(&HeaderValue::from_static("a b")));
        assert!(!well_formed(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        assert_eq!(Target::of("/oauth2/start"), Target::Auth);
        assert_eq!(Target::of("/oauth2/anything"), Target::Auth);
        assert_eq!(Target::of("/readyz"), Target::Health);
        assert_eq!(Target::of("/healthz/"), Target::Proxy);
        assert_eq!(Target::of("/oauth2"), Target::Proxy);
        assert_eq!(Target::of("/app"), Target::Proxy);
        let (a, b) = (new_request_id(), new_request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(well_formed(&id));
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit), "{id:?}");
        }
    }
}
