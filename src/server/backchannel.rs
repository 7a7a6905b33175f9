//! OpenID Connect Back-Channel Logout 1.0: the issuer tells the gateway, server to server, that a
//! user's session has ended, and every matching session ends here too. Finding sessions by user
//! or issuer session needs them server-side, so this works with the Redis store only.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CACHE_CONTROL;
use serde_json::json;

use super::AppState;
use crate::session::BackchannelError;

/// Largest body read: a logout token is a JWT of a few kilobytes.
const MAX_BODY: usize = 64 * 1024;

/// `POST /oauth2/backchannel_logout` with a form body `logout_token=<JWT>`. Anyone may call it,
/// so its body is read whole within `server.body_timeout` and up to [`MAX_BODY`]: a client that
/// sends a byte every few seconds does not hold the connection.
pub(super) async fn backchannel_logout(State(app): State<AppState>, body: Body) -> Response {
    let deadline = app.0.settings.server.body_timeout;
    let body = match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return answer(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is unreadable or too large",
            );
        }
        Err(_) => {
            tracing::info!("back-channel logout body not received in time");
            return answer(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request",
                "the body did not arrive in time",
            );
        }
    };
    let token = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned());
    let Some(token) = token else {
        return answer(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "logout_token is required",
        );
    };
    let Some(provider) = app.0.issuer.provider() else {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "issuer not discovered yet",
        );
    };
    let logout = match app.0.issuer.validate_logout_token(&provider, &token).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "back-channel logout token rejected");
            return answer(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "invalid logout token",
            );
        }
    };
    match app.0.sessions.end_matching(&logout).await {
        Ok(ended) => {
            tracing::info!(ended, by_sid = logout.sid.is_some(), "back-channel logout");
            (StatusCode::OK, [(CACHE_CONTROL, "no-store")]).into_response()
        }
        Err(BackchannelError::Replayed) => {
            tracing::warn!("back-channel logout token replayed");
            answer(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "logout token already used",
            )
        }
        Err(e @ BackchannelError::NeedsServerStore) => {
            answer(StatusCode::NOT_IMPLEMENTED, "unsupported", &e.to_string())
        }
        Err(BackchannelError::Unavailable(_)) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "session store unavailable",
        ),
    }
}

fn answer(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
