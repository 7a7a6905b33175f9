//! Claims to identity headers: any JSON claims, through the default mappings and delimited
//! ones. A header value never carries a control character.
#![no_main]

use http::{HeaderMap, HeaderName};
use libfuzzer_sys::fuzz_target;
use portcullis::identity::{ClaimPath, ClaimSource, Claims, HeaderMapping, IdentityHeaders};

fuzz_target!(|data: &[u8]| {
    let Ok(map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data) else {
        return;
    };
    let roles = HeaderMapping {
        name: HeaderName::from_static("x-roles"),
        source: ClaimSource {
            claims: vec![ClaimPath::parse("custom:roles").unwrap()],
            split: Some("|".into()),
        },
        join: ",".into(),
    };
    let identity = IdentityHeaders::with_defaults(vec![roles]);
    let mut headers = HeaderMap::new();
    identity.apply(&Claims::from(map), &mut headers);
    for value in headers.values() {
        assert!(!value.as_bytes().iter().any(u8::is_ascii_control), "{value:?}");
    }
});
