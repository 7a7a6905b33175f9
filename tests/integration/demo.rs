//! The demo and its development issuer: the issuer behaves like a Cognito user pool (the same
//! sign-in flow the gateway tests use, through its real sign-in form), and the demo works end to
//! end: sign in, see the identity at the app, admin rule, sign out, asked to sign in again.

use std::net::SocketAddr;

use crate::common::Browser;
use crate::common::webdriver::Chromium;
use serde_json::Value;
use tokio::sync::oneshot;

/// A running demo; its gateway URL.
struct Demo {
    url: String,
    issuer: String,
    _stop: oneshot::Sender<()>,
}

async fn start_demo() -> Demo {
    let (tx, rx) = oneshot::channel::<String>();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        portcullis::demo::run(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            move |text| {
                let _ = tx.send(text);
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    let text = rx.await.unwrap();
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with('/'))
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let issuer = text
        .split_whitespace()
        .find(|w| w.contains("dv-local-1_Portcullis"))
        .unwrap()
        .to_string();
    let demo = Demo {
        url,
        issuer,
        _stop: stop,
    };
    let ready = format!("{}/readyz", demo.url);
    crate::common::eventually("demo readiness", || async {
        matches!(reqwest::get(&ready).await, Ok(r) if r.status() == 200)
    })
    .await;
    demo
}

/// Signs in through the development issuer's form; returns the final response of the walk.
async fn sign_in_as(
    browser: &Browser,
    demo: &Demo,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let start = browser.get(&format!("{}/", demo.url)).await;
    assert_eq!(start.status(), 302);
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let page = browser.get(&authorize).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/login">"#),
        "{html}"
    );
    // The form carries the authorization request's parameters in hidden fields.
    let url = reqwest::Url::parse(&authorize).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("username".into(), user.into()));
    form.push(("password".into(), password.into()));
    let login = format!("{}/login", url.origin().ascii_serialization());
    let response = browser
        .client
        .post(&login)
        .form(&form)
        .send()
        .await
        .unwrap();
    if !response.status().is_redirection() {
        return response;
    }
    let callback = response.headers()["location"].to_str().unwrap().to_string();
    let (final_response, _) = browser.walk(&callback).await;
    final_response
}

#[tokio::test]
async fn demo_signs_in_shows_identity_applies_rules_and_signs_out() {
    let demo = start_demo().await;
    let alice = Browser::new();
    let page = sign_in_as(&alice, &demo, "alice", "alice-demo").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Demo app"), "{html}");
    assert!(html.contains("alice@example.com"), "{html}");
    assert!(html.contains("admins,staff"), "{html}");
    assert!(html.contains("authp/admin,authp/user"), "{html}");
    assert_eq!(
        alice.get(&format!("{}/admin", demo.url)).await.status(),
        200
    );

    let bob = Browser::new();
    assert_eq!(
        sign_in_as(&bob, &demo, "bob", "bob-demo").await.status(),
        200
    );
    assert_eq!(bob.get(&format!("{}/admin", demo.url)).await.status(), 403);

    // Sign out: Cognito-style /logout at the issuer, back to the gateway, asked to sign in again
    // (the issuer's own session is gone too, so its form is shown, not a silent sign-in).
    let out = alice.sign_out(&demo.url, "").await;
    let location = out.headers()["location"].to_str().unwrap().to_string();
    let (after, hops) = alice.walk(&location).await;
    assert!(hops.iter().any(|h| h.url.contains("/logout?")), "{hops:#?}");
    assert_eq!(after.status(), 200);
    let html = after.text().await.unwrap();
    assert!(
        html.contains(r#"action="/login""#),
        "the sign-in form again: {html}"
    );
}

#[tokio::test]
async fn wrong_passwords_are_refused_on_the_form() {
    let demo = start_demo().await;
    let browser = Browser::new();
    let response = sign_in_as(&browser, &demo, "alice", "wrong").await;
    assert_eq!(response.status(), 401);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Incorrect username or password")
    );
    let response = sign_in_as(&browser, &demo, "<script>", "x").await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_development_issuer_answers_like_cognito() {
    let demo = start_demo().await;
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{}/.well-known/openid-configuration", demo.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], demo.issuer.as_str());
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
        "jwks_uri",
    ] {
        assert!(doc[key].is_string(), "{key}");
    }
    assert!(
        doc["userinfo_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/oauth2/userInfo")
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let jwks: Value = http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    // A redirect URI off loopback is refused, and so is PKCE "plain".
    let authorize = doc["authorization_endpoint"].as_str().unwrap();
    for query in [
        "client_id=portcullis-demo&response_type=code&redirect_uri=https://evil.example.com/cb",
        "client_id=portcullis-demo&response_type=code&redirect_uri=http://127.0.0.1/cb&code_challenge=x&code_challenge_method=plain",
        "client_id=other&response_type=code&redirect_uri=http://127.0.0.1/cb",
    ] {
        let r = http
            .get(format!("{authorize}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
    }
}

#[tokio::test]
async fn a_real_browser_signs_in_sees_its_identity_and_signs_out() {
    let demo = start_demo().await;
    let browser = Chromium::start().await;
    // Open the app: sent to the issuer's sign-in page.
    browser.goto(&format!("{}/", demo.url)).await;
    browser.type_into("#username", "alice").await;
    browser.type_into("#password", "alice-demo").await;
    browser.click("#sign-in").await;
    // The app's page, with the identity the gateway passed.
    assert_eq!(
        browser.text("#x-forwarded-email").await,
        "alice@example.com"
    );
    assert_eq!(browser.text("#x-forwarded-groups").await, "admins,staff");
    assert_eq!(
        browser.text("#x-forwarded-roles").await,
        "authp/admin,authp/user"
    );
    assert!(browser.current_url().await.starts_with(&demo.url));
    // Sign out: back at the sign-in form, asked to sign in again.
    browser.click("#sign-out").await;
    browser.find("#username").await;
    assert!(browser.current_url().await.contains("/oauth2/authorize"));
}

#[tokio::test]
async fn the_development_issuer_refuses_sign_ins_posted_from_other_sites() {
    let demo = start_demo().await;
    let base = demo
        .issuer
        .split("/dv-local-1_Portcullis")
        .next()
        .unwrap()
        .to_string();
    let response = reqwest::Client::new()
        .post(format!("{base}/login"))
        .header("Origin", "https://evil.example.com")
        .form(&[
            ("username", "alice"),
            ("password", "alice-demo"),
            ("client_id", "portcullis-demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
