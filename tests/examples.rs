//! The commented example configs in `config/` load as they are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn example_configs_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = portcullis::config::from_toml_str(&text) {
            panic!("{}:\n{e}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 2, "expected the example configs in {dir}");
}
