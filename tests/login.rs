//! The sign-in flow end to end: browser, gateway, mock Cognito, upstream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::upstream::header;
use common::*;

#[tokio::test]
async fn sign_in_passes_identity_to_the_upstream() {
    let (issuer, upstream, gateway) = stack().await;
    let browser = Browser::new();
    let (response, hops) = browser.walk(&format!("{}/app/page?x=1", gateway.url)).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    let echo: serde_json::Value = response.json().await.unwrap();

    // The walk: gateway -> authorize -> callback -> original URL -> upstream.
    assert_eq!(hops.len(), 4, "{hops:#?}");
    assert!(
        hops[0]
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/oauth2/authorize?", issuer.base))
    );
    assert!(
        hops[1]
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/oauth2/callback?", gateway.url))
    );
    assert_eq!(hops[2].location.as_deref(), Some("/app/page?x=1"));
    assert_eq!(echo["uri"], "/app/page?x=1");

    assert_eq!(
        header(&echo, "x-forwarded-user"),
        Some("6f1c2a52-0000-4000-8000-000000000001")
    );
    assert_eq!(
        header(&echo, "x-forwarded-email"),
        Some("alice@example.com")
    );
    assert_eq!(
        header(&echo, "x-forwarded-preferred-username"),
        Some("alice")
    );
    assert_eq!(header(&echo, "x-forwarded-groups"), Some("admins,staff"));
    assert_eq!(header(&echo, "x-roles"), Some("authp/admin,authp/user"));
    assert_eq!(header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(
        header(&echo, "x-forwarded-host"),
        Some(gateway.addr.to_string().as_str())
    );
    assert_eq!(header(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(upstream.hits(), 1);

    // The authorization request carried everything, PKCE included for a confidential client.
    let authorize = issuer.with(|s| s.authorize_requests[0].clone());
    assert_eq!(authorize["scope"], "openid email profile");
    assert_eq!(
        authorize["redirect_uri"],
        format!("{}/oauth2/callback", gateway.url)
    );
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert!(
        authorize["state"].len() >= 43,
        "state has at least 256 bits"
    );
    assert!(authorize["nonce"].len() >= 43);
    // The code was exchanged with client_secret_basic and the PKCE verifier.
    let (form, auth) = issuer.with(|s| s.token_requests[0].clone());
    assert!(auth.unwrap().starts_with("Basic "));
    assert!(form.contains_key("code_verifier"));
    assert!(!form.contains_key("client_secret"));
}
