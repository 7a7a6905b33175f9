//! Bearer tokens as they arrive: the `Authorization` header read, the token's header and claims
//! decoded before any key is chosen. Nothing may panic.
#![no_main]

use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use libfuzzer_sys::fuzz_target;
use portcullis::oidc::{bearer_token, unverified_claims};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    if let Some(token) = bearer_token(&headers) {
        if let Ok(token) = std::str::from_utf8(token) {
            let _ = jsonwebtoken::decode_header(token);
            let _ = unverified_claims(token);
        }
    }
});
