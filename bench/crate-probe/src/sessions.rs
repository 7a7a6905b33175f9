//! What tower-sessions 0.15.0 does on each request, counted: store loads and writes, the cookie
//! it sets and removes, and what its layer costs a request that never looks at the session.
//!
//! `cargo run --release --features sessions --bin sessions-probe`
//!
//! The store is tower-sessions' `MemoryStore` behind a counter: with `tower-sessions-redis-store`
//! each `load` is one Redis GET and each write one Redis SET.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::{header, Request, Response};
use tower::{Layer, ServiceExt};
use tower_sessions::session::{Id, Record};
use tower_sessions::{
    session_store, Expiry, MemoryStore, Session, SessionManagerLayer, SessionStore,
};

/// The cookie name portcullis uses on https.
const NAME: &str = "__Host-portcullis";

#[derive(Debug, Clone, Default)]
struct CountingStore {
    inner: MemoryStore,
    loads: Arc<AtomicUsize>,
    writes: Arc<AtomicUsize>,
}

impl CountingStore {
    fn counts(&self) -> (usize, usize) {
        (
            self.loads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

#[async_trait::async_trait]
impl SessionStore for CountingStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}

/// `/login` creates a session, `/app` reads it (as a gateway does on every proxied request),
/// `/logout` flushes it, anything else never touches it.
async fn app(req: Request<String>) -> Result<Response<String>, Infallible> {
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return Ok(Response::new("no session layer".to_string()));
    };
    let body = match req.uri().path() {
        "/login" => match session.insert("sub", "6f1c2a52").await {
            Ok(()) => "signed in".to_string(),
            Err(e) => format!("insert failed: {e}"),
        },
        "/app" => match session.get::<String>("sub").await {
            Ok(sub) => format!("sub={sub:?}"),
            Err(e) => format!("get failed: {e}"),
        },
        "/logout" => match session.flush().await {
            Ok(()) => "signed out".to_string(),
            Err(e) => format!("flush failed: {e}"),
        },
        _ => "public".to_string(),
    };
    Ok(Response::new(body))
}

/// The same app with no session layer, for the cost comparison.
async fn bare(_req: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new("public".to_string()))
}

fn request(path: &str, cookie: Option<&str>) -> Request<String> {
    let mut builder = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(String::new()).expect("request")
}

fn set_cookies(res: &Response<String>) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or("<not text>").to_string())
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("# tower-sessions 0.15.0, MemoryStore behind a load/write counter");

    // Configured as portcullis configures its cookie: __Host- prefix, Secure, Lax, idle expiry.
    let store = CountingStore::default();
    let layer = SessionManagerLayer::new(store.clone())
        .with_name(NAME)
        .with_secure(true)
        .with_same_site(tower_sessions::cookie::SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)));
    let svc = layer.layer(tower::service_fn(app));

    // S1: a request without a cookie on a path that never reads the session.
    let res = svc
        .clone()
        .oneshot(request("/public", None))
        .await
        .expect("call");
    println!(
        "S1 public/no-cookie: GET /public without a cookie => loads={} writes={} set-cookie={:?}",
        store.counts().0,
        store.counts().1,
        set_cookies(&res)
    );

    // S2: sign-in.
    let res = svc
        .clone()
        .oneshot(request("/login", None))
        .await
        .expect("call");
    let set = set_cookies(&res);
    let pair = set
        .first()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .to_string();
    let value = pair.split_once('=').map(|(_, v)| v).unwrap_or("");
    println!(
        "S2 login: GET /login inserting one value => loads={} writes={} set-cookie={:?}; cookie value is {} characters (the session id itself: an i128, base64url)",
        store.counts().0,
        store.counts().1,
        set,
        value.len()
    );

    // S3: requests that never read the session, with the cookie.
    let (l0, w0) = store.counts();
    const N: usize = 1000;
    for _ in 0..N {
        let _ = svc.clone().oneshot(request("/public", Some(&pair))).await;
    }
    let (l1, w1) = store.counts();
    println!(
        "S3 public/with-cookie: {N} x GET /public with the session cookie => store loads +{} writes +{}",
        l1 - l0,
        w1 - w0
    );

    // S4: requests that read the session, as a gateway must on every request it authenticates.
    let mut last = String::new();
    for _ in 0..N {
        if let Ok(res) = svc.clone().oneshot(request("/app", Some(&pair))).await {
            last = res.into_body();
        }
    }
    let (l2, w2) = store.counts();
    println!(
        "S4 app/read: {N} x GET /app reading the session => store loads +{} writes +{} (last answer: {last}); Expiry::OnInactivity is not moved by reads",
        l2 - l1,
        w2 - w1
    );

    // S5: the same with always_save, which keeps an idle expiry moving.
    let store_always = CountingStore::default();
    let svc_always = SessionManagerLayer::new(store_always.clone())
        .with_name(NAME)
        .with_secure(true)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)))
        .with_always_save(true)
        .layer(tower::service_fn(app));
    let res = svc_always
        .clone()
        .oneshot(request("/login", None))
        .await
        .expect("call");
    let set = set_cookies(&res);
    let pair_always = set
        .first()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .to_string();
    let (la, wa) = store_always.counts();
    for _ in 0..N {
        let _ = svc_always
            .clone()
            .oneshot(request("/app", Some(&pair_always)))
            .await;
    }
    let (lb, wb) = store_always.counts();
    println!(
        "S5 app/always-save: {N} x GET /app with with_always_save(true) => store loads +{} writes +{}",
        lb - la,
        wb - wa
    );

    // S6: sign-out; the removal cookie of a __Host- cookie.
    let res = svc
        .clone()
        .oneshot(request("/logout", Some(&pair)))
        .await
        .expect("call");
    let removal = set_cookies(&res);
    let secure = removal.iter().any(|c| c.contains("Secure"));
    println!(
        "S6 logout: GET /logout (flush) => set-cookie={removal:?}; Secure on the removal: {secure} (browsers ignore a __Host- Set-Cookie without Secure)"
    );

    // S7: the cost of the layer for a request that never reads the session.
    const M: u32 = 100_000;
    let bare_svc = tower::service_fn(bare);
    let started = Instant::now();
    for _ in 0..M {
        let _ = bare_svc
            .clone()
            .oneshot(request("/public", Some(&pair)))
            .await;
    }
    let without = started.elapsed().as_nanos() as f64 / f64::from(M);
    let started = Instant::now();
    for _ in 0..M {
        let _ = svc.clone().oneshot(request("/public", Some(&pair))).await;
    }
    let with_layer = started.elapsed().as_nanos() as f64 / f64::from(M);
    let profile = if cfg!(debug_assertions) {
        "DEBUG build: rerun with --release"
    } else {
        "release build"
    };
    println!(
        "S7 layer-cost: {M} x GET /public with the session cookie, with and without SessionManagerLayer ({profile}) => {without:.0} ns/request bare, {with_layer:.0} ns/request with the layer (+{:.0} ns: cookie jar, session handle, boxed future, tracing span)",
        with_layer - without
    );
}
