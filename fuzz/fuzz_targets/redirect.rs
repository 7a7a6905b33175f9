//! `rd` and the saved URL: whatever comes in, the target is a path on the gateway's origin, or
//! an absolute URL on one of the gateway's hosts (its own, or one a route names).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::redirect::{Destinations, safe_target};
use portcullis::route::HostPattern;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let target = safe_target(Some(raw));
    assert!(target.starts_with('/') && !target.starts_with("//"), "{target:?}");
    assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{target:?}");
    let base = url::Url::parse("https://app.example.com/").unwrap();
    assert_eq!(base.join(&target).unwrap().origin(), base.origin(), "{target:?}");

    let hosts = ["wiki.example.com", "*.apps.example.com"].map(|h| HostPattern::parse(h).unwrap());
    let destinations = Destinations::new(&base, hosts.clone());
    let target = destinations.target(Some(raw));
    assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{target:?}");
    if target.starts_with('/') {
        assert!(!target.starts_with("//"), "{target:?}");
    } else {
        let url = url::Url::parse(&target).unwrap();
        assert_eq!((url.scheme(), url.port()), ("https", None), "{target:?}");
        assert!(url.username().is_empty() && url.password().is_none(), "{target:?}");
        let host = url.host_str().unwrap();
        assert!(
            host == "app.example.com" || hosts.iter().any(|h| h.matches(host)),
            "{target:?}"
        );
    }
});
