//! Several apps behind one gateway: routes by host and path prefix (exact hosts, wildcards, the
//! longest prefix), prefixes stripped, hosts preserved, rules and headers per route, 404 for
//! what no route covers, hosts that cannot be read one way, one sign-in shared across hosts
//! through `session.cookie_domain`, `rd` to route hosts only, forward-auth choosing the route,
//! WebSockets on a route, and requests counted by route.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::common::upstream::header;
use crate::common::*;

/// Every host name the tests use; a browser resolves each of them to the gateway.
const NAMES: [&str; 6] = [
    "portal.example.test",
    "wiki.example.test",
    "docs.example.test",
    "a.team.example.test",
    "x.y.team.example.test",
    "evil.test",
];

/// A gateway whose public URL is `http://portal.example.test:<port>`, in front of three apps.
struct Apps {
    issuer: MockIssuer,
    apps: [MockUpstream; 3],
    gateway: Gateway,
    port: u16,
}

impl Apps {
    /// Starts the apps and a gateway with the `[[routes]]` that `routes` gives for the three
    /// apps' URLs (and `extra` after them: more sections).
    async fn start(routes: impl Fn([&str; 3]) -> String, extra: &str) -> Self {
        let issuer = MockIssuer::start().await;
        let apps = [
            MockUpstream::start().await,
            MockUpstream::start().await,
            MockUpstream::start().await,
        ];
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let public = format!("http://portal.example.test:{port}");
        let routes = routes([&apps[0].url, &apps[1].url, &apps[2].url]);
        let toml = format!(
            "{}\n{extra}",
            config_for(
                &public,
                &issuer,
                &routes,
                "",
                "cookie_domain = \"example.test\""
            )
        );
        let gateway = Gateway::serve(listener, &toml);
        gateway.wait_ready().await;
        Self {
            issuer,
            apps,
            gateway,
            port,
        }
    }

    /// `http://<host>:<port><path>`.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    fn browser(&self) -> Browser {
        Browser::resolving(&NAMES, self.gateway.addr)
    }

    /// Which of the apps an echo came from: the one whose authority the request was sent with
    /// (routes that do not preserve the client's Host send the app's own).
    fn which(&self, echo: &Value) -> usize {
        let host = header(echo, "host").unwrap();
        self.apps
            .iter()
            .position(|a| a.url.trim_start_matches("http://") == host)
            .unwrap_or_else(|| panic!("no app is {host}"))
    }

    fn hits(&self) -> usize {
        self.apps.iter().map(MockUpstream::hits).sum()
    }
}

/// Sends `request` (a request line and headers, without the blank line) exactly as written and
/// returns the status and body.
async fn raw(apps: &Apps, request: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(apps.gateway.addr)
        .await
        .unwrap();
    let text = format!("{request}\r\nConnection: close\r\n\r\n");
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A `[[routes]]` entry that needs no sign-in, named `name`, for `host` (any if `None`) and
/// `path`, in front of `upstream`.
fn open_route(name: &str, host: Option<&str>, path: &str, upstream: &str) -> String {
    let host = host
        .map(|h| format!("host = \"{h}\"\n"))
        .unwrap_or_default();
    format!(
        "[[routes]]\nname = \"{name}\"\n{host}path = \"{path}\"\nupstream = \"{upstream}\"\nrules = [{{ path = \"/\", public = true }}]\n"
    )
}

/// Routes that need no sign-in: where requests go, and what the apps get.
fn public_routes([a, b, c]: [&str; 3]) -> String {
    let open = "rules = [{ path = \"/\", public = true }]";
    format!(
        r#"
[[routes]]
name = "main"
upstream = "{a}"
{open}

[[routes]]
name = "grafana"
path = "/grafana"
upstream = "{b}"
strip_prefix = true
{open}

[[routes]]
name = "grafana-api"
path = "/grafana/api"
upstream = "{c}"
{open}

[[routes]]
name = "admin"
path = "/admin"
upstream = "{c}"
default = "deny"

[[routes]]
name = "wiki"
host = "wiki.example.test"
upstream = "{b}"
preserve_host = true
{open}

[[routes]]
name = "team"
host = "*.team.example.test"
upstream = "{c}"
{open}

[[routes]]
name = "docs"
host = "docs.example.test"
path = "/docs"
upstream = "{b}"
{open}
"#
    )
}

#[tokio::test]
async fn requests_go_to_their_hosts_route_with_the_longest_prefix() {
    let t = Apps::start(public_routes, "").await;
    let browser = t.browser();
    let get = |host: &'static str, path: &'static str| {
        let (browser, url) = (browser.clone(), t.url(host, path));
        async move {
            let response = browser.get(&url).await;
            assert_eq!(response.status(), 200, "{url}");
            response.json::<Value>().await.unwrap()
        }
    };
    let portal = "portal.example.test";
    for (host, path, app, uri) in [
        (portal, "/", 0, "/"),
        (portal, "/grafana/d/1?x=1", 1, "/d/1?x=1"),
        (portal, "/grafana", 1, "/"),
        (portal, "/grafana/", 1, "/"),
        (portal, "/grafanax", 0, "/grafanax"),
        (portal, "/grafana/api/v1", 2, "/grafana/api/v1"),
        (portal, "/grafana/apix", 1, "/apix"),
        ("wiki.example.test", "/page", 1, "/page"),
        ("a.team.example.test", "/x", 2, "/x"),
        // A wildcard covers one label, no more.
        ("x.y.team.example.test", "/x", 0, "/x"),
        // An exact host whose routes do not cover the path: the routes without host.
        ("docs.example.test", "/docs/intro", 1, "/docs/intro"),
        ("docs.example.test", "/other", 0, "/other"),
    ] {
        let before = t.apps.each_ref().map(MockUpstream::hits);
        let echo = get(host, path).await;
        let after = t.apps.each_ref().map(MockUpstream::hits);
        let reached: Vec<usize> = (0..3).filter(|&i| after[i] > before[i]).collect();
        assert_eq!(
            (reached, echo["uri"].as_str().unwrap()),
            (vec![app], uri),
            "{host}{path}"
        );
    }

    // preserve_host: the wiki gets the client's Host; the others their own, and the client's in
    // X-Forwarded-Host.
    let wiki = get("wiki.example.test", "/").await;
    let wiki_host = format!("wiki.example.test:{}", t.port);
    assert_eq!(header(&wiki, "host"), Some(wiki_host.as_str()));
    assert_eq!(header(&wiki, "x-forwarded-host"), Some(wiki_host.as_str()));
    let team = get("a.team.example.test", "/").await;
    let team_host = format!("a.team.example.test:{}", t.port);
    assert_eq!(header(&team, "x-forwarded-host"), Some(team_host.as_str()));

    // Case, port and one trailing dot do not change the host's route.
    let port = t.port;
    let (status, body) = raw(
        &t,
        &format!("GET /x HTTP/1.1\r\nHost: WIKI.Example.Test.:{port}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    let sent = format!("WIKI.Example.Test.:{port}");
    assert_eq!(header(&echo, "host"), Some(sent.as_str()));
}

#[tokio::test]
async fn hostile_paths_are_routed_by_their_canonical_form() {
    let t = Apps::start(public_routes, "").await;
    let host = format!("Host: portal.example.test:{}", t.port);
    // Each reads as /admin (or below it) once canonical: the admin route's default deny
    // refuses it, whatever prefix it began with; it never reaches the public grafana app.
    for target in [
        "/grafana/../admin",
        "/grafana/%2e%2e/admin",
        "/grafana/api/../../admin/x",
        "/grafana;v=1/../admin",
        "/./grafana/./../admin",
    ] {
        let (status, body) = raw(&t, &format!("GET {target} HTTP/1.1\r\n{host}")).await;
        assert_eq!(status, 403, "{target}: {body}");
    }
    // Readings that some app would take one way and the gateway another are refused.
    for target in [
        "/grafana/..;/admin",
        "/grafana/%2e%2e%2fadmin",
        "/grafana/..%5cadmin",
        "/grafana%2fapi/x",
    ] {
        let (status, _) = raw(&t, &format!("GET {target} HTTP/1.1\r\n{host}")).await;
        assert_eq!(status, 400, "{target}");
    }
    assert_eq!(t.hits(), 0);
    // And a path that only looks like the api prefix stays with grafana, stripped.
    let (status, body) = raw(&t, &format!("GET /grafana/x/../api2 HTTP/1.1\r\n{host}")).await;
    assert_eq!(status, 200);
    let echo: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((t.which(&echo), echo["uri"].as_str()), (1, Some("/api2")));
}

#[tokio::test]
async fn requests_no_route_covers_get_404_and_reach_no_app() {
    let t = Apps::start(
        |[a, b, _]| {
            open_route("wiki", Some("wiki.example.test"), "/", a)
                + &open_route("docs", Some("portal.example.test"), "/docs", b)
        },
        "",
    )
    .await;
    let browser = t.browser();
    for url in [
        t.url("portal.example.test", "/"),
        t.url("portal.example.test", "/docsx"),
        t.url("evil.test", "/docs"),
        t.url("a.team.example.test", "/"),
    ] {
        let response = browser.get(&url).await;
        assert_eq!(response.status(), 404, "{url}");
        assert!(response.text().await.unwrap().contains("No app is served"));
    }
    assert_eq!(t.hits(), 0);
    assert_eq!(
        browser
            .get(&t.url("portal.example.test", "/docs/a"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_host_that_cannot_be_read_one_way_is_refused() {
    let t = Apps::start(public_routes, "").await;
    let port = t.port;
    for request in [
        // No Host at all.
        "GET /x HTTP/1.1".to_string(),
        // Two of them: which one would the app believe?
        format!("GET /x HTTP/1.1\r\nHost: wiki.example.test:{port}\r\nHost: a.team.example.test"),
        // An absolute-form target naming another host than Host.
        format!(
            "GET http://a.team.example.test:{port}/x HTTP/1.1\r\nHost: wiki.example.test:{port}"
        ),
        // Not a host.
        format!("GET /x HTTP/1.1\r\nHost: alice@wiki.example.test:{port}"),
        "GET /x HTTP/1.1\r\nHost: wiki.example.test/admin".to_string(),
        "GET /x HTTP/1.1\r\nHost: wiki.example.test:".to_string(),
    ] {
        let (status, body) = raw(&t, &request).await;
        assert_eq!(status, 400, "{request:?}: {body}");
    }
    assert_eq!(t.hits(), 0);
    // An absolute-form target that agrees with Host is served, on the route of its host.
    let (status, body) = raw(
        &t,
        &format!(
            "GET http://wiki.example.test:{port}/x HTTP/1.1\r\nHost: wiki.example.test:{port}"
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Routes with rules of their own: the wiki for admins (with a header of its own), ops for
/// addresses at other.org, a locked area by default deny, and the rest for anyone signed in.
fn guarded_routes([a, b, c]: [&str; 3]) -> String {
    format!(
        r#"
[[routes]]
name = "main"
upstream = "{a}"

[[routes]]
name = "wiki"
host = "wiki.example.test"
upstream = "{b}"
rules = [{{ path = "/admin", groups = ["admins"] }}]
headers = [{{ name = "X-Wiki-Roles", claim = "custom:roles", split = "|" }}]

[[routes]]
name = "ops"
path = "/ops"
upstream = "{c}"
rules = [{{ path = "/", email_domains = ["other.org"] }}]

[[routes]]
name = "locked"
path = "/locked"
upstream = "{c}"
default = "deny"
rules = [{{ path = "/open", public = true }}]
"#
    )
}

/// Signs `browser` in on the portal as the issuer's current user.
async fn sign_in_on_portal(t: &Apps, browser: &Browser) -> Value {
    let (response, hops) = browser.walk(&t.url("portal.example.test", "/")).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    response.json().await.unwrap()
}

fn become_bob(t: &Apps) {
    t.issuer.with(|s| {
        s.user.insert("sub".into(), json!("bob-sub"));
        s.user.insert("email".into(), json!("bob@other.org"));
        s.user.insert("cognito:username".into(), json!("bob"));
        s.user.insert("cognito:groups".into(), json!(["staff"]));
        s.user.insert("custom:roles".into(), json!("authp/user"));
    });
}

#[tokio::test]
async fn each_route_has_its_own_rules_and_headers() {
    let t = Apps::start(guarded_routes, "").await;
    let alice = t.browser();
    let echo = sign_in_on_portal(&t, &alice).await;
    assert_eq!(header(&echo, "x-wiki-roles"), None);
    assert_eq!(header(&echo, "x-roles"), Some("authp/admin,authp/user"));
    become_bob(&t);
    let bob = t.browser();
    sign_in_on_portal(&t, &bob).await;

    let status = |browser: &Browser, host: &'static str, path: &'static str| {
        let (browser, url) = (browser.clone(), t.url(host, path));
        async move { browser.get(&url).await.status().as_u16() }
    };
    // The session set on the portal is valid on the wiki's host (cookie_domain).
    assert_eq!(
        status(&alice, "wiki.example.test", "/admin/users").await,
        200
    );
    assert_eq!(status(&bob, "wiki.example.test", "/admin/users").await, 403);
    assert_eq!(status(&bob, "wiki.example.test", "/page").await, 200);
    // The other way round on ops; a rule at "/" covers the whole route, and only it.
    assert_eq!(status(&alice, "portal.example.test", "/ops/x").await, 403);
    assert_eq!(status(&bob, "portal.example.test", "/ops/x").await, 200);
    assert_eq!(status(&alice, "portal.example.test", "/opsx").await, 200);
    // Default deny on one route, a public path inside it relative to its prefix.
    assert_eq!(
        status(&alice, "portal.example.test", "/locked/x").await,
        403
    );
    assert_eq!(
        status(
            &Browser::resolving(&NAMES, t.gateway.addr),
            "portal.example.test",
            "/locked/open/x"
        )
        .await,
        200
    );

    // The wiki's header reaches the wiki; a client's copy of it is stripped on every route,
    // including those that do not set it.
    let echo: Value = json(
        alice
            .client
            .get(t.url("wiki.example.test", "/admin"))
            .header("X-Wiki-Roles", "forged"),
    )
    .await;
    assert_eq!(
        header(&echo, "x-wiki-roles"),
        Some("authp/admin,authp/user")
    );
    let echo: Value = json(
        alice
            .client
            .get(t.url("portal.example.test", "/x"))
            .header("x-wiki-roles", "forged")
            .header("X_Wiki_Roles", "forged"),
    )
    .await;
    assert!(echo["headers"].get("x-wiki-roles").is_none(), "{echo}");
    assert!(echo["headers"].get("x_wiki_roles").is_none(), "{echo}");
}

#[tokio::test]
async fn one_sign_in_serves_every_host_and_returns_to_the_url_asked() {
    let t = Apps::start(guarded_routes, "").await;
    let browser = t.browser();
    let asked = t.url("wiki.example.test", "/page?x=1");
    let (response, hops) = browser.walk(&asked).await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    // Through the portal's /oauth2/start, and back to the very URL asked for.
    let start = hops[0].location.as_deref().unwrap();
    let rd: String = url::form_urlencoded::byte_serialize(asked.as_bytes()).collect();
    assert_eq!(
        start,
        format!("http://portal.example.test:{}/oauth2/start?rd={rd}", t.port)
    );
    assert_eq!(hops.last().unwrap().url, asked);
    let echo: Value = response.json().await.unwrap();
    assert_eq!(
        (t.which(&echo), echo["uri"].as_str()),
        (1, Some("/page?x=1"))
    );
    // One cookie for the domain: the portal and the team hosts have the session too.
    assert!(
        browser
            .cookies_for(&t.url("docs.example.test", "/"))
            .contains("portcullis=")
    );
    assert_eq!(
        browser
            .get(&t.url("portal.example.test", "/x"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn rd_may_name_a_route_host_and_no_other() {
    let t = Apps::start(
        |apps| {
            format!(
                "{}\n[[routes]]\nname = \"team\"\nhost = \"*.team.example.test\"\nupstream = \"{}\"\n",
                guarded_routes(apps),
                apps[2]
            )
        },
        "",
    )
    .await;
    let port = t.port;
    for (rd, lands) in [
        (
            t.url("wiki.example.test", "/w?q=1"),
            t.url("wiki.example.test", "/w?q=1"),
        ),
        (
            t.url("a.team.example.test", "/t"),
            t.url("a.team.example.test", "/t"),
        ),
        (t.url("evil.test", "/"), t.url("portal.example.test", "/")),
        (
            t.url("x.y.team.example.test", "/"),
            t.url("portal.example.test", "/"),
        ),
        (
            format!("https://wiki.example.test:{port}/"),
            t.url("portal.example.test", "/"),
        ),
        (
            format!("http://wiki.example.test:{}/", port + 1),
            t.url("portal.example.test", "/"),
        ),
        (
            t.url("wiki.example.test", "//evil.test/"),
            t.url("portal.example.test", "/"),
        ),
    ] {
        let browser = t.browser();
        let enc: String = url::form_urlencoded::byte_serialize(rd.as_bytes()).collect();
        let (_, hops) = browser
            .walk(&t.url("portal.example.test", &format!("/oauth2/start?rd={enc}")))
            .await;
        assert_eq!(hops.last().unwrap().url, lands, "{rd}: {hops:#?}");
    }
}

#[tokio::test]
async fn forward_auth_answers_with_the_route_of_the_forwarded_host() {
    let t = Apps::start(guarded_routes, "").await;
    let alice = t.browser();
    sign_in_on_portal(&t, &alice).await;
    become_bob(&t);
    let bob = t.browser();
    sign_in_on_portal(&t, &bob).await;
    let ask = |browser: &Browser, host: &'static str, uri: &'static str| {
        let browser = browser.clone();
        let url = t.url("portal.example.test", "/oauth2/auth");
        let port = t.port;
        async move {
            browser
                .client
                .get(url)
                .header("X-Forwarded-Host", format!("{host}:{port}"))
                .header("X-Forwarded-Uri", uri)
                .header("X-Forwarded-Method", "GET")
                .send()
                .await
                .unwrap()
        }
    };
    let hits = t.hits();
    let allowed = ask(&alice, "wiki.example.test", "/admin").await;
    assert_eq!(allowed.status(), 202);
    assert_eq!(allowed.headers()["x-wiki-roles"], "authp/admin,authp/user");
    assert_eq!(ask(&bob, "wiki.example.test", "/admin").await.status(), 403);
    // The same path on another host is another route, with other rules.
    let main = ask(&bob, "portal.example.test", "/admin").await;
    assert_eq!(main.status(), 202);
    assert!(main.headers().get("x-wiki-roles").is_none());
    assert_eq!(
        ask(&alice, "portal.example.test", "/ops/x").await.status(),
        403
    );
    assert_eq!(
        ask(&bob, "portal.example.test", "/ops/x").await.status(),
        202
    );
    assert_eq!(t.hits(), hits, "forward-auth reaches no app");
}

#[tokio::test]
async fn forward_auth_believes_x_forwarded_host_only_from_trusted_proxies() {
    // Loopback is not among the trusted proxies here: the forwarded host is the client's word.
    let t = Apps::start(guarded_routes, "").await;
    let toml = config_for(
        &format!("http://portal.example.test:{}", t.port),
        &t.issuer,
        &guarded_routes([&t.apps[0].url, &t.apps[1].url, &t.apps[2].url]),
        "",
        "cookie_domain = \"example.test\"",
    )
    .replace("[server]", "[server]\ntrusted_proxies = [\"10.0.0.0/8\"]");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let toml = toml.replace(&format!(":{}\"", t.port), &format!(":{port}\""));
    let gateway = Gateway::serve(listener, &toml);
    gateway.wait_ready().await;
    become_bob(&t);
    let bob = Browser::resolving(&NAMES, gateway.addr);
    let (response, hops) = bob
        .walk(&format!("http://portal.example.test:{port}/"))
        .await;
    assert_eq!(response.status(), 200, "{hops:#?}");
    // Bob may not open the wiki's /admin. From a peer that is not a trusted proxy, a question
    // naming the wiki and /admin in headers is not believed: it is a question about the
    // request itself (the portal's /oauth2/auth), which bob may make.
    let ask = |url: String, forwarded: Option<(&str, &str)>| {
        let mut request = bob.client.get(url);
        if let Some((host, uri)) = forwarded {
            request = request
                .header("X-Forwarded-Host", format!("{host}:{port}"))
                .header("X-Forwarded-Uri", uri);
        }
        request.send()
    };
    let portal = format!("http://portal.example.test:{port}/oauth2/auth");
    let wiki = format!("http://wiki.example.test:{port}/oauth2/auth");
    let asked = ask(portal.clone(), Some(("wiki.example.test", "/admin"))).await;
    assert_eq!(asked.unwrap().status(), 202);
    // Envoy's form (`/oauth2/auth/<path>`) names the path in the request itself, and the host
    // is the request's own.
    let asked = ask(format!("{wiki}/admin"), None).await;
    assert_eq!(asked.unwrap().status(), 403);
    let asked = ask(
        format!("{portal}/admin"),
        Some(("wiki.example.test", "/admin")),
    )
    .await;
    assert_eq!(asked.unwrap().status(), 200);
}

#[tokio::test]
async fn websockets_pass_through_a_route() {
    let t = Apps::start(
        |[a, b, _]| {
            format!(
                r#"
[[routes]]
name = "main"
upstream = "{a}"

[[routes]]
name = "chat"
path = "/chat"
upstream = "{b}"
strip_prefix = true
rules = [{{ path = "/", public = true }}]
"#
            )
        },
        "",
    )
    .await;
    let ws = format!("ws://{}/chat/ws", t.gateway.addr);
    let (mut socket, response) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("hello ")
    );
    socket.send(Message::text("ping")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap(),
        Message::text("echo ping")
    );
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn requests_are_counted_by_route() {
    let metrics_port = free_port();
    let t = Apps::start(
        |[a, b, _]| {
            open_route("metered-wiki", Some("wiki.example.test"), "/", a)
                + &open_route("metered-docs", None, "/docs", b)
        },
        &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    )
    .await;
    let browser = t.browser();
    for (url, status) in [
        (t.url("wiki.example.test", "/"), 200),
        (t.url("wiki.example.test", "/x"), 200),
        (t.url("portal.example.test", "/docs/a"), 200),
        (t.url("portal.example.test", "/nothing-here"), 404),
    ] {
        assert_eq!(browser.get(&url).await.status(), status, "{url}");
    }
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"portcullis_requests_total{route="metered-wiki",status="2xx"} 2"#,
        r#"portcullis_requests_total{route="metered-docs",status="2xx"} 1"#,
        r#"portcullis_requests_total{route="none",status="4xx"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}
