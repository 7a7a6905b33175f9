//! `rd` and the saved URL: whatever comes in, the target is a path on the gateway's origin.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::redirect::safe_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let target = safe_target(Some(raw));
    assert!(target.starts_with('/') && !target.starts_with("//"), "{target:?}");
    assert!(target.bytes().all(|b| b.is_ascii_graphic()), "{target:?}");
    let base = url::Url::parse("https://app.example.com/").unwrap();
    assert_eq!(base.join(&target).unwrap().origin(), base.origin(), "{target:?}");
});
