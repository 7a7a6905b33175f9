//! The session cookie, from the `Cookie` header to a session: chunks read from the header (and
//! the gateway's cookies stripped from it), the sealed value opened, the stored form decoded.
//! Nothing may panic; a value that opens must be one the codec sealed.
#![no_main]

use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;
use portcullis::identity::EmailTrust;
use portcullis::session::{Codec, CookieJar, MAX_CHUNKS, Session};

fuzz_target!(|data: &[u8]| {
    let codec = Codec::new(b"a fuzzing secret of at least 32 bytes", "cookie v1");
    // The raw bytes as a stored session (what a sealed cookie would carry inside).
    let _ = Session::from_stored(data, EmailTrust::default());
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, value);
    let jar = CookieJar::new("portcullis".into(), false, None);
    if let Some(sealed) = jar.read_chunks(&headers, MAX_CHUNKS) {
        if let Some(plain) = codec.open(jar.base(), &sealed) {
            panic!("an unsealed value opened: {plain:?}");
        }
    }
    let _ = jar.write_chunks("", 3800, 0, &headers);
    jar.strip(&mut headers);
    for value in headers.get_all(COOKIE) {
        for piece in value.as_bytes().split(|&b| b == b';') {
            let name = piece.split(|&b| b == b'=').next().unwrap_or_default().trim_ascii();
            assert!(!jar.is_ours(name), "a gateway cookie reached the app");
        }
    }
});
