//! A mock Amazon Cognito user pool: discovery, JWKS, hosted-UI authorize (signs the configured
//! user in at once, or denies), token (code grant with PKCE and client authentication checked),
//! userInfo, revoke and logout. Tests can rotate keys, take it down, and tamper with the next
//! ID token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{CLIENT_ID, CLIENT_SECRET, now};

pub const POOL_ID: &str = "eu-west-1_TestPool1";

/// A test RSA key with its public JWK parameters.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub n: String,
    pub e: String,
}

impl TestKey {
    /// One of the fixture keys: `issuer-a`, `issuer-b`, `attacker`.
    pub fn fixture(name: &str, kid: &str) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let pem = std::fs::read(format!("{dir}/{name}.pem")).unwrap();
        let params: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/jwk-params.json")).unwrap(),
        )
        .unwrap();
        Self {
            kid: kid.to_string(),
            encoding: EncodingKey::from_rsa_pem(&pem).unwrap(),
            n: params[name]["n"].as_str().unwrap().to_string(),
            e: params[name]["e"].as_str().unwrap().to_string(),
        }
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": self.n, "e": self.e})
    }
}

/// What a test may do to the next ID token.
pub type Tamper = Box<dyn FnOnce(&mut Header, &mut Map<String, Value>) -> Option<String> + Send>;

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
}

/// Everything the mock remembers; tests read and change it through [`MockIssuer`].
pub struct IssuerState {
    pub base: String,
    pub confidential: bool,
    /// The user the hosted UI signs in.
    pub user: Map<String, Value>,
    /// Signs ID tokens.
    pub signing: TestKey,
    /// Published in the JWKS.
    pub published: Vec<TestKey>,
    /// Discovery answers 503 while true.
    pub down: bool,
    /// Discovery never answers while true.
    pub hang: bool,
    /// The token endpoint never answers while true.
    pub hang_token: bool,
    /// `/oauth2/authorize` answers with this error instead of a code.
    pub deny: Option<String>,
    /// Applied to the next ID token; may return a whole replacement token.
    pub tamper: Option<Tamper>,
    /// Whether discovery names an `end_session_endpoint`.
    pub end_session: bool,
    /// Whether discovery names the `revocation_endpoint` (older pools' documents lack it).
    pub advertise_revocation: bool,
    /// Lifetime of issued tokens, in seconds.
    pub token_ttl: u64,
    /// How far in the past tokens say they were issued (makes them due for refresh at once).
    pub backdate: u64,
    /// Issue a new refresh token on every refresh, invalidating the old one.
    pub rotate: bool,
    /// The token endpoint answers refresh grants with 503 while true.
    pub refresh_down: bool,
    /// Refresh tokens that are valid now.
    pub refresh_tokens: Vec<String>,
    /// Refresh tokens presented to the token endpoint, in order.
    pub refreshes: Vec<String>,
    /// Tokens presented to `/oauth2/revoke`, with the Authorization header.
    pub revoked: Vec<(String, Option<String>)>,
    pub jwks_hits: usize,
    pub token_requests: Vec<(HashMap<String, String>, Option<String>)>,
    pub authorize_requests: Vec<HashMap<String, String>>,
    pub logouts: Vec<HashMap<String, String>>,
    grants: HashMap<String, Grant>,
}

/// A running mock issuer.
#[derive(Clone)]
pub struct MockIssuer {
    pub state: Arc<Mutex<IssuerState>>,
    pub base: String,
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())
}

/// A refresh token the size of Cognito's (an encrypted JWT of about 1.7 KB).
fn refresh_token() -> String {
    let bytes: Vec<u8> = (0..1250).map(|_| rand::random::<u8>()).collect();
    format!(
        "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn default_user() -> Map<String, Value> {
    json!({
        "sub": "6f1c2a52-0000-4000-8000-000000000001",
        "email": "alice@example.com",
        "email_verified": true,
        "cognito:username": "alice",
        "cognito:groups": ["admins", "staff"],
        "custom:roles": "authp/admin|authp/user",
        "name": "Alice Example",
    })
    .as_object()
    .unwrap()
    .clone()
}

impl MockIssuer {
    /// A confidential-client pool.
    pub async fn start() -> Self {
        Self::start_as(true).await
    }

    /// A pool whose app client is public (no secret) when `confidential` is false.
    pub async fn start_as(confidential: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let key = TestKey::fixture("issuer-a", "key-a");
        let state = Arc::new(Mutex::new(IssuerState {
            base: base.clone(),
            confidential,
            user: default_user(),
            signing: key.clone(),
            published: vec![key],
            down: false,
            hang: false,
            hang_token: false,
            deny: None,
            tamper: None,
            end_session: false,
            advertise_revocation: true,
            token_ttl: 3600,
            backdate: 0,
            rotate: false,
            refresh_down: false,
            refresh_tokens: Vec::new(),
            refreshes: Vec::new(),
            revoked: Vec::new(),
            jwks_hits: 0,
            token_requests: Vec::new(),
            authorize_requests: Vec::new(),
            logouts: Vec::new(),
            grants: HashMap::new(),
        }));
        let app = Router::new()
            .route(
                &format!("/{POOL_ID}/.well-known/openid-configuration"),
                get(discovery),
            )
            .route(&format!("/{POOL_ID}/.well-known/jwks.json"), get(jwks))
            .route("/oauth2/authorize", get(authorize))
            .route("/oauth2/token", post(token))
            .route(
                "/oauth2/userInfo",
                get(|| async { Json(json!({"sub": "x"})) }),
            )
            .route("/oauth2/revoke", post(revoke))
            .route("/logout", get(logout))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { state, base }
    }

    pub fn issuer_url(&self) -> String {
        format!("{}/{POOL_ID}", self.base)
    }

    pub fn confidential(&self) -> bool {
        self.state.lock().unwrap().confidential
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut IssuerState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Changes the next ID token before it is signed (or replaces it when `f` returns a token).
    pub fn tamper(
        &self,
        f: impl FnOnce(&mut Header, &mut Map<String, Value>) -> Option<String> + Send + 'static,
    ) {
        self.with(|s| s.tamper = Some(Box::new(f)));
    }

    /// Puts the user in `n` groups with long names (a session too large for one cookie).
    pub fn give_groups(&self, n: usize) {
        let groups: Vec<String> = (0..n)
            .map(|i| format!("group-with-a-long-name-{i:04}"))
            .collect();
        self.with(|s| {
            s.user.insert("cognito:groups".into(), json!(groups));
        });
    }

    /// Signs `claims` with `key` as the pool would.
    pub fn sign(key: &TestKey, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }
}

async fn discovery(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let hang = state.lock().unwrap().hang;
    if hang {
        std::future::pending::<()>().await;
    }
    let s = state.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let base = &s.base;
    let mut doc = json!({
        "issuer": format!("{base}/{POOL_ID}"),
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "userinfo_endpoint": format!("{base}/oauth2/userInfo"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "jwks_uri": format!("{base}/{POOL_ID}/.well-known/jwks.json"),
        "response_types_supported": ["code", "token"],
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if s.end_session {
        doc["end_session_endpoint"] = json!(format!("{base}/logout"));
    }
    if !s.advertise_revocation {
        doc.as_object_mut().unwrap().remove("revocation_endpoint");
    }
    Json(doc).into_response()
}

async fn jwks(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let mut s = state.lock().unwrap();
    if s.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    s.jwks_hits += 1;
    let keys: Vec<Value> = s.published.iter().map(TestKey::jwk).collect();
    Json(json!({ "keys": keys })).into_response()
}

async fn authorize(
    State(state): State<Arc<Mutex<IssuerState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.authorize_requests.push(q.clone());
    let (Some(redirect_uri), Some(st)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and state required").into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let mut target = reqwest::Url::parse(redirect_uri).unwrap();
    if let Some(error) = s.deny.clone() {
        target
            .query_pairs_mut()
            .append_pair("error", &error)
            .append_pair("error_description", "<b>not allowed</b>")
            .append_pair("state", st);
    } else {
        let code = random();
        s.grants.insert(
            code.clone(),
            Grant {
                redirect_uri: redirect_uri.clone(),
                nonce: q.get("nonce").cloned(),
                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            },
        );
        target
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", st);
    }
    Redirect::to(target.as_str()).into_response()
}

fn client_authenticated(
    s: &IssuerState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> bool {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if s.confidential {
        basic.as_deref() == Some(&format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    } else {
        basic.is_none() && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
    }
}

async fn token(
    State(state): State<Arc<Mutex<IssuerState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let hang = state.lock().unwrap().hang_token;
    if hang {
        std::future::pending::<()>().await;
    }
    let mut s = state.lock().unwrap();
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    s.token_requests.push((form.clone(), auth));
    let error = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    if !client_authenticated(&s, &headers, &form) {
        return error("invalid_client");
    }
    let (nonce, refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(grant) = form.get("code").and_then(|c| s.grants.remove(c)) else {
                return error("invalid_grant");
            };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
                || form.get("redirect_uri") != Some(&grant.redirect_uri)
            {
                return error("invalid_grant");
            }
            let refresh = refresh_token();
            s.refresh_tokens.push(refresh.clone());
            (grant.nonce, Some(refresh))
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            s.refreshes.push(presented.clone());
            if s.refresh_down {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            if !s.refresh_tokens.contains(&presented) {
                return error("invalid_grant");
            }
            // Cognito returns a new refresh token only when rotation is enabled.
            let refresh = s.rotate.then(|| {
                let next = refresh_token();
                s.refresh_tokens.retain(|t| *t != presented);
                s.refresh_tokens.push(next.clone());
                next
            });
            (None, refresh)
        }
        _ => return error("unsupported_grant_type"),
    };
    let now = now();
    let issued = now - s.backdate;
    let mut claims = s.user.clone();
    for (k, v) in [
        ("iss", json!(format!("{}/{POOL_ID}", s.base))),
        ("aud", json!(CLIENT_ID)),
        ("token_use", json!("id")),
        ("auth_time", json!(issued)),
        ("iat", json!(issued)),
        ("exp", json!(issued + s.token_ttl)),
        ("jti", json!(random())),
        ("origin_jti", json!(random())),
    ] {
        claims.insert(k.to_string(), v);
    }
    if let Some(nonce) = &nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(s.signing.kid.clone());
    let replaced = s.tamper.take().and_then(|f| f(&mut header, &mut claims));
    let id_token = replaced
        .unwrap_or_else(|| jsonwebtoken::encode(&header, &claims, &s.signing.encoding).unwrap());
    // A Cognito access token: no `aud`, the client in `client_id`, `token_use` access.
    let mut access = serde_json::Map::new();
    for (k, v) in [
        ("sub", claims.get("sub").cloned().unwrap_or(json!(""))),
        ("iss", json!(format!("{}/{POOL_ID}", s.base))),
        ("client_id", json!(CLIENT_ID)),
        ("token_use", json!("access")),
        ("scope", json!("openid email")),
        (
            "username",
            claims.get("cognito:username").cloned().unwrap_or(json!("")),
        ),
        ("iat", json!(issued)),
        ("exp", json!(issued + s.token_ttl)),
        ("jti", json!(random())),
    ] {
        access.insert(k.to_string(), v);
    }
    let mut access_header = Header::new(Algorithm::RS256);
    access_header.kid = Some(s.signing.kid.clone());
    let access_token = jsonwebtoken::encode(&access_header, &access, &s.signing.encoding).unwrap();
    let mut body = json!({
        "id_token": id_token,
        "access_token": access_token,
        "expires_in": s.token_ttl,
        "token_type": "Bearer",
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    Json(body).into_response()
}

async fn revoke(
    State(state): State<Arc<Mutex<IssuerState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    let token = form.get("token").cloned().unwrap_or_default();
    let auth = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    s.refresh_tokens.retain(|t| *t != token);
    s.revoked.push((token, auth));
    StatusCode::OK.into_response()
}

async fn logout(
    State(state): State<Arc<Mutex<IssuerState>>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    s.logouts.push(q.clone());
    match q.get("logout_uri").or(q.get("post_logout_redirect_uri")) {
        Some(uri) => Redirect::to(uri).into_response(),
        None => (StatusCode::BAD_REQUEST, "logout_uri required").into_response(),
    }
}
