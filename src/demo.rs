//! `portcullis demo`: the whole picture on one machine, without an AWS account. A development
//! issuer that behaves like a Cognito user pool, a small app that shows the identity headers it
//! receives, and the gateway between them, all on loopback.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use tokio::net::TcpListener;

use crate::dev::{self, DevIssuerConfig, demo_users};
use crate::oidc::random_token;
use crate::server::escape_html;

/// The demo's app client.
const DEMO_CLIENT_ID: &str = "portcullis-demo";

/// Headers the demo app shows.
const SHOWN: [&str; 6] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-roles",
    "x-forwarded-for",
];

/// Whether `addr` is a loopback address (the demo and the development issuer refuse others).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Runs the demo with the gateway on `listen` until `shutdown` completes; `announce` receives
/// the text to print once everything listens.
pub async fn run(
    listen: SocketAddr,
    announce: impl FnOnce(String),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    if !is_loopback(&listen) {
        return Err(format!(
            "the demo listens on loopback only ({listen} is not); it is not for production"
        ));
    }
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    let gateway = bind(listen).await?;
    let issuer = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let app = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = |l: &TcpListener| l.local_addr().map_err(|e| e.to_string());
    let (gateway_addr, issuer_addr, app_addr) = (addr(&gateway)?, addr(&issuer)?, addr(&app)?);

    let users = demo_users();
    let hint = users
        .iter()
        .map(|u| format!("{} / {}", u.username, u.password))
        .collect::<Vec<_>>()
        .join(", ");
    let client_secret = random_token(24);
    let issuer_config = DevIssuerConfig {
        client_id: DEMO_CLIENT_ID.to_string(),
        client_secret: Some(client_secret.clone()),
        users: users.clone(),
        token_ttl: std::time::Duration::from_secs(3600),
        hint: Some(format!("Demo users: {hint}")),
    };
    tokio::spawn(async move {
        if let Err(e) = dev::serve_issuer(issuer, issuer_config, std::future::pending()).await {
            tracing::error!(error = %e, "demo issuer stopped");
        }
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(app, demo_app()).await {
            tracing::error!(error = %e, "demo app stopped");
        }
    });

    let toml = format!(
        r#"
[server]
listen = "{gateway_addr}"
public_url = "http://{gateway_addr}"

[upstream]
url = "http://{app_addr}"

[oidc]
issuer = "http://{issuer_addr}/{pool}"
client_id = "{DEMO_CLIENT_ID}"
client_secret = "{client_secret}"
cognito_domain = "http://{issuer_addr}"

[session]
secret = "{session_secret}"

[[headers]]
name = "X-Forwarded-Roles"
claim = "custom:roles"
split = "|"

[[rules]]
path = "/admin"
groups = ["admins"]
"#,
        pool = dev::DEV_POOL_ID,
        session_secret = random_token(48),
    );
    let settings = crate::config::from_toml_str(&toml).map_err(|e| e.to_string())?;

    let mut text = format!(
        "portcullis demo (not for production)\n\n  Open http://{gateway_addr}/ in a browser.\n\n  Users:\n"
    );
    for u in &users {
        text.push_str(&format!(
            "    {:<6} password {:<12} groups {:<14} custom:roles {}\n",
            u.username,
            u.password,
            u.groups.join(","),
            u.attributes
                .get("custom:roles")
                .map(String::as_str)
                .unwrap_or("")
        ));
    }
    text.push_str(&format!(
        "\n  /admin is for the admins group (alice). Issuer: http://{issuer_addr}/{}\n",
        dev::DEV_POOL_ID
    ));
    announce(text);
    crate::serve(gateway, settings, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// The demo's app: one page showing the identity headers it received.
fn demo_app() -> Router {
    Router::new().fallback(|uri: axum::http::Uri, headers: HeaderMap| async move {
        let rows: String = SHOWN
            .iter()
            .map(|name| {
                let value = headers
                    .get(*name)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_else(|| "(not sent)".to_string());
                format!(
                    "<tr><th>{name}</th><td id=\"{name}\">{}</td></tr>",
                    escape_html(&value)
                )
            })
            .collect();
        Html(format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo app</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 3rem; }} th {{ text-align: left; padding-right: 1rem; }}</style>
</head><body>
<h1>Demo app</h1>
<p>This page is served by an app behind portcullis. It saw <code>{path}</code> with these headers:</p>
<table>{rows}</table>
<p><a href="/">Home</a> · <a href="/admin">Admins only</a> · <a href="/oauth2/userinfo">/oauth2/userinfo</a></p>
<form method="post" action="/oauth2/sign_out"><button id="sign-out" type="submit">Sign out</button></form>
</body></html>"#,
            path = escape_html(uri.path()),
        ))
    })
}
