//! The routes of the sign-in flow: start, callback, sign-out.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use url::Url;

use super::error::with_cookies;
use super::{AppState, GatewayError, SIGN_OUT_PATH, SIGNED_OUT_PATH, error, escape_html, redirect};
use crate::identity::Claims;
use crate::metrics::{LOGINS, SESSIONS};
use crate::oidc::{AuthorizeRequest, ExchangeError, Expect, now_secs, random_token};
use crate::session::{PendingLogin, SaveError, Session};
use http::StatusCode;

/// Longest query value read from the callback; anything longer is treated as absent.
const MAX_PARAM_LEN: usize = 4096;

/// The first value of `name` in a query string, if present and not absurdly long.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| v.len() <= MAX_PARAM_LEN)
}

/// Redirects to the issuer with a fresh state, nonce and PKCE verifier, remembered in a cookie;
/// after sign-in the browser goes to `target`.
pub(super) fn begin_login_at(app: &AppState, headers: &HeaderMap, target: String) -> Response {
    let Some(provider) = app.0.issuer.provider() else {
        return GatewayError::IssuerUnavailable.into_response();
    };
    metrics::counter!(LOGINS, "event" => "started", "reason" => "").increment(1);
    let login = PendingLogin {
        state: random_token(32),
        nonce: random_token(32),
        verifier: random_token(32),
        target,
        started_at: now_secs(),
    };
    let url = app.0.issuer.authorize_url(
        &provider,
        &app.0.settings.server.redirect_uri(),
        &AuthorizeRequest {
            state: &login.state,
            nonce: &login.nonce,
            verifier: &login.verifier,
        },
    );
    with_cookies(
        redirect(url.as_str()),
        app.0.sessions.begin_login(&login, headers),
    )
}

/// `GET /oauth2/start?rd=PATH`
pub(super) async fn start(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let target = app
        .live()
        .destinations
        .target(query_param(query.as_deref(), "rd").as_deref());
    begin_login_at(&app, &headers, target)
}

/// `GET /oauth2/callback?code=..&state=..` (or `?error=..`)
pub(super) async fn callback(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.as_deref();
    let now = now_secs();
    let state = query_param(query, "state");
    let (login, clear) = match &state {
        Some(s) => app.0.sessions.take_login(s, &headers, now),
        None => (None, None),
    };
    let outcome = finish_login(&app, query, login, &headers, now).await;
    let response = match outcome {
        Ok(r) => {
            metrics::counter!(LOGINS, "event" => "completed", "reason" => "").increment(1);
            r
        }
        Err(e) => {
            metrics::counter!(LOGINS, "event" => "failed", "reason" => e.reason()).increment(1);
            e.into_response()
        }
    };
    with_cookies(response, clear)
}

async fn finish_login(
    app: &AppState,
    query: Option<&str>,
    login: Option<PendingLogin>,
    headers: &HeaderMap,
    now: u64,
) -> Result<Response, GatewayError> {
    // Nothing from the query is shown or used unless it answers a sign-in this browser started:
    // otherwise anyone could put the issuer's voice on this origin with a crafted link.
    let Some(login) = login else {
        tracing::info!("callback without a matching sign-in in progress");
        return Err(GatewayError::BadSignIn(
            "This sign-in has expired or was started in another browser.",
        ));
    };
    if let Some(error) = query_param(query, "error") {
        let clip = |s: String, n: usize| s.chars().take(n).collect::<String>();
        let error = clip(error, 64);
        // From the query: escaped, so that it cannot break a text log line.
        tracing::info!(error = %error.escape_debug(), "issuer refused sign-in");
        return Err(GatewayError::SignInDenied {
            error,
            description: query_param(query, "error_description").map(|d| clip(d, 256)),
        });
    }
    let Some(code) = query_param(query, "code") else {
        return Err(GatewayError::BadSignIn(
            "The identity provider did not return a code.",
        ));
    };
    let provider = app
        .0
        .issuer
        .provider()
        .ok_or(GatewayError::IssuerUnavailable)?;
    let redirect_uri = app.0.settings.server.redirect_uri();
    let tokens = app
        .0
        .issuer
        .exchange_code(&provider, &redirect_uri, &code, &login.verifier)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "code exchange failed");
            match e {
                ExchangeError::Refused(_) => GatewayError::BadSignIn(
                    "The identity provider did not accept the sign-in code.",
                ),
                ExchangeError::Unavailable(_) => GatewayError::IssuerUnavailable,
            }
        })?;
    let Some(id_token) = tokens.id_token else {
        tracing::warn!("token endpoint returned no ID token");
        return Err(GatewayError::SignInRejected);
    };
    let claims = app
        .0
        .issuer
        .validate_id_token(
            &provider,
            &id_token,
            Expect::SignIn {
                nonce: &login.nonce,
            },
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "ID token rejected");
            GatewayError::SignInRejected
        })?;
    let mut session = Session::new(
        id_token,
        Claims::new(claims, app.0.settings.oidc.email_trust),
        tokens.refresh_token,
        app.0.settings.session.lifetime,
        now,
    );
    // Kept only if a route passes it on (the store drops it otherwise).
    session.access_token = tokens.access_token;
    let cookies = app
        .0
        .sessions
        .save(&mut session, headers, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "session not saved");
            match e {
                SaveError::TooLarge(_) => GatewayError::SessionTooLarge,
                SaveError::Unavailable(_) | SaveError::Ended => GatewayError::StoreUnavailable,
            }
        })?;
    tracing::info!(
        session = %session.id,
        sub = session.subject(),
        "sign-in completed"
    );
    metrics::counter!(SESSIONS, "store" => app.0.sessions.store_name()).increment(1);
    // Checked again: the hosts it may go to are those of the configuration now.
    let target = app.live().destinations.target(Some(&login.target));
    Ok(with_cookies(redirect(&target), cookies))
}

/// `GET /oauth2/sign_out?rd=PATH`: a page asking to confirm, whose button posts the sign-out.
/// A link or an image on another site can make a browser GET this URL; only a POST from the
/// gateway's own origin signs out.
pub(super) async fn confirm_sign_out(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Response {
    let target = app
        .live()
        .destinations
        .target(query_param(query.as_deref(), "rd").as_deref());
    let rd: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    let action = format!("{SIGN_OUT_PATH}?rd={rd}");
    let body = format!(
        "<p>Sign out of this site and of the identity provider?</p>\
         <form method=\"post\" action=\"{}\"><button id=\"sign-out\" type=\"submit\">Sign out</button></form>",
        escape_html(&action)
    );
    error::html_page(StatusCode::OK, "Sign out", &body)
}

/// Whether a POST comes from the gateway's own pages, not from a form on another site: browsers
/// name the origin of every cross-site POST (`Origin`, else `Sec-Fetch-Site`, else `Referer`).
/// A client that names none is no browser, and cannot be made to send a request by a page.
fn same_origin(headers: &HeaderMap, origin: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(from) = header("origin") {
        return from == origin;
    }
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match header("referer") {
        Some(referer) => {
            Url::parse(referer).is_ok_and(|r| r.origin().ascii_serialization() == origin)
        }
        None => true,
    }
}

/// `POST /oauth2/sign_out?rd=PATH`: ends the session here, then at the issuer.
pub(super) async fn sign_out(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers, &app.0.settings.server.public_origin) {
        tracing::info!("cross-site sign-out refused");
        return GatewayError::CrossSite.into_response();
    }
    let target = app
        .live()
        .destinations
        .target(query_param(query.as_deref(), "rd").as_deref());
    // With the store away, the browser's cookies are still removed; the server-side copy then
    // ends at its expiry.
    let session = app
        .0
        .sessions
        .load(&headers, now_secs())
        .await
        .ok()
        .flatten();
    let mut cookies = app.0.sessions.end(session.as_deref(), &headers).await;
    let settings = &app.0.settings;
    let signed_out_uri = format!("{}{SIGNED_OUT_PATH}", settings.server.public_origin);
    let issuer_logout: Option<Url> = if let Some(domain) = &settings.oidc.cognito_domain {
        // Cognito's own logout: clears the hosted-UI session, which would otherwise sign the user
        // straight back in. Not OpenID RP-initiated logout: no id_token_hint here.
        let mut url = domain.join("logout").ok();
        if let Some(u) = url.as_mut() {
            u.query_pairs_mut()
                .append_pair("client_id", &settings.oidc.client_id)
                .append_pair("logout_uri", &signed_out_uri);
        }
        url
    } else {
        app.0
            .issuer
            .provider()
            .and_then(|p| p.metadata.end_session_endpoint.clone())
            .map(|mut url| {
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("client_id", &settings.oidc.client_id)
                        .append_pair("post_logout_redirect_uri", &signed_out_uri);
                    if let Some(s) = &session {
                        q.append_pair("id_token_hint", &s.id_token);
                    }
                }
                url
            })
    };
    if let Some(s) = &session {
        if let (Some(token), Some(provider)) = (&s.refresh_token, app.0.issuer.provider()) {
            app.0.issuer.revoke(&provider, token).await;
        }
        tracing::info!(session = %s.id, "signed out");
    }
    let location = match issuer_logout {
        Some(url) => {
            cookies.extend(app.0.sessions.remember_sign_out_target(&target));
            url.to_string()
        }
        None => target,
    };
    with_cookies(redirect(&location), cookies)
}

/// `GET /oauth2/signed_out`: the issuer has signed the user out; go where sign-out was asked to.
pub(super) async fn signed_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let (target, clear) = app.0.sessions.take_sign_out_target(&headers);
    let target = app.live().destinations.target(target.as_deref());
    with_cookies(redirect(&target), clear)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_posts_sign_out() {
        let origin = "https://app.example.com";
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, http::HeaderValue::from_static(v));
            }
            same_origin(&h, origin)
        };
        assert!(with(&[("origin", "https://app.example.com")]));
        assert!(with(&[("sec-fetch-site", "same-origin")]));
        assert!(with(&[(
            "referer",
            "https://app.example.com/oauth2/sign_out"
        )]));
        // curl and other clients that no page can drive.
        assert!(with(&[]));
        for cross in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "https://app.example.com.evil.example")],
            &[("origin", "http://app.example.com")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("referer", "https://evil.example/page")],
            // Origin decides, whatever else is said.
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ],
        ] {
            assert!(!with(cross), "{cross:?}");
        }
    }
}
