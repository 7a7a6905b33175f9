//! The canonical request path and rule patterns: no panic; an accepted path is its own
//! canonical form; a pattern matches a path's canonical form as it matches the path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::policy::{CanonicalPath, PathPattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (raw, pattern) = text.split_once('\n').unwrap_or((text, "/admin"));
    let Ok(path) = CanonicalPath::parse(raw) else {
        return;
    };
    let again = CanonicalPath::parse(path.as_str()).expect("canonical form refused");
    assert_eq!(again.as_str(), path.as_str());
    if let Ok(pattern) = PathPattern::parse(pattern) {
        assert_eq!(pattern.matches(&path), pattern.matches(&again));
    }
});
