//! The development issuer's sign-in page.

use crate::server::escape_html;

/// The sign-in form; `params` are the authorization request's parameters, carried through
/// hidden fields; `error` is shown above the form.
pub fn sign_in(
    params: &[(String, String)],
    error: Option<&str>,
    demo_hint: Option<&str>,
) -> String {
    let hidden: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape_html(e)))
        .unwrap_or_default();
    let hint = demo_hint
        .map(|h| format!(r#"<p class="hint">{}</p>"#, escape_html(h)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 24rem; margin: 4rem auto; padding: 0 1rem; }}
label {{ display: block; margin-top: 1rem; }}
input[type=text], input[type=password] {{ width: 100%; padding: .5rem; box-sizing: border-box; }}
button {{ margin-top: 1.5rem; padding: .5rem 1.5rem; }}
.error {{ color: #b00020; }} .hint {{ color: #555; font-size: .9rem; }}
.banner {{ background: #fff3cd; padding: .5rem; font-size: .85rem; }}
</style></head>
<body>
<p class="banner">portcullis development issuer: not for production.</p>
<h1>Sign in</h1>
{error}
<form method="post" action="/login">
{hidden}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
<button type="submit" id="sign-in">Sign in</button>
</form>
{hint}
</body></html>
"#
    )
}
