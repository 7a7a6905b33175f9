//! Tokens for the app: the session's access token in `X-Forwarded-Access-Token`, the chosen
//! token as `Authorization: Bearer`, each a valid token of the issuer before and after a
//! refresh; a bearer request's own token; client copies stripped; nothing kept in the session
//! when no route passes the access token on.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::common::upstream::header;
use crate::common::*;

/// The main app gets no tokens; `/api` the access token in both headers; `/idt` the ID token.
fn apps(upstream: &str) -> String {
    format!(
        r#"
[[routes]]
name = "main"
upstream = "{upstream}"

[[routes]]
name = "api"
path = "/api"
upstream = "{upstream}"
pass_access_token = true
authorization = "access_token"

[[routes]]
name = "idt"
path = "/idt"
upstream = "{upstream}"
authorization = "id_token"
rules = [{{ path = "/open", public = true }}]
"#
    )
}

async fn gateway(issuer: &MockIssuer, apps: &str, extra: &str) -> Gateway {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let toml = format!("{}\n{extra}", config_for(&url, issuer, apps, "", ""));
    let gateway = Gateway::serve(listener, &toml);
    gateway.wait_ready().await;
    gateway
}

/// The claims of `token` if it is a valid token of `issuer`: signed by its published keys, its
/// issuer, not expired, and of the kind `token_use` names.
async fn issuer_token(issuer: &MockIssuer, token: &str, token_use: &str) -> Value {
    let keys: JwkSet = reqwest::get(format!("{}/.well-known/jwks.json", issuer.issuer_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(keys.find(&kid).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer.issuer_url()]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["token_use"], token_use, "{claims}");
    claims
}

async fn echo(browser: &Browser, url: &str) -> Value {
    let response = browser.get(url).await;
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_app_gets_the_sessions_tokens_before_and_after_a_refresh() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(&issuer, &apps(&upstream.url), "").await;
    let browser = Browser::new();
    let main = sign_in(&browser, &gateway).await;
    assert_eq!(header(&main, "x-forwarded-access-token"), None);
    assert_eq!(header(&main, "authorization"), None);

    let api = echo(&browser, &format!("{}/api/items", gateway.url)).await;
    let access = header(&api, "x-forwarded-access-token")
        .unwrap()
        .to_string();
    let claims = issuer_token(&issuer, &access, "access").await;
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(
        header(&api, "authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    let idt = echo(&browser, &format!("{}/idt/x", gateway.url)).await;
    let id_token = header(&idt, "authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();
    assert_eq!(
        issuer_token(&issuer, &id_token, "id").await["aud"],
        CLIENT_ID
    );
    assert_eq!(header(&idt, "x-forwarded-access-token"), None);

    // A session whose tokens are due for a refresh (issued 3500 s ago, 100 s left): the app gets
    // the refreshed access token, a valid one.
    issuer.with(|s| s.backdate = 3500);
    let due = Browser::new();
    sign_in(&due, &gateway).await;
    // Still due (refreshed tokens were backdated too); the next refresh gives fresh ones.
    issuer.with(|s| s.backdate = 0);
    let api = echo(&due, &format!("{}/api/items", gateway.url)).await;
    assert!(
        !issuer.with(|s| s.refreshes.is_empty()),
        "no refresh happened"
    );
    let after = header(&api, "x-forwarded-access-token").unwrap();
    assert_ne!(after, access);
    let claims = issuer_token(&issuer, after, "access").await;
    assert!(claims["exp"].as_u64().unwrap() > now());
    // The refreshed access token, not the one the session was signed in with.
    assert!(claims["iat"].as_u64().unwrap() + 60 > now(), "{claims}");
}

#[tokio::test]
async fn client_copies_of_tokens_never_reach_the_app() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(&issuer, &apps(&upstream.url), "").await;
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    for (path, forged) in [
        ("/x", "x-forwarded-access-token"),
        ("/x", "X_Forwarded_Access_Token"),
        ("/api/x", "x-forwarded-access-token"),
    ] {
        let echo: Value = json(
            browser
                .client
                .get(format!("{}{path}", gateway.url))
                .header(forged, "forged")
                .header("x-amzn-oidc-identity", "forged")
                .header("x-amzn-oidc-data", "forged"),
        )
        .await;
        let text = echo["headers"].to_string();
        assert!(!text.contains("forged"), "{path} {forged}: {text}");
    }
    // Nobody signed in, on a public path of a route that sets `Authorization`: the client's own
    // does not pass either.
    let echo: Value = json(
        reqwest::Client::new()
            .get(format!("{}/idt/open", gateway.url))
            .header("Authorization", "Bearer forged"),
    )
    .await;
    assert_eq!(header(&echo, "authorization"), None, "{echo}");
}

#[tokio::test]
async fn a_bearer_request_passes_its_own_token() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let gateway = gateway(&issuer, &apps(&upstream.url), "[bearer]\nenabled = true\n").await;
    // A session's access token is a bearer token the gateway accepts.
    let browser = Browser::new();
    sign_in(&browser, &gateway).await;
    let api = echo(&browser, &format!("{}/api/x", gateway.url)).await;
    let token = header(&api, "x-forwarded-access-token")
        .unwrap()
        .to_string();
    let echo: Value = json(
        reqwest::Client::new()
            .get(format!("{}/idt/x", gateway.url))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        header(&echo, "authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

#[tokio::test]
async fn sessions_keep_no_access_token_unless_a_route_passes_it() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let plain = format!(
        "[[routes]]\nname = \"main\"\nupstream = \"{}\"\n",
        upstream.url
    );
    let without = gateway(&issuer, &plain, "").await;
    let with = gateway(&issuer, &apps(&upstream.url), "").await;
    let (a, b) = (Browser::new(), Browser::new());
    sign_in(&a, &without).await;
    sign_in(&b, &with).await;
    // The access token is about 500 bytes here (Cognito's are about 1 KB): the cookie of a
    // session that keeps it is that much larger.
    let (small, large) = (
        a.cookies_for(&without.url).len(),
        b.cookies_for(&with.url).len(),
    );
    assert!(large > small + 300, "{small} vs {large}");
}
