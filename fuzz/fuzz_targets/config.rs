//! The configuration loader: a TOML document and environment overrides (`key=value` lines after
//! a line `---`). Whatever comes in, a configuration or a list of errors, never a panic. (That
//! errors never quote a secret is held by the unit tests of `config`, with known secrets.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = text.split_once("\n---\n").unwrap_or((text, ""));
    let vars = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()));
    let _ = portcullis::config::from_sources(toml, vars);
});
