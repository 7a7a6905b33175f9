//! The commented example configs in `config/` load as they are.

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

/// The configurations embedded in the Kubernetes examples load too (secrets from files there
/// are given inline here, since the files exist only in a pod).
#[test]
fn kubernetes_example_configs_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/k8s");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines
            .by_ref()
            .find(|l| l.trim_start().starts_with("portcullis.toml: |"))
        {
            let indent = line.len() - line.trim_start().len() + 2;
            let block: Vec<&str> = lines
                .clone()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
                .map(|l| l.get(indent..).unwrap_or(""))
                .collect();
            let toml = block
                .join("\n")
                .replace(
                    "client_secret_file = \"/etc/portcullis/secrets/client-secret\"",
                    "client_secret = \"x\"",
                )
                .replace(
                    "secret_file = \"/etc/portcullis/secrets/session-secret\"",
                    "secret = \"0123456789abcdef0123456789abcdef\"",
                );
            if let Err(e) = portcullis::config::from_toml_str(&toml) {
                panic!("{}:\n{e}\n{toml}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected the configs embedded in {dir}");
}
