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
        let text = with_inline_secrets(&std::fs::read_to_string(&path).unwrap());
        if let Err(e) = portcullis::config::from_toml_str(&text) {
            panic!("{}:\n{e}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 2, "expected the example configs in {dir}");
}

/// `config` with its secret files replaced by inline secrets: the files exist only where the
/// gateway is deployed. The examples print no secret of their own (one would be public).
fn with_inline_secrets(config: &str) -> String {
    let mut out = Vec::new();
    for line in config.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        out.push(match key {
            "client_secret_file" => "client_secret = \"an-app-client-secret\"".to_string(),
            "secret_file" => "secret = \"9f86d081884c7d659a2feaa0c55ad015\"".to_string(),
            _ => line.to_string(),
        });
    }
    out.join("\n")
}

#[test]
fn examples_hold_no_session_secret_the_gateway_accepts() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "config/cognito.toml",
        "config/oidc-generic.toml",
        "docker/k8s/sidecar.yaml",
        "docker/k8s/redis.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        for line in text.lines() {
            let line = line.trim();
            assert!(
                !(line.starts_with("secret =") || line.starts_with("session-secret:")),
                "{file}: an inline session secret: {line}"
            );
        }
    }
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
            let toml = with_inline_secrets(&block.join("\n"));
            if let Err(e) = portcullis::config::from_toml_str(&toml) {
                panic!("{}:\n{e}\n{toml}", path.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 2, "expected the configs embedded in {dir}");
}
