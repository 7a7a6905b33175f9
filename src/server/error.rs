//! Every response the gateway makes up itself: error pages, the 401 for API clients, redirects.
//! Pages are short and generic; details go to the log once, where the error is raised.

use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
    X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};

use super::START_PATH;

/// What went wrong, and so which status and page the client gets.
#[derive(Debug)]
pub enum GatewayError {
    /// No session on a request that needs one, from an API client.
    Unauthorized,
    /// A bearer token that was not accepted (RFC 6750 `invalid_token`).
    InvalidToken,
    /// A valid bearer token without a scope the route requires (RFC 6750 `insufficient_scope`).
    InsufficientScope,
    /// The sign-in could not be completed because of the request (bad state, missing code).
    BadSignIn(&'static str),
    /// The issuer said no (`error=` on the callback); the error code is shown, escaped.
    SignInDenied {
        /// The issuer's `error`.
        error: String,
        /// The issuer's `error_description`, if any.
        description: Option<String>,
    },
    /// The issuer's token failed validation, or the issuer refused the code.
    SignInRejected,
    /// The issuer is not reachable (not discovered yet, or down).
    IssuerUnavailable,
    /// The session does not fit in cookies.
    SessionTooLarge,
    /// The session store (Redis) cannot be reached.
    StoreUnavailable,
    /// The request path cannot be read one way only.
    BadPath,
    /// The request's host cannot be read one way only (missing, repeated, not a host, or
    /// another than its target names).
    BadHost,
    /// No route covers the request: it reaches no app.
    NoRoute,
    /// A request that changes state, sent from another site's page.
    CrossSite,
    /// A signed-in user (or nobody, under default deny) refused by the rules; API clients.
    Forbidden,
    /// The upstream refused the connection or broke it.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
}

impl GatewayError {
    /// A short name for a failed sign-in, for `portcullis_logins_total{reason}`.
    pub fn reason(&self) -> &'static str {
        use GatewayError::*;
        match self {
            BadSignIn(_) => "bad_request",
            SignInDenied { .. } => "denied_by_issuer",
            SignInRejected => "token_rejected",
            IssuerUnavailable => "issuer_unavailable",
            SessionTooLarge => "session_too_large",
            StoreUnavailable => "store_unavailable",
            _ => "other",
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        use GatewayError::*;
        match self {
            Unauthorized => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    [(CONTENT_TYPE, "application/json")],
                    r#"{"error":"unauthorized","message":"sign-in required"}"#,
                )
                    .into_response();
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="portcullis""#),
                );
                no_store(r)
            }
            InvalidToken => bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is malformed, expired, or not for this service",
            ),
            InsufficientScope => bearer_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the token lacks a scope this route requires",
            ),
            BadSignIn(why) => page(
                StatusCode::BAD_REQUEST,
                "Sign-in could not be completed",
                why,
                true,
            ),
            SignInDenied { error, description } => {
                let detail = match description {
                    Some(d) => format!("The identity provider answered: {error} ({d})."),
                    None => format!("The identity provider answered: {error}."),
                };
                page(StatusCode::FORBIDDEN, "Sign-in was refused", &detail, true)
            }
            SignInRejected => page(
                StatusCode::FORBIDDEN,
                "Sign-in was rejected",
                "The identity provider's answer could not be verified.",
                true,
            ),
            IssuerUnavailable => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "The identity provider cannot be reached right now. Please try again shortly.",
                false,
            ),
            SessionTooLarge => page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Session too large",
                "Your identity does not fit in browser cookies. The administrator can keep sessions in Redis instead (session.store = \"redis\").",
                false,
            ),
            StoreUnavailable => page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "Sessions cannot be read right now. Please try again shortly.",
                false,
            ),
            BadPath => page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request path is not valid.",
                false,
            ),
            BadHost => page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request does not name its host one way only.",
                false,
            ),
            NoRoute => page(
                StatusCode::NOT_FOUND,
                "Not found",
                "No app is served at this address.",
                false,
            ),
            CrossSite => page(
                StatusCode::FORBIDDEN,
                "Request refused",
                "This request came from another site. Use the sign-out button on this site.",
                false,
            ),
            Forbidden => no_store(
                (
                    StatusCode::FORBIDDEN,
                    [(CONTENT_TYPE, "application/json")],
                    r#"{"error":"forbidden","message":"access denied"}"#,
                )
                    .into_response(),
            ),
            UpstreamUnavailable => page(
                StatusCode::BAD_GATEWAY,
                "Bad gateway",
                "The application is not reachable.",
                false,
            ),
            UpstreamTimeout => page(
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway timeout",
                "The application did not answer in time.",
                false,
            ),
        }
    }
}

impl From<crate::proxy::ProxyError> for GatewayError {
    fn from(e: crate::proxy::ProxyError) -> Self {
        match e {
            crate::proxy::ProxyError::Unavailable => Self::UpstreamUnavailable,
            crate::proxy::ProxyError::Timeout => Self::UpstreamTimeout,
        }
    }
}

/// An RFC 6750 error: JSON body and a `WWW-Authenticate` challenge naming it.
fn bearer_error(status: StatusCode, error: &'static str, description: &'static str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description }).to_string();
    let mut r = (status, [(CONTENT_TYPE, "application/json")], body).into_response();
    let challenge =
        format!(r#"Bearer realm="portcullis", error="{error}", error_description="{description}""#);
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    no_store(r)
}

/// A small HTML page; `detail` is escaped here.
fn page(status: StatusCode, title: &str, detail: &str, sign_in_link: bool) -> Response {
    let link = if sign_in_link {
        format!(r#"<p><a href="{START_PATH}">Sign in again</a></p>"#)
    } else {
        String::new()
    };
    html_page(
        status,
        title,
        &format!("<p>{}</p>{link}", escape_html(detail)),
    )
}

/// An HTML page around `body`, which must already be escaped. Never framed by another site:
/// the sign-out page's button must not be clicked through someone else's page.
pub(super) fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>\n"
    );
    let mut r = (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = r.headers_mut();
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    no_store(r)
}

/// Appends `Set-Cookie` values to a response.
pub(super) fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for c in cookies {
        response.headers_mut().append(SET_COOKIE, c);
    }
    response
}

/// A 302 to `location`, never cached.
pub fn redirect(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    no_store(r)
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(escape_html("a\nb"), "a\u{FFFD}b");
    }
}
