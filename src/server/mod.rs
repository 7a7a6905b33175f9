//! The HTTP server: accepts connections, serves the paths the gateway owns (`/oauth2/...`,
//! `/healthz`, `/readyz`), and sends everything else through the proxy path: route (host and
//! canonical path), authenticate, decide, add the identity, forward. Whatever does not go
//! through is answered by one mapping ([`respond`]) for the proxy, forward-auth and userinfo.

mod access;
mod activity;
mod auth;
mod backchannel;
mod error;
mod forward_auth;
mod joint;
mod observe;
mod protocol;
mod respond;
mod tokens;
mod userinfo;
mod workers;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http::header::CACHE_CONTROL;
use http::uri::PathAndQuery;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use error::{GatewayError, escape_html, redirect};

use crate::assertion::{ALB_KEYS_PATH, Alb, Assertions, JWKS_PATH};
use crate::authn::Authenticator;
use crate::config::Settings;
use crate::identity::IdentityHeaders;
use crate::metrics::RequestCounter;
use crate::oidc::Issuer;
use crate::policy::CanonicalPath;
use crate::proxy::Forwarded;
use crate::redirect::Destinations;
use crate::route::{Route, Routes, request_authority, route_name};
use crate::session::Sessions;
use access::Access;
use futures_util::FutureExt;
use hyper::body::Incoming;
use observe::Target;
use respond::{Asked, Surface};
use workers::ClientConnection;

/// Starts a sign-in: `?rd=PATH` is where to go afterwards.
pub const START_PATH: &str = "/oauth2/start";
pub use crate::oidc::CALLBACK_PATH;
/// Ends the session and signs out at the issuer (POST, from the gateway's origin; GET shows a
/// page to confirm): `?rd=PATH` is where to go afterwards.
pub const SIGN_OUT_PATH: &str = "/oauth2/sign_out";
/// Where the issuer sends the browser after signing out (register it as the sign-out URL).
pub const SIGNED_OUT_PATH: &str = "/oauth2/signed_out";
/// OpenID Connect Back-Channel Logout endpoint (register it at the issuer).
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/oauth2/backchannel_logout";
/// Forward-auth endpoint for nginx, Traefik and Envoy (`/oauth2/auth/<path>` too).
pub const FORWARD_AUTH_PATH: &str = "/oauth2/auth";
/// JSON identity of the session.
pub const USERINFO_PATH: &str = "/oauth2/userinfo";
/// Liveness.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness: the issuer has been discovered and the session store answers.
pub const READYZ_PATH: &str = "/readyz";

/// Paths the gateway answers itself on every host, whatever the routes say.
pub const OWNED_PATHS: [&str; 11] = [
    JWKS_PATH,
    ALB_KEYS_PATH,
    START_PATH,
    CALLBACK_PATH,
    SIGN_OUT_PATH,
    SIGNED_OUT_PATH,
    BACKCHANNEL_LOGOUT_PATH,
    FORWARD_AUTH_PATH,
    USERINFO_PATH,
    HEALTHZ_PATH,
    READYZ_PATH,
];

/// The part of the configuration a reload replaces.
struct Live {
    /// The routes, with their rules, identity headers and upstreams.
    routes: Routes,
    /// The global identity headers (`/oauth2/userinfo` answers with them).
    identity: IdentityHeaders,
    /// Where a browser may be sent after sign-in or sign-out.
    destinations: Destinations,
    /// The public URL's host, as routes are matched (a route of another host signs in there).
    public_name: String,
}

impl Live {
    fn new(s: &Settings) -> Self {
        let server = &s.server;
        let hosts = s.routes.iter().filter_map(|r| r.host.clone());
        let assertion: Vec<_> = s.assertion.iter().map(|a| a.header.clone()).collect();
        Self {
            routes: Routes::new(
                &s.routes,
                &s.identity,
                &assertion,
                server.idle_timeout,
                &server.public_scheme,
            ),
            identity: s.identity.clone(),
            destinations: Destinations::new(&server.public_url, hosts),
            public_name: route_name(&server.public_host).into_owned(),
        }
    }

    /// Whether a request to host `name` on `route` signs in on the public URL's host rather than
    /// its own: the route names its host, and it is not the public one.
    fn signs_in_elsewhere(&self, route: &Route, name: &str) -> bool {
        route.host.is_some() && name != self.public_name
    }
}

/// State shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    /// As loaded at start; the rules and header mappings in force are in `live`.
    settings: Settings,
    /// What a reload (SIGHUP) replaces: swapped whole, read without locks.
    live: ArcSwap<Live>,
    issuer: Arc<Issuer>,
    sessions: Arc<Sessions>,
    authn: Authenticator,
    counters: observe::RequestCounters,
    /// Signed identity assertions, when `[assertion]` is enabled.
    assertions: Option<Assertions>,
    /// ALB-style `x-amzn-oidc-data`, when `[alb]` is given.
    alb: Option<Alb>,
}

impl AppState {
    /// Builds the state for `settings`; neither the issuer nor the session store is contacted yet.
    pub fn new(settings: Settings) -> Result<Self, String> {
        let issuer = Arc::new(Issuer::new(settings.oidc.clone()).map_err(|e| e.to_string())?);
        let sessions = Arc::new(Sessions::new(
            &settings.session,
            settings.server.secure_cookies(),
            settings.oidc.email_trust,
        )?);
        Ok(Self(Arc::new(Inner {
            live: ArcSwap::from_pointee(Live::new(&settings)),
            authn: Authenticator::new(
                settings.bearer.as_ref(),
                &settings.session,
                issuer.clone(),
                sessions.clone(),
            )?,
            sessions,
            counters: observe::RequestCounters::register(),
            assertions: settings
                .assertion
                .as_ref()
                .map(|a| Assertions::new(a, &settings.server.public_origin)),
            alb: settings.alb.as_ref().map(|a| {
                let secret = settings.session.secret.expose().as_bytes();
                Alb::new(a, secret, &settings.oidc.issuer, &settings.oidc.client_id)
            }),
            issuer,
            settings,
        })))
    }

    /// The rules and identity headers in force.
    fn live(&self) -> arc_swap::Guard<Arc<Live>> {
        self.0.live.load()
    }

    /// Takes the routes (with their rules and upstreams) and header mappings of a newly loaded
    /// configuration. Everything else needs a restart, and a configuration that would need one
    /// to take effect (another assertion header, `[alb]` added or removed, a route passing the
    /// access token where sessions do not keep it) is refused: half of it would apply.
    pub fn reload(&self, settings: &Settings) {
        if let Some(why) = self.needs_restart(settings) {
            tracing::error!("configuration not reloaded: {why}; restart to apply it");
            return;
        }
        self.0.live.store(Arc::new(Live::new(settings)));
        for warning in crate::route::lint(&settings.routes, &OWNED_PATHS) {
            tracing::warn!("{warning}");
        }
        tracing::info!(
            routes = settings.routes.len(),
            rules = settings
                .routes
                .iter()
                .map(|r| r.policy.rules.len())
                .sum::<usize>(),
            "configuration reloaded"
        );
    }

    /// What in `settings` takes effect only at start, and differs from the running gateway.
    fn needs_restart(&self, settings: &Settings) -> Option<&'static str> {
        let running = &self.0.settings;
        let header = |s: &Settings| s.assertion.as_ref().map(|a| a.header.clone());
        if header(running) != header(settings) {
            Some("[assertion] changed (it is read at start)")
        } else if running.alb.as_ref().map(|a| &a.arn) != settings.alb.as_ref().map(|a| &a.arn) {
            Some("[alb] changed (it is read at start)")
        } else if running.session.keep_access_token != settings.session.keep_access_token {
            Some(
                "whether sessions keep the access token changed (a route's pass_access_token, authorization or alb_headers)",
            )
        } else {
            None
        }
    }

    /// The issuer, for starting its discovery.
    pub fn issuer(&self) -> &Arc<Issuer> {
        &self.0.issuer
    }
}

/// The routes the gateway owns (`/oauth2/…`, `/healthz`, `/readyz`), with the proxy for any other
/// path under `/oauth2/`.
fn routes(state: AppState) -> Router {
    Router::new()
        .route(START_PATH, get(auth::start))
        .route(CALLBACK_PATH, get(auth::callback))
        .route(
            SIGN_OUT_PATH,
            get(auth::confirm_sign_out).post(auth::sign_out),
        )
        .route(SIGNED_OUT_PATH, get(auth::signed_out))
        .route(USERINFO_PATH, get(userinfo::userinfo))
        .route(
            BACKCHANNEL_LOGOUT_PATH,
            axum::routing::post(backchannel::backchannel_logout),
        )
        .route(FORWARD_AUTH_PATH, any(forward_auth::forward_auth))
        .route(
            &format!("{FORWARD_AUTH_PATH}/{{*path}}"),
            any(forward_auth::forward_auth),
        )
        .route(JWKS_PATH, get(jwks))
        .route(&format!("{ALB_KEYS_PATH}/{{kid}}"), get(alb_key))
        .route(HEALTHZ_PATH, get(|| async { "ok" }))
        .route(READYZ_PATH, get(readyz))
        .fallback(proxy)
        .with_state(state)
}

/// Handles the requests of one client connection: observes each (request id, count, access
/// log), and sends it to the gateway's own routes or, without routing, to the proxy: the path
/// nearly every request takes.
#[derive(Clone)]
struct Gateway {
    app: AppState,
    routes: Router,
    client: ClientConnection,
}

impl hyper::service::Service<Request<Incoming>> for Gateway {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let req = req.map(Body::new);
        let (app, routes, client) = (self.app.clone(), self.routes.clone(), self.client.clone());
        Box::pin(async move {
            let _busy = client.activity.begin();
            let app = &app;
            let handled = observe::observe(app, req, move |mut req, target| async move {
                match target {
                    Target::Proxy => forward(app, req, &client).await,
                    Target::Auth | Target::Health => {
                        req.extensions_mut().insert(client);
                        let response = match routes.oneshot(req).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        (response, None)
                    }
                }
            });
            Ok(answer_even_if_it_panics(handled).await)
        })
    }
}

/// `handled`'s response, or a bare 500 if it panics: a bug is never a dropped connection. A
/// combinator rather than an `async fn`, which would hold `handled` twice (as its argument and
/// inside the future it awaits): this future is allocated for every request.
fn answer_even_if_it_panics(
    handled: impl Future<Output = Response>,
) -> impl Future<Output = Response> {
    AssertUnwindSafe(handled).catch_unwind().map(|outcome| {
        outcome.unwrap_or_else(|_| {
            tracing::error!("request handler panicked");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })
    })
}

/// Serves the gateway on `listener` until `shutdown` completes, then finishes in-flight requests
/// (for at most `server.shutdown_timeout`).
pub async fn serve(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (_, no_reloads) = tokio::sync::mpsc::channel(1);
    serve_with_reload(listener, settings, shutdown, no_reloads).await
}

/// Like [`serve`], taking the rules and header mappings of each configuration received on
/// `reloads` (the binary sends one per SIGHUP) without dropping a connection.
pub async fn serve_with_reload(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut reloads: tokio::sync::mpsc::Receiver<Settings>,
) -> std::io::Result<()> {
    // Metrics first, so the handles the state registers are live.
    let metrics_tasks = match settings.metrics_listen {
        Some(addr) => {
            let (bound, tasks) = crate::metrics::serve(addr).await?;
            crate::metrics::describe();
            tracing::info!(listen = %bound, "metrics listening");
            tasks
        }
        None => Vec::new(),
    };
    let state = AppState::new(settings).map_err(std::io::Error::other)?;
    let grace = state.0.settings.server.shutdown_timeout;
    let reloader = {
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(settings) = reloads.recv().await {
                state.reload(&settings);
            }
        })
    };
    tracing::info!(listen = %listener.local_addr()?, "listening");
    let discovery = state.issuer().spawn_discovery();
    let store = state.0.sessions.spawn_background();
    let trusted = state.0.authn.spawn_discovery();
    let count = workers::count(state.0.settings.server.worker_threads);
    let routes = routes(state.clone());
    let limits = workers::Limits::from(&state.0.settings.server);
    let mut workers = workers::Workers::start(count, limits, move |client| Gateway {
        app: state.clone(),
        routes: routes.clone(),
        client,
    })?;
    tokio::select! {
        () = workers.accept(&listener) => {}
        () = shutdown => {}
    }
    drop(listener);
    // Past the shutdown signal, requests in flight get `grace` to finish.
    if !workers.shutdown(grace).await {
        tracing::warn!(
            after_ms = grace.as_millis() as u64,
            "requests still in flight at shutdown were dropped"
        );
    }
    reloader.abort();
    discovery.abort();
    for task in store.into_iter().chain(trusted).chain(metrics_tasks) {
        task.abort();
    }
    Ok(())
}

/// The client's address, for requests to the gateway's own routes (which carry their client
/// connection as an extension).
fn peer(req: &Request<Body>) -> Option<SocketAddr> {
    req.extensions().get::<ClientConnection>().map(|c| c.peer)
}

/// The keys that verify the gateway's assertions: public, and cacheable for a few minutes.
async fn jwks(State(app): State<AppState>) -> Response {
    let Some(assertions) = &app.0.assertions else {
        return (StatusCode::NOT_FOUND, "assertions are not enabled").into_response();
    };
    let (body, max_age) = assertions.jwks();
    let cache = format!("public, max-age={max_age}");
    (
        [
            (http::header::CONTENT_TYPE, "application/json".to_string()),
            (CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The PEM of the key that signs `x-amzn-oidc-data`, by its `kid`, as ALB publishes its keys.
async fn alb_key(
    State(app): State<AppState>,
    axum::extract::Path(kid): axum::extract::Path<String>,
) -> Response {
    match app.0.alb.as_ref().and_then(|alb| alb.public_pem(&kid)) {
        Some(pem) => (
            [
                (http::header::CONTENT_TYPE, "text/plain"),
                (CACHE_CONTROL, "public, max-age=300"),
            ],
            pem.to_string(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such key").into_response(),
    }
}

async fn readyz(State(app): State<AppState>) -> Response {
    if app.0.issuer.provider().is_none() {
        (StatusCode::SERVICE_UNAVAILABLE, "issuer not discovered yet").into_response()
    } else if !app.0.sessions.ready().await {
        (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable").into_response()
    } else {
        (StatusCode::OK, "ready").into_response()
    }
}

/// The routes' fallback: any other path under `/oauth2/` is the app's.
async fn proxy(
    State(app): State<AppState>,
    Extension(client): Extension<ClientConnection>,
    req: Request<Body>,
) -> Response {
    forward(&app, req, &client).await.0
}

/// Everything the gateway does not own: the request's route is found by its host and canonical
/// path; allowed requests go to the route's app, on the canonical path (without the route's
/// prefix if it strips it), with identity headers; others are sent to sign in, refused, or told
/// to retry. Also gives the route's request counter, when a route took the request.
async fn forward(
    app: &AppState,
    mut req: Request<Body>,
    client: &ClientConnection,
) -> (Response, Option<Arc<RequestCounter>>) {
    let path = match CanonicalPath::parse(req.uri().path()) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "request path refused");
            return (GatewayError::BadPath.into_response(), None);
        }
    };
    let authority = match request_authority(req.uri(), req.headers()) {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = e.as_str(), "request host refused");
            return (GatewayError::BadHost.into_response(), None);
        }
    };
    let name = route_name(authority);
    let live = app.live();
    let Some(route) = live.routes.choose(&name, &path) else {
        return (GatewayError::NoRoute.into_response(), None);
    };
    let counter = Some(route.requests.clone());
    let elsewhere = live.signs_in_elsewhere(route, &name);
    let decided = access::decide(app, route, req.method(), &path, req.headers()).await;
    let (claims, until, session, cookies) = match decided {
        Access::Allowed {
            claims,
            until,
            session,
            cookies,
        } => (claims, until, session, cookies),
        Access::Refused(refusal) => {
            let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
            let asked = Asked {
                method: req.method(),
                headers: req.headers(),
                target,
                path: Some(&path),
                elsewhere: elsewhere.then_some(authority),
            };
            let response = respond::refused(app, &route.identity, Surface::Proxy, &asked, refusal);
            return (response, counter);
        }
    };
    // The upstream gets the path that was authorized, never another reading of it. (Usually
    // the two are the same text, and the request's URI stands.)
    let sent = route.upstream_path(&path);
    if sent != req.uri().path() {
        let target = match req.uri().query() {
            Some(q) => format!("{sent}?{q}"),
            None => sent.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = PathAndQuery::try_from(target).ok();
        match Uri::from_parts(parts) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(_) => return (GatewayError::BadPath.into_response(), counter),
        }
    }
    // A bearer request's own token, for routes that pass tokens on (read before the headers
    // are rewritten).
    let bearer = (claims.is_some() && session.is_none() && route.passes_tokens())
        .then(|| crate::oidc::bearer_token(req.headers()))
        .flatten()
        .and_then(|t| String::from_utf8(t.to_vec()).ok());
    let headers = req.headers_mut();
    let prior_for = headers.get(crate::proxy::X_FORWARDED_FOR).cloned();
    // Order matters: hop-by-hop headers (and whatever `Connection` names) and client copies of
    // managed headers (those of every route) go first; only then are the verified values added.
    let upgrade = crate::proxy::take_hop_by_hop(headers);
    live.routes.strip(headers);
    app.0.sessions.jar().strip(headers);
    // A route that sends its app a token in `Authorization` sends it that token or none: the
    // client's own never passes, signed in or not.
    if route.authorization != crate::route::AppAuthorization::None {
        headers.remove(http::header::AUTHORIZATION);
    }
    if let Some(claims) = &claims {
        route.identity.apply(claims, headers);
        let who = tokens::Credentials {
            claims,
            session: session.as_deref(),
            bearer: bearer.as_deref(),
            until,
        };
        tokens::apply(app, route, &who, headers);
    }
    let fwd = Forwarded {
        peer: &client.address,
        prior_for,
    };
    // The response's body (or a WebSocket tunnel) may go on long after this returns: the
    // connection is in use while it moves.
    let forwarded = route
        .upstream
        .forward(
            req,
            upgrade,
            &fwd,
            &client.upstream,
            client.activity.lease(),
        )
        .await;
    let mut response = match forwarded {
        Ok(response) => response,
        Err(e) => GatewayError::from(e).into_response(),
    };
    if !cookies.is_empty() {
        // The session cookie rides on the app's response: a shared cache must not keep it, or
        // it would hand this user's session to the next visitor.
        keep_private(response.headers_mut());
    }
    (error::with_cookies(response, cookies), counter)
}

/// Marks a response that carries a user's `Set-Cookie` as private: `public` and `s-maxage` go,
/// `private` is added, and every other directive (`max-age`, `no-cache`, ...) stays. `no-store`
/// and an unqualified `private` already keep it out of shared caches. The headers by which a
/// CDN is told to cache what `Cache-Control` does not allow (RFC 9213, and the surrogates
/// before it) go too.
fn keep_private(headers: &mut http::HeaderMap) {
    for targeted in [
        "cdn-cache-control",
        "surrogate-control",
        "cloudflare-cdn-cache-control",
    ] {
        headers.remove(targeted);
    }
    let directives: Vec<&str> = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let name = |d: &str| {
        d.split('=')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    // `private="x"` names fields a shared cache must drop, and lets it keep the rest.
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("private") || name(d) == "no-store")
    {
        return;
    }
    let mut value = String::from("private");
    for d in directives
        .iter()
        .filter(|d| !matches!(name(d).as_str(), "public" | "s-maxage"))
    {
        value.push_str(", ");
        value.push_str(d);
    }
    // Built from header text and a literal: always a valid value.
    if let Ok(value) = http::HeaderValue::from_str(&value) {
        headers.insert(CACHE_CONTROL, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_a_session_cookie_stay_private() {
        for (upstream, want) in [
            (None, "private"),
            (Some("public, max-age=600"), "private, max-age=600"),
            (Some("max-age=60, s-maxage=3600"), "private, max-age=60"),
            (Some("PUBLIC"), "private"),
            (Some("no-store"), "no-store"),
            (Some("private, max-age=5"), "private, max-age=5"),
            (Some("no-cache"), "private, no-cache"),
            (
                Some("private=\"x-a\", max-age=5"),
                "private, private=\"x-a\", max-age=5",
            ),
        ] {
            let mut h = http::HeaderMap::new();
            if let Some(v) = upstream {
                h.insert(CACHE_CONTROL, http::HeaderValue::from_static(v));
            }
            h.insert(
                "cdn-cache-control",
                http::HeaderValue::from_static("max-age=600"),
            );
            h.insert(
                "Surrogate-Control",
                http::HeaderValue::from_static("max-age=600"),
            );
            keep_private(&mut h);
            assert_eq!(h[CACHE_CONTROL], want, "{upstream:?}");
            assert!(h.get("cdn-cache-control").is_none() && h.get("surrogate-control").is_none());
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_bare_500() {
        let response = answer_even_if_it_panics(async { panic!("a bug") }).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let fine = answer_even_if_it_panics(async { StatusCode::OK.into_response() }).await;
        assert_eq!(fine.status(), StatusCode::OK);
    }
}
