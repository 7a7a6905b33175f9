//! The configuration checked end to end: TOML (and environment variables) in, settings or every
//! problem by key out.

use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Toml};

use super::oidc::DEFAULT_SCOPES;
use super::server::DEFAULT_LISTEN;
use super::session::SHIPPED_SECRETS;
use super::*;
use crate::identity::EmailTrust;
use crate::policy::DefaultAction;
use crate::route::HostPattern;

const MINIMAL: &str = r#"
    [server]
    public_url = "https://app.example.com"
    [upstream]
    url = "http://127.0.0.1:8080"
    [oidc]
    user_pool_id = "eu-west-1_AbC123"
    client_id = "abc"
    [session]
    secret = "0123456789abcdef0123456789abcdef"
"#;

#[test]
fn minimal_cognito_config_derives_issuer() {
    let s = from_toml_str(MINIMAL).unwrap();
    assert_eq!(
        s.oidc.issuer,
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    );
    assert_eq!(s.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(
        s.server.redirect_uri(),
        "https://app.example.com/oauth2/callback"
    );
    assert!(s.server.secure_cookies());
    assert!(s.oidc.client_secret.is_none());
    assert_eq!(s.oidc.scopes, DEFAULT_SCOPES);
}

#[test]
fn environment_variables_that_are_not_configuration_are_ignored() {
    let vars = [
        // Kubernetes service links for Services `portcullis-redis` and `portcullis`.
        ("redis_service_host", "10.0.0.7"),
        ("redis_port", "tcp://10.0.0.7:6379"),
        ("redis_port_6379_tcp_addr", "10.0.0.7"),
        ("service_host", "10.0.0.8"),
        ("port", "tcp://10.0.0.8:4180"),
        ("oidc_service_port", "443"),
        // A section alone names no key.
        ("port_4180_tcp", "tcp://10.0.0.8:4180"),
        ("port_4180_tcp_proto", "tcp"),
        ("redis_service_port_redis", "6379"),
        ("config", "/etc/portcullis.toml"),
        ("oidc.client_id", "from-env"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let (figment, ignored) = with_env(Figment::from(Toml::string(MINIMAL)), vars.into_iter());
    let settings = from_figment(&figment).unwrap();
    assert_eq!(settings.oidc.client_id, "from-env");
    assert_eq!(
        ignored,
        [
            "PORTCULLIS_OIDC_SERVICE_PORT",
            "PORTCULLIS_PORT",
            "PORTCULLIS_PORT_4180_TCP",
            "PORTCULLIS_PORT_4180_TCP_PROTO",
            "PORTCULLIS_REDIS_PORT",
            "PORTCULLIS_REDIS_PORT_6379_TCP_ADDR",
            "PORTCULLIS_REDIS_SERVICE_HOST",
            "PORTCULLIS_REDIS_SERVICE_PORT_REDIS",
            "PORTCULLIS_SERVICE_HOST",
        ]
    );
    // Anything else is configuration, and a name that is none is an error, never silently
    // dropped: one underscore short of `policy.default` would leave the default in force.
    for (typo, named) in [
        ("policy_default", "policy_default: unknown section"),
        ("session", "session: a section, not a value"),
        ("bearer_enabled", "bearer_enabled: unknown section"),
    ] {
        let vars = [(typo.to_string(), "deny".to_string())];
        let (figment, ignored) = with_env(Figment::from(Toml::string(MINIMAL)), vars.into_iter());
        assert!(ignored.is_empty(), "{typo}");
        let text = from_figment(&figment).unwrap_err().to_string();
        assert!(text.contains(named), "{typo}: {text}");
    }
    // A misspelled key under a known section is an error that names it, not its value.
    let typo = [("oidc.client_secrt".to_string(), "hunter2-value".to_string())];
    let (figment, ignored) = with_env(Figment::from(Toml::string(MINIMAL)), typo.into_iter());
    assert!(ignored.is_empty());
    let text = from_figment(&figment).unwrap_err().to_string();
    assert!(text.contains("oidc.client_secrt: unknown key"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn environment_values_of_every_type() {
    let vars = [
        ("oidc.assume_email_verified", "true"),
        ("server.max_connections", "5000"),
        ("server.idle_timeout", "2m"),
        ("log.access", "false"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let s = from_sources(MINIMAL, vars).unwrap();
    assert_eq!(s.oidc.email_trust, EmailTrust::AssumeVerifiedWhenUnsaid);
    assert_eq!(s.server.max_connections, 5000);
    assert_eq!(s.server.idle_timeout, Duration::from_secs(120));
    assert!(!s.log.access);
    // Type errors still name the key.
    let bad = [("log.access", "maybe"), ("server.max_connections", "-1")]
        .map(|(k, v)| (k.to_string(), v.to_string()));
    let text = from_sources(MINIMAL, bad).unwrap_err().to_string();
    assert!(text.contains("log.access: invalid value"), "{text}");
    assert!(
        text.contains("server.max_connections: invalid value"),
        "{text}"
    );
    let text = from_toml_str(&format!("{MINIMAL}\n[log]\naccess = 3\n")).unwrap_err();
    assert!(
        text.to_string().contains("log.access: invalid type"),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = from_toml_str(
        r#"
        typo = 1
        [server]
        public_url = "ftp://x"
        lisen = "x"
        [upstream]
        [oidc]
        user_pool_id = "nope"
        client_id = "abc"
        allowed_algorithms = ["HS256", "none"]
        [session]
        secret = "short"
        lifetime = "forever"
        [[headers]]
        name = "bad header"
        "#,
    )
    .unwrap_err();
    let text = err.to_string();
    for expected in [
        "typo: unknown section",
        "server.lisen: unknown key",
        "server.public_url",
        "upstream.url: required",
        "oidc.user_pool_id",
        "oidc.allowed_algorithms: HS256",
        "oidc.allowed_algorithms: none",
        "session.secret: must be at least 32 bytes",
        "session.lifetime",
        "headers[0].name",
        "headers[0].claim: required",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn type_errors_name_the_key() {
    let err = from_toml_str(&format!(
        "{MINIMAL}\n[[headers]]\nname = \"X-A\"\nclaim = {{ a = 1 }}\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("headers"), "{err}");
}

#[test]
fn trusted_proxies_match_ipv4_mapped_peers() {
    let s = from_toml_str(MINIMAL).unwrap();
    assert!(s.server.trusts("127.0.0.1".parse().unwrap()));
    assert!(s.server.trusts("::ffff:127.0.0.1".parse().unwrap()));
    assert!(s.server.trusts("::1".parse().unwrap()));
    assert!(!s.server.trusts("::ffff:10.0.0.1".parse().unwrap()));
}

#[test]
fn pool_ids() {
    assert_eq!(cognito_pool_region("us-east-1_AbC"), Some("us-east-1"));
    assert_eq!(
        cognito_pool_region("us-gov-west-1_x9"),
        Some("us-gov-west-1")
    );
    for bad in [
        "",
        "us-east-1",
        "us-east-1_",
        "US-east-1_a",
        "us-east-x_a",
        "us-east-1_a/b",
        "../_a",
    ] {
        assert_eq!(cognito_pool_region(bad), None, "{bad}");
    }
}

#[test]
fn region_must_match_pool() {
    let cfg = MINIMAL.replace("[oidc]", "[oidc]\nregion = \"us-east-1\"");
    assert!(
        from_toml_str(&cfg)
            .unwrap_err()
            .to_string()
            .contains("oidc.region")
    );
}

#[test]
fn rules_are_read_and_checked() {
    let ok = format!(
        r#"{MINIMAL}
        [policy]
        default = "deny"
        role_claims = [{{ claim = "custom:roles", split = "|" }}]
        [[rules]]
        path = "/health"
        public = true
        [[rules]]
        path = "/admin"
        methods = ["get", "POST"]
        groups = ["admins"]
        claims = {{ "custom:tier" = ["gold", "silver"], "address.country" = "NL" }}
        "#
    );
    let s = from_toml_str(&ok).unwrap();
    let policy = &s.routes[0].policy;
    assert_eq!(policy.default, DefaultAction::Deny);
    assert_eq!(policy.rules.len(), 2);
    assert_eq!(policy.rules[1].methods.as_ref().unwrap().len(), 2);
    assert_eq!(policy.rules[1].claims.len(), 2);

    let bad = format!(
        r#"{MINIMAL}
        [policy]
        default = "maybe"
        [[rules]]
        [[rules]]
        path = "admin"
        [[rules]]
        path = "/x"
        public = true
        groups = ["g"]
        [[rules]]
        path = "/y"
        roles = []
        methods = ["NOT A METHOD"]
        pubic = true
        "#
    );
    let text = from_toml_str(&bad).unwrap_err().to_string();
    for expected in [
        "policy.default",
        "rules[0].path: required",
        "rules[1].path",
        "rules[2]: a public rule takes no conditions",
        "rules[3].roles: an empty list never holds",
        "rules[3].methods",
        "rules[3].pubic: unknown key",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// MINIMAL without its `[upstream]`, for configurations with `[[routes]]`.
fn without_upstream() -> String {
    MINIMAL
        .lines()
        .filter(|l| !matches!(l.trim(), "[upstream]" | "url = \"http://127.0.0.1:8080\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn routes_are_read_with_rules_under_their_prefix() {
    let cfg = format!(
        r#"{}
        [policy]
        default = "deny"
        [[headers]]
        name = "X-Team"
        claim = "custom:team"
        [[routes]]
        name = "grafana"
        path = "/grafana/"
        upstream = "http://127.0.0.1:3000"
        strip_prefix = true
        default = "authenticated"
        timeout = "5s"
        rules = [{{ path = "/admin", groups = ["admins"] }}, {{ path = "/", roles = ["viewer"] }}]
        headers = [{{ name = "X-Grafana-Role", claim = "custom:roles", split = "|" }}]
        [[routes]]
        name = "wiki"
        host = "Wiki.Example.com"
        upstream = "http://wiki.internal:80"
        preserve_host = true
        "#,
        without_upstream()
    );
    let cfg = cfg.replace(
        "[session]",
        "[session]\n        cookie_domain = \".example.com\"",
    );
    let s = from_toml_str(&cfg).unwrap();
    assert_eq!(s.session.cookie_domain.as_deref(), Some("example.com"));
    let [grafana, wiki] = &s.routes[..] else {
        panic!("{:?}", s.routes)
    };
    assert_eq!(grafana.path.as_str(), "/grafana");
    assert_eq!(grafana.policy.default, DefaultAction::Authenticated);
    let paths: Vec<&str> = grafana
        .policy
        .rules
        .iter()
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(paths, ["/grafana/admin", "/grafana"]);
    assert_eq!(grafana.upstream.timeout, Duration::from_secs(5));
    assert_eq!(grafana.upstream.host, "127.0.0.1:3000");
    assert!(grafana.strip_prefix && !grafana.upstream.preserve_host);
    assert_eq!(grafana.headers.len(), 1);
    assert_eq!(
        wiki.host,
        Some(HostPattern::Exact("wiki.example.com".into()))
    );
    assert_eq!(wiki.policy.default, DefaultAction::Deny);
    assert_eq!(wiki.upstream.host, "wiki.internal");
    assert_eq!(wiki.upstream.origin.as_str(), "wiki.internal:80");
    assert!(wiki.upstream.preserve_host && wiki.upstream.forwarded_host.is_none());
    // `[upstream]` is the one route it always was: the client's Host, the public one
    // forwarded.
    let legacy = from_toml_str(MINIMAL).unwrap();
    let [proxy] = &legacy.routes[..] else {
        panic!()
    };
    assert_eq!(proxy.name, UPSTREAM_ROUTE_NAME);
    assert!(proxy.upstream.preserve_host);
    assert_eq!(
        proxy.upstream.forwarded_host.as_ref().unwrap(),
        "app.example.com"
    );
}

#[test]
fn route_errors_name_their_keys() {
    let both = format!("{MINIMAL}\n[[routes]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\n");
    let text = from_toml_str(&both).unwrap_err().to_string();
    assert!(
        text.contains("routes: a configuration has either [upstream]"),
        "{text}"
    );

    let bad = format!(
        r#"{}
        [[rules]]
        path = "/x"
        [[routes]]
        name = "Wiki"
        upstream = "http://127.0.0.1:1"
        [[routes]]
        name = "auth"
        upstream = "https://127.0.0.1:1"
        [[routes]]
        upstream = "http://127.0.0.1:1"
        path = "/a/*"
        [[routes]]
        name = "same"
        host = "wiki.example.com"
        upstream = "http://127.0.0.1:1"
        [[routes]]
        name = "same"
        host = "WIKI.example.com."
        path = "/"
        upstream = "http://127.0.0.1:2"
        [[routes]]
        name = "wild"
        host = "*.com"
        [[routes]]
        name = "far"
        host = "*.elsewhere.org"
        path = "/x;y"
        upstream = "http://127.0.0.1:1"
        default = "maybe"
        rules = [{{ path = "admin" }}]
        headers = [{{ name = "bad header", claim = "x" }}]
        "#,
        without_upstream()
    );
    let text = from_toml_str(&bad).unwrap_err().to_string();
    for expected in [
        "rules: with [[routes]], each route has its own `rules`",
        "routes[0].name: \"Wiki\" must be 1-32 of a-z, 0-9 and '-'",
        "routes[1].name: \"auth\" is reserved",
        "routes[1].upstream: only http:// upstreams",
        "routes[2].name: required",
        "routes[2].path: \"/a/*\": a route's path is a plain prefix",
        "routes[4].name: \"same\" is also the name of routes[3]",
        "routes[4]: routes[3] has the same host and path (wiki.example.com /)",
        "routes[5].host: \"*.com\": a wildcard needs a domain of at least two labels",
        "routes[5].upstream: required",
        "routes[6].path: \"/x;y\": a route's path is a plain prefix",
        "routes[6].default: \"maybe\" is not",
        "routes[6].rules[0].path",
        "routes[6].headers[0].name: not a valid header name",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // Hosts the session cookie cannot reach.
    let cfg = format!(
        "{}\n[[routes]]\nname = \"wiki\"\nhost = \"wiki.example.com\"\nupstream = \"http://127.0.0.1:1\"\n",
        without_upstream()
    );
    let text = from_toml_str(&cfg).unwrap_err().to_string();
    assert!(
        text.contains("routes[0].host: wiki.example.com is not server.public_url's host"),
        "{text}"
    );
    let cfg = cfg.replace("[session]", "[session]\ncookie_domain = \"other.org\"");
    let text = from_toml_str(&cfg).unwrap_err().to_string();
    for expected in [
        "session.cookie_domain: \"other.org\" does not cover server.public_url's host app.example.com",
        "routes[0].host: wiki.example.com is not other.org or below it",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let cfg = MINIMAL.replace("[session]", "[session]\ncookie_domain = \"com\"");
    let text = from_toml_str(&cfg).unwrap_err().to_string();
    assert!(
        text.contains("session.cookie_domain: \"com\" is not a domain"),
        "{text}"
    );
    let empty = format!(
        "{}\nroutes = []\n",
        without_upstream().replace("[server]", "routes = []\n[server]")
    );
    let text = from_toml_str(&empty.replace("\nroutes = []\n", "\n"))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("routes: an empty list serves nothing"),
        "{text}"
    );
}

#[test]
fn syntax_errors_are_one_line_without_the_source() {
    let err = from_toml_str("[oidc]\nclient_secret = \"s3cr3t-value\n").unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
}

#[test]
fn weak_session_secrets_are_refused() {
    let with = |secret: &str| {
        from_toml_str(&MINIMAL.replace("0123456789abcdef0123456789abcdef", secret))
            .err()
            .map(|e| e.to_string())
    };
    for weak in SHIPPED_SECRETS.iter().map(|s| s.to_string()).chain([
        "0".repeat(40),
        "ab".repeat(20),
        "short".into(),
        "my-Example-secret-that-is-long-enough-1234".into(),
        "ChangeMe0123456789abcdefghijklmnopqrst".into(),
    ]) {
        let err = with(&weak).unwrap_or_else(|| panic!("{weak:?} accepted"));
        assert!(err.contains("session.secret"), "{err}");
        assert!(!err.contains(&weak), "the secret is quoted: {err}");
    }
    // What `openssl rand -base64 48` and `-hex 16` give.
    for strong in [
        "q8Vt3mJ0y7Qe1nWc4s/RZb9KxPa2LdHf6UgToYiE5+MwNvAlSkXhIjBrCuDzGpF1",
        "9f86d081884c7d659a2feaa0c55ad015",
    ] {
        assert_eq!(with(strong), None, "{strong}");
    }
}

#[test]
fn secret_is_not_printed() {
    let s = from_toml_str(MINIMAL).unwrap();
    assert!(!format!("{s:?}").contains("0123456789abcdef"));
}

#[test]
fn plain_http_issuer_only_on_loopback() {
    let cfg = MINIMAL.replace(
        "user_pool_id = \"eu-west-1_AbC123\"",
        "issuer = \"http://idp.example.com\"",
    );
    assert!(
        from_toml_str(&cfg)
            .unwrap_err()
            .to_string()
            .contains("oidc.issuer")
    );
    let cfg = MINIMAL.replace(
        "user_pool_id = \"eu-west-1_AbC123\"",
        "issuer = \"http://127.0.0.1:9000/pool\"",
    );
    assert!(from_toml_str(&cfg).is_ok());
}

#[test]
fn reserved_authorize_params_are_refused() {
    let cfg = format!("{MINIMAL}\n[oidc.authorize_params]\nstate = \"x\"\n");
    // MINIMAL already has an [oidc] table; TOML allows a sub-table after it.
    assert!(
        from_toml_str(&cfg)
            .unwrap_err()
            .to_string()
            .contains("authorize_params.state")
    );
}

#[test]
fn assertion_settings_are_checked() {
    let on = format!("{MINIMAL}\n[assertion]\nenabled = true\n");
    let s = from_toml_str(&on).unwrap();
    let a = s.assertion.unwrap();
    assert_eq!(a.header.as_str(), "x-portcullis-assertion");
    assert_eq!(a.lifetime, Duration::from_secs(300));
    // Derived from the session secret: the same secret, the same key.
    let again = from_toml_str(&on).unwrap().assertion.unwrap();
    assert_eq!(a.key.public, again.key.public);
    assert_eq!(s.routes[0].audience, "http://127.0.0.1:8080");

    let bad = format!(
        "{MINIMAL}\n[assertion]\nenabled = true\nheader = \"Cookie\"\nlifetime = \"2h\"\nsigning_key_file = \"/nonexistent/key.pem\"\nprevious_key_files = [\"/nonexistent/old.pem\"]\n"
    );
    let text = from_toml_str(&bad).unwrap_err().to_string();
    for expected in [
        "assertion.header: \"cookie\" has a meaning of its own",
        "assertion.lifetime: at most 1h",
        "assertion.signing_key_file: cannot read /nonexistent/key.pem",
        "assertion.previous_key_files[0]: cannot read /nonexistent/old.pem",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let off = format!("{MINIMAL}\n[assertion]\nlifetime = \"1m\"\n");
    let text = from_toml_str(&off).unwrap_err().to_string();
    assert!(text.contains("assertion: set enabled = true"), "{text}");
    let blank = MINIMAL.replace(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://127.0.0.1:8080\"\naudience = \" \"",
    );
    let text = from_toml_str(&blank).unwrap_err().to_string();
    assert!(
        text.contains("upstream.audience: must be a non-empty name"),
        "{text}"
    );
}

#[test]
fn tokens_for_the_app_are_checked() {
    let routes = format!(
        "{}\n[[routes]]\nname = \"a\"\nupstream = \"http://127.0.0.1:1\"\nauthorization = \"access_token\"\n[[routes]]\nname = \"b\"\npath = \"/b\"\nupstream = \"http://127.0.0.1:2\"\nauthorization = \"refresh_token\"\n",
        without_upstream()
    );
    let text = from_toml_str(&routes).unwrap_err().to_string();
    assert!(
        text.contains("routes[1].authorization: \"refresh_token\" is not"),
        "{text}"
    );
    // The session keeps the access token only when a route passes it on.
    let keeps = |toml: &str| from_toml_str(toml).unwrap().session.keep_access_token;
    assert!(!keeps(MINIMAL));
    assert!(keeps(&MINIMAL.replace(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://127.0.0.1:8080\"\npass_access_token = true"
    )));
    assert!(!keeps(&MINIMAL.replace(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://127.0.0.1:8080\"\nauthorization = \"id_token\""
    )));
}
