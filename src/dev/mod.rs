//! A development issuer that behaves like an Amazon Cognito user pool, for trying portcullis
//! and developing apps without an AWS account. NOT FOR PRODUCTION: passwords are held in clear,
//! state lives in memory, and any loopback redirect URI is accepted.
//!
//! What it serves, at Cognito's paths: discovery and JWKS under `/{pool id}`, a sign-in page at
//! `/oauth2/authorize` (with a hosted-UI session, so a second sign-in needs no password),
//! `/oauth2/token` (authorization code with PKCE S256, refresh token without rotation),
//! `/oauth2/userInfo` (string booleans, as Cognito sends them), `/oauth2/revoke` and `/logout`.
//! Tokens carry Cognito's claims: `cognito:username`, `cognito:groups`, `custom:*`, `token_use`.

mod keys;
mod page;
mod users;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use axum::{Router, serve};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

pub use keys::SigningKey;
pub use users::{DevUser, demo_users, load as load_users};

use crate::oidc::{constant_time_eq, now_secs, pkce_challenge, random_token};
use crate::server::redirect;
use crate::session::request_cookies;

/// The pool id in the issuer's path (shaped like Cognito's).
pub const DEV_POOL_ID: &str = "dv-local-1_Portcullis";
/// Name of the issuer's own sign-in session cookie (its "hosted UI" session).
const SESSION_COOKIE: &str = "dev_issuer_session";
/// How long codes are valid, as at Cognito.
const CODE_TTL: Duration = Duration::from_secs(300);

/// What the development issuer serves.
#[derive(Debug, Clone)]
pub struct DevIssuerConfig {
    /// The one app client.
    pub client_id: String,
    /// Its secret; `None` for a public client.
    pub client_secret: Option<String>,
    /// Who can sign in.
    pub users: Vec<DevUser>,
    /// Lifetime of ID and access tokens.
    pub token_ttl: Duration,
    /// Shown under the sign-in form (the demo lists its users there).
    pub hint: Option<String>,
}

struct Code {
    username: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
    scope: String,
    issued: Instant,
}

#[derive(Default)]
struct Store {
    codes: HashMap<String, Code>,
    /// Refresh token -> (username, scope).
    refresh: HashMap<String, (String, String)>,
    /// Access token -> username, for userInfo.
    access: HashMap<String, String>,
    /// Sign-in session id -> username.
    sessions: HashMap<String, String>,
}

/// A running development issuer's state.
pub struct DevIssuer {
    base: String,
    config: DevIssuerConfig,
    key: SigningKey,
    store: Mutex<Store>,
}

type Shared = Arc<DevIssuer>;

impl DevIssuer {
    /// An issuer served at `base` (e.g. `http://127.0.0.1:9000`).
    pub fn new(base: String, config: DevIssuerConfig) -> Result<Self, String> {
        Ok(Self {
            base,
            config,
            key: SigningKey::generate()?,
            store: Mutex::new(Store::default()),
        })
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> String {
        format!("{}/{DEV_POOL_ID}", self.base)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn user(&self, username: &str) -> Option<&DevUser> {
        self.config.users.iter().find(|u| u.username == username)
    }
}

/// Serves a development issuer on `listener` until `shutdown` completes.
pub async fn serve_issuer(
    listener: TcpListener,
    config: DevIssuerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let base = format!("http://{}", listener.local_addr()?);
    let issuer = DevIssuer::new(base, config).map_err(std::io::Error::other)?;
    serve(listener, router(Arc::new(issuer)))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The issuer's routes.
pub fn router(issuer: Shared) -> Router {
    Router::new()
        .route(
            &format!("/{DEV_POOL_ID}/.well-known/openid-configuration"),
            get(discovery),
        )
        .route(&format!("/{DEV_POOL_ID}/.well-known/jwks.json"), get(jwks))
        .route("/oauth2/authorize", get(authorize))
        .route("/login", post(login))
        .route("/oauth2/token", post(token))
        .route("/oauth2/userInfo", get(userinfo))
        .route("/oauth2/revoke", post(revoke))
        .route("/logout", get(logout))
        .with_state(issuer)
}

async fn discovery(State(i): State<Shared>) -> Json<Value> {
    let b = &i.base;
    Json(json!({
        "issuer": i.issuer(),
        "authorization_endpoint": format!("{b}/oauth2/authorize"),
        "token_endpoint": format!("{b}/oauth2/token"),
        "userinfo_endpoint": format!("{b}/oauth2/userInfo"),
        "revocation_endpoint": format!("{b}/oauth2/revoke"),
        "end_session_endpoint": format!("{b}/logout"),
        "jwks_uri": format!("{}/.well-known/jwks.json", i.issuer()),
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(i): State<Shared>) -> Json<Value> {
    Json(i.key.jwks())
}

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_string()).into_response()
}

/// The development issuer only ever sends browsers back to loopback.
fn loopback_url(uri: &str) -> Option<url::Url> {
    let url = url::Url::parse(uri).ok()?;
    crate::oidc::is_https_or_loopback(&url)
        .then_some(())
        .filter(|_| matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
        .map(|_| url)
}

/// Checks an authorization request; says what is wrong when it is not acceptable.
fn check_authorize(i: &DevIssuer, params: &[(String, String)]) -> Result<(), &'static str> {
    if param(params, "client_id") != Some(i.config.client_id.as_str()) {
        return Err("unknown client_id");
    }
    if param(params, "response_type") != Some("code") {
        return Err("response_type must be code");
    }
    if param(params, "redirect_uri")
        .and_then(loopback_url)
        .is_none()
    {
        return Err("redirect_uri must be a loopback URL");
    }
    // Like Cognito: S256 or nothing; "plain" is refused.
    if param(params, "code_challenge").is_some()
        && param(params, "code_challenge_method") != Some("S256")
    {
        return Err("code_challenge_method must be S256");
    }
    Ok(())
}

/// Issues a code for `username` and sends the browser back to the client.
fn grant(i: &DevIssuer, params: &[(String, String)], username: &str) -> Response {
    let redirect_uri = param(params, "redirect_uri")
        .unwrap_or_default()
        .to_string();
    let Some(mut target) = loopback_url(&redirect_uri) else {
        return bad_request("redirect_uri must be a loopback URL");
    };
    let code = random_token(24);
    {
        let mut store = i.store();
        store.codes.retain(|_, c| c.issued.elapsed() < CODE_TTL);
        store.codes.insert(
            code.clone(),
            Code {
                username: username.to_string(),
                redirect_uri,
                nonce: param(params, "nonce").map(str::to_string),
                challenge: param(params, "code_challenge").map(str::to_string),
                scope: param(params, "scope").unwrap_or("openid").to_string(),
                issued: Instant::now(),
            },
        );
    }
    {
        let mut q = target.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = param(params, "state") {
            q.append_pair("state", state);
        }
    }
    redirect(target.as_str())
}

fn signed_in_user(i: &DevIssuer, headers: &HeaderMap) -> Option<String> {
    let id = request_cookies(headers)
        .find(|(n, _)| *n == SESSION_COOKIE)
        .map(|(_, v)| v)?;
    i.store().sessions.get(id).cloned()
}

async fn authorize(
    State(i): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = pairs(query.unwrap_or_default().as_bytes());
    if let Err(why) = check_authorize(&i, &params) {
        return bad_request(why);
    }
    if let Some(username) = signed_in_user(&i, &headers) {
        return grant(&i, &params, &username);
    }
    Html(page::sign_in(&params, None, i.config.hint.as_deref())).into_response()
}

async fn login(State(i): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    // Only the issuer's own form may sign in: another page posting here (login CSRF) would
    // plant a session of its choosing.
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if origin.is_some_and(|o| o != i.base) {
        return (StatusCode::FORBIDDEN, "cross-origin sign-in refused").into_response();
    }
    let mut params = pairs(&body);
    let username = param(&params, "username").unwrap_or_default().to_string();
    let password = param(&params, "password").unwrap_or_default().to_string();
    params.retain(|(k, _)| k != "username" && k != "password");
    if let Err(why) = check_authorize(&i, &params) {
        return bad_request(why);
    }
    let ok = i
        .user(&username)
        .is_some_and(|u| constant_time_eq(&u.password, &password));
    if !ok {
        let page = page::sign_in(
            &params,
            Some("Incorrect username or password."),
            i.config.hint.as_deref(),
        );
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    }
    let session = random_token(24);
    i.store().sessions.insert(session.clone(), username.clone());
    let mut response = grant(&i, &params, &username);
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A refresh token of the size and shape Cognito issues: a JWE of about 1,800 characters (header,
/// encrypted key, IV, ciphertext, tag), so sessions weigh here what they weigh in production.
/// Here it is random: only this issuer's store gives it meaning.
fn cognito_shaped_refresh_token() -> String {
    const HEADER: &str = "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ";
    format!(
        "{HEADER}.{}",
        [256, 12, 1000, 16].map(random_token).join(".")
    )
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response()
}

/// Whether the request authenticates the app client (Basic or `client_secret` in the body for
/// a confidential client, `client_id` for a public one).
fn client_authenticated(i: &DevIssuer, headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let decode = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (id, secret) = match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            param(form, "client_id").map(str::to_string),
            param(form, "client_secret").map(str::to_string),
        ),
    };
    id.as_deref() == Some(i.config.client_id.as_str())
        && match (&i.config.client_secret, secret) {
            (Some(expected), Some(given)) => constant_time_eq(expected, &given),
            (Some(_), None) => false,
            (None, _) => true,
        }
}

async fn token(State(i): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    if !client_authenticated(&i, &headers, &form) {
        return token_error("invalid_client");
    }
    let (username, scope, nonce, refresh) = match param(&form, "grant_type") {
        Some("authorization_code") => {
            let code = param(&form, "code").unwrap_or_default();
            let Some(grant) = i.store().codes.remove(code) else {
                return token_error("invalid_grant");
            };
            let verifier = param(&form, "code_verifier").unwrap_or_default();
            let pkce_ok = grant
                .challenge
                .as_deref()
                .is_none_or(|c| constant_time_eq(c, &pkce_challenge(verifier)));
            if grant.issued.elapsed() >= CODE_TTL
                || !pkce_ok
                || param(&form, "redirect_uri") != Some(grant.redirect_uri.as_str())
            {
                return token_error("invalid_grant");
            }
            let refresh = cognito_shaped_refresh_token();
            i.store().refresh.insert(
                refresh.clone(),
                (grant.username.clone(), grant.scope.clone()),
            );
            (grant.username, grant.scope, grant.nonce, Some(refresh))
        }
        Some("refresh_token") => {
            let presented = param(&form, "refresh_token").unwrap_or_default();
            let Some((username, scope)) = i.store().refresh.get(presented).cloned() else {
                return token_error("invalid_grant");
            };
            // Cognito's default: no rotation, so no new refresh token.
            (username, scope, None, None)
        }
        _ => return token_error("unsupported_grant_type"),
    };
    let Some(user) = i.user(&username) else {
        return token_error("invalid_grant");
    };
    match issue_tokens(&i, user, &scope, nonce.as_deref()) {
        Ok((id_token, access_token)) => {
            i.store()
                .access
                .insert(access_token.clone(), username.clone());
            let mut body = json!({
                "id_token": id_token,
                "access_token": access_token,
                "expires_in": i.config.token_ttl.as_secs(),
                "token_type": "Bearer",
            });
            if let Some(refresh) = refresh {
                body["refresh_token"] = json!(refresh);
            }
            Json(body).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// An ID token and an access token for `user`, shaped like Cognito's.
fn issue_tokens(
    i: &DevIssuer,
    user: &DevUser,
    scope: &str,
    nonce: Option<&str>,
) -> Result<(String, String), String> {
    let now = now_secs();
    let exp = now + i.config.token_ttl.as_secs();
    let origin_jti = random_token(16);
    let common = |token_use: &str| {
        let mut c = Map::new();
        c.insert("sub".into(), json!(user.sub()));
        c.insert("iss".into(), json!(i.issuer()));
        c.insert("token_use".into(), json!(token_use));
        c.insert("auth_time".into(), json!(now));
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(exp));
        c.insert("jti".into(), json!(random_token(16)));
        c.insert("origin_jti".into(), json!(origin_jti));
        c.insert("event_id".into(), json!(random_token(16)));
        c
    };
    let mut id = common("id");
    id.extend(user.id_claims());
    id.insert("aud".into(), json!(i.config.client_id));
    if let Some(nonce) = nonce {
        id.insert("nonce".into(), json!(nonce));
    }
    let mut access = common("access");
    access.insert("client_id".into(), json!(i.config.client_id));
    access.insert("scope".into(), json!(scope));
    access.insert("username".into(), json!(user.username));
    if !user.groups.is_empty() {
        access.insert("cognito:groups".into(), json!(user.groups));
    }
    Ok((i.key.sign(&id)?, i.key.sign(&access)?))
}

async fn userinfo(State(i): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let username = token.and_then(|t| i.store().access.get(t).cloned());
    let Some(user) = username.as_deref().and_then(|u| i.user(u)) else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    };
    // Cognito's userInfo: `username`, string booleans, no groups.
    let mut body = Map::new();
    body.insert("sub".into(), json!(user.sub()));
    body.insert("username".into(), json!(user.username));
    body.insert("email".into(), json!(user.email));
    body.insert("email_verified".into(), json!("true"));
    for (k, v) in &user.attributes {
        body.insert(k.clone(), json!(v));
    }
    Json(Value::Object(body)).into_response()
}

async fn revoke(State(i): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = pairs(&body);
    if !client_authenticated(&i, &headers, &form) {
        return token_error("invalid_client");
    }
    if let Some(token) = param(&form, "token") {
        i.store().refresh.remove(token);
    }
    StatusCode::OK.into_response()
}

async fn logout(
    State(i): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = pairs(query.unwrap_or_default().as_bytes());
    if param(&params, "client_id") != Some(i.config.client_id.as_str()) {
        return bad_request("unknown client_id");
    }
    let Some(target) = param(&params, "logout_uri").and_then(loopback_url) else {
        return bad_request("logout_uri must be a loopback URL");
    };
    if let Some(id) = request_cookies(&headers)
        .find(|(n, _)| *n == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
    {
        i.store().sessions.remove(&id);
    }
    let mut response = redirect(target.as_str());
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
