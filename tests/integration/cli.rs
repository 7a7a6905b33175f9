//! The `portcullis` binary: `check` against a live (mock) issuer, config errors all at once,
//! environment overrides and secret files.

use std::path::PathBuf;
use std::process::Output;

use crate::common::*;

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn portcullis(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args).env_remove("PORTCULLIS_CONFIG");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn check_validates_config_and_issuer() {
    let issuer = MockIssuer::start().await;
    let dir = temp_dir("ok");
    let path = dir.join("portcullis.toml");
    std::fs::write(
        &path,
        config(
            "https://app.example.com",
            &issuer,
            "http://127.0.0.1:9",
            "",
            "",
        ),
    )
    .unwrap();
    let out = portcullis(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("config: ok"), "{stdout}");
    assert!(
        stdout.contains("https://app.example.com/oauth2/callback"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://app.example.com/oauth2/signed_out"),
        "{stdout}"
    );

    // Issuer unreachable: exit 69, one line, no panic.
    issuer.with(|s| s.down = true);
    let out = portcullis(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(69));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("issuer:") && stderr.contains("503"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[tokio::test]
async fn check_lists_the_routes_and_what_can_never_match() {
    let issuer = MockIssuer::start().await;
    let dir = temp_dir("routes");
    let path = dir.join("portcullis.toml");
    let routes = r#"
[[routes]]
name = "wiki"
host = "wiki.example.com"
upstream = "http://127.0.0.1:8081"
rules = [{ path = "/admin", groups = ["admins"] }, { path = "/admin/users", groups = ["hr"] }]

[[routes]]
name = "grafana"
path = "/grafana"
upstream = "http://127.0.0.1:3000"
strip_prefix = true
default = "deny"

[[routes]]
name = "health-app"
path = "/healthz"
upstream = "http://127.0.0.1:8082"
"#;
    let toml = config_for(
        "https://app.example.com",
        &issuer,
        routes,
        "",
        "cookie_domain = \"example.com\"",
    );
    std::fs::write(&path, toml).unwrap();
    let out = portcullis(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "route wiki: wiki.example.com / -> http://127.0.0.1:8081 (2 rules)",
        "route grafana: any host /grafana -> http://127.0.0.1:3000 (0 rules, default deny, strips its prefix)",
        "route health-app: any host /healthz -> http://127.0.0.1:8082 (0 rules)",
        "warning: routes[2] (health-app): the gateway answers /healthz itself",
        "warning: routes[0].rules[1]: never matches: routes[0].rules[0] (\"/admin\")",
        "config: ok",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn config_errors_are_reported_all_at_once() {
    let dir = temp_dir("bad");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        r#"
[server]
public_url = "not a url"
listen = "nowhere"

[upstream]
url = "https://upstream.internal/app"

[oidc]
user_pool_id = "eu-west-1-no-underscore"
allowed_algorithms = ["none"]
clinet_id = "typo"

[session]
secret = "too short"
"#,
    )
    .unwrap();
    let out = portcullis(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(64));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("config: "))
        .collect();
    for key in [
        "server.listen",
        "server.public_url",
        "upstream.url",
        "oidc.user_pool_id",
        "oidc.allowed_algorithms",
        "oidc.clinet_id: unknown key",
        "oidc.client_id: required",
        "session.secret",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(key)),
            "{key} missing in:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("too short"),
        "{stderr}"
    );

    let out = portcullis(&["check", "--config", "/nonexistent/portcullis.toml"], &[]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("does not exist"));
}

#[tokio::test]
async fn environment_overrides_and_secret_files() {
    let issuer = MockIssuer::start().await;
    let dir = temp_dir("env");
    let secret_path = dir.join("client-secret");
    std::fs::write(&secret_path, format!("{CLIENT_SECRET}\n")).unwrap();
    let path = dir.join("portcullis.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[server]
public_url = "https://app.example.com"
[upstream]
url = "http://127.0.0.1:8080"
[oidc]
issuer = "{}"
client_secret_file = "{}"
"#,
            issuer.issuer_url(),
            secret_path.display()
        ),
    )
    .unwrap();
    let config_path = path.to_str().unwrap();
    // client_id and the session secret come from the environment.
    let out = portcullis(
        &["check"],
        &[
            ("PORTCULLIS_CONFIG", config_path),
            ("PORTCULLIS_OIDC__CLIENT_ID", "12345"),
            ("PORTCULLIS_SESSION__SECRET", SESSION_SECRET),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Without them, both are named.
    let out = portcullis(&["check", "--config", config_path], &[]).await;
    let stderr = text(&out.stderr);
    assert!(stderr.contains("oidc.client_id: required"), "{stderr}");
    assert!(stderr.contains("session.secret: required"), "{stderr}");
    // An unknown key from the environment is an error like any other.
    let out = portcullis(
        &["check", "--config", config_path],
        &[
            ("PORTCULLIS_OIDC__CLIENT_ID", "x"),
            ("PORTCULLIS_SESSION__SECRET", SESSION_SECRET),
            ("PORTCULLIS_SESSION__SECRT", "typo"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("session.secrt: unknown key"));
    let out = portcullis(
        &["check", "--config", config_path],
        &[
            ("PORTCULLIS_SESSION__SECRET", SESSION_SECRET),
            ("PORTCULLIS_OIDC__CLIENT_SECRT", "leaked-if-printed"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(64));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("oidc.client_secrt: unknown key"),
        "{stderr}"
    );
    assert!(!stderr.contains("leaked-if-printed"), "{stderr}");

    // Kubernetes service links (Services `portcullis` and `portcullis-redis` in the namespace)
    // are not configuration: named once, by name, and the gateway goes on.
    let out = portcullis(
        &["check", "--config", config_path],
        &[
            ("PORTCULLIS_OIDC__CLIENT_ID", "x"),
            ("PORTCULLIS_SESSION__SECRET", SESSION_SECRET),
            ("PORTCULLIS_REDIS_SERVICE_HOST", "10.96.0.7"),
            ("PORTCULLIS_REDIS_PORT", "tcp://10.96.0.7:6379"),
            ("PORTCULLIS_SERVICE_HOST", "10.96.0.8"),
            ("PORTCULLIS_PORT", "tcp://10.96.0.8:4180"),
            ("PORTCULLIS_PORT_4180_TCP_PROTO", "tcp"),
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("PORTCULLIS_REDIS_SERVICE_HOST"), "{stderr}");
    assert!(
        stderr.contains("PORTCULLIS_PORT_4180_TCP_PROTO"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("10.96.0"),
        "values are not printed: {stderr}"
    );
    assert_eq!(stderr.matches("were ignored").count(), 1, "{stderr}");

    // Values that look like numbers are taken verbatim, not as numbers: these forty digits are
    // a 40-byte secret, not a number without its leading zeros.
    let out = portcullis(
        &["check", "--config", config_path],
        &[
            ("PORTCULLIS_OIDC__CLIENT_ID", "0012345"),
            (
                "PORTCULLIS_SESSION__SECRET",
                "0012345678901234567890123456789012345678",
            ),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn check_reports_rules_that_never_match() {
    let issuer = MockIssuer::start().await;
    let dir = temp_dir("rules");
    let path = dir.join("portcullis.toml");
    let rules = r#"
[[rules]]
path = "/api"

[[rules]]
path = "/api/admin"
groups = ["admins"]

[[rules]]
path = "/x;y"
"#;
    std::fs::write(
        &path,
        format!(
            "{}{rules}",
            config(
                "https://app.example.com",
                &issuer,
                "http://127.0.0.1:9",
                "",
                ""
            )
        ),
    )
    .unwrap();
    let out = portcullis(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("warning: rules[1]: never matches: rules[0] (\"/api\")"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: rules[2]: path \"/x;y\" can never match"),
        "{stdout}"
    );
}

#[tokio::test]
async fn demo_and_dev_issuer_refuse_non_loopback_addresses() {
    let out = portcullis(&["demo", "--listen", "0.0.0.0:0"], &[]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("loopback only"),
        "{}",
        text(&out.stderr)
    );
    let dir = temp_dir("dev-issuer");
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        "[[users]]\nusername = \"dev\"\npassword = \"pw\"\nemail = \"dev@example.com\"\n",
    )
    .unwrap();
    let out = portcullis(
        &[
            "dev-issuer",
            "--users",
            users.to_str().unwrap(),
            "--listen",
            "10.0.0.1:9000",
        ],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(64));
    // A users file with a typo is reported, not half-read.
    std::fs::write(
        &users,
        "[[users]]\nusername = \"dev\"\npasword = \"pw\"\nemail = \"d@e\"\n",
    )
    .unwrap();
    let out = portcullis(&["dev-issuer", "--users", users.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("pasword"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn dev_issuer_serves_users_from_a_file() {
    use tokio::io::AsyncBufReadExt;
    let dir = temp_dir("dev-issuer-run");
    let users = dir.join("users.toml");
    std::fs::write(
        &users,
        "[[users]]\nusername = \"carol\"\npassword = \"pw\"\nemail = \"carol@example.com\"\ngroups = [\"ops\"]\nattributes = { \"custom:roles\" = \"a|b\" }\n",
    )
    .unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "dev-issuer",
            "--users",
            users.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next_line().await.unwrap().unwrap();
    assert!(banner.contains("NOT FOR PRODUCTION"), "{banner}");
    let issuer = lines.next_line().await.unwrap().unwrap();
    let issuer = issuer.split_whitespace().last().unwrap().to_string();
    let doc: serde_json::Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
}

#[tokio::test]
async fn healthcheck_reports_liveness() {
    let (_issuer, _upstream, gateway) = stack().await;
    let url = format!("{}/healthz", gateway.url);
    assert!(
        portcullis(&["healthcheck", "--url", &url], &[])
            .await
            .status
            .success()
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = portcullis(
        &["healthcheck", "--url", &format!("http://{closed}/healthz")],
        &[],
    )
    .await;
    assert!(!out.status.success());
}
