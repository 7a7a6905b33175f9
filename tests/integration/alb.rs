//! ALB-compatible headers, verified the way apps behind an ALB verify them: aws-jwt-verify's
//! `AlbJwtVerifier` (Node.js), pointed at the gateway's key endpoint, with its `signer` and
//! `client` checks on. The package is installed from npm into `target/` once.

use std::path::PathBuf;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::common::upstream::header;
use crate::common::*;

const ARN: &str = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/portcullis/0123456789abcdef";
const OTHER_ARN: &str = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/other/fedcba9876543210";

/// The verifier a Node.js app behind an ALB runs: aws-jwt-verify's `AlbJwtVerifier`, with its
/// key endpoint set to the gateway's (fetched over plain http on loopback, which its default
/// fetcher, https only, does not do).
const VERIFY: &str = r#"
import { AlbJwtVerifier } from "aws-jwt-verify";
import { AlbJwksCache } from "aws-jwt-verify/alb-cache";
const [token, albArn, issuer, clientId, jwksUri] = process.argv.slice(2);
const fetcher = {
  fetch: async (uri) => {
    const response = await fetch(uri);
    if (!response.ok) throw new Error(`${uri}: ${response.status}`);
    return response.arrayBuffer();
  },
};
const verifier = AlbJwtVerifier.create(
  { albArn, issuer, clientId, jwksUri },
  { jwksCache: new AlbJwksCache({ fetcher }) },
);
try {
  console.log(JSON.stringify(await verifier.verify(token)));
} catch (e) {
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
}
"#;

/// A folder with aws-jwt-verify installed and the verifier script, made once per test run.
async fn verifier_dir() -> &'static PathBuf {
    static DIR: OnceCell<PathBuf> = OnceCell::const_new();
    DIR.get_or_init(|| async {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alb-verifier");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("verify.mjs"), VERIFY).unwrap();
        if !dir.join("node_modules/aws-jwt-verify").exists() {
            std::fs::write(
                dir.join("package.json"),
                r#"{"private": true, "type": "module"}"#,
            )
            .unwrap();
            let installed = Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "aws-jwt-verify@5.2.1"])
                .current_dir(&dir)
                .output()
                .await
                .expect("npm (scripts/test installs Node.js and npm)");
            assert!(
                installed.status.success(),
                "npm install: {}",
                String::from_utf8_lossy(&installed.stderr)
            );
        }
        dir
    })
    .await
}

/// What the verifier says of `token`: the payload, or its error.
async fn alb_verify(
    token: &str,
    arn: &str,
    issuer: &str,
    client: &str,
    keys: &str,
) -> Result<Value, String> {
    let dir = verifier_dir().await;
    let out = Command::new("node")
        .arg(dir.join("verify.mjs"))
        .args([token, arn, issuer, client, keys])
        .current_dir(dir)
        .output()
        .await
        .expect("node (scripts/test installs Node.js)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn alb_headers_verify_with_an_alb_verifier() {
    let issuer = MockIssuer::start().await;
    let upstream = MockUpstream::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let apps = format!(
        "[upstream]\nurl = \"{}\"\nalb_headers = true\n\n[alb]\narn = \"{ARN}\"\n",
        upstream.url
    );
    let gateway = Gateway::serve(listener, &config_for(&url, &issuer, &apps, "", ""));
    gateway.wait_ready().await;
    let browser = Browser::new();
    let echo = sign_in(&browser, &gateway).await;
    assert_eq!(
        header(&echo, "x-amzn-oidc-identity"),
        Some("6f1c2a52-0000-4000-8000-000000000001")
    );
    let access = header(&echo, "x-amzn-oidc-accesstoken").unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(access).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    let data = header(&echo, "x-amzn-oidc-data").unwrap().to_string();
    assert!(data.split('.').all(|s| !s.is_empty()));

    let keys = format!("{}/.well-known/portcullis/alb", gateway.url);
    let iss = issuer.issuer_url();
    let payload = alb_verify(&data, ARN, &iss, CLIENT_ID, &keys)
        .await
        .unwrap();
    assert_eq!(payload["sub"], "6f1c2a52-0000-4000-8000-000000000001");
    assert_eq!(payload["email"], "alice@example.com");
    assert_eq!(payload["iss"], iss.as_str());
    // The signer and client checks are on: another load balancer, another client, another
    // issuer are refused.
    for (arn, client, iss) in [
        (OTHER_ARN, CLIENT_ID, iss.as_str()),
        (ARN, "another-client", iss.as_str()),
        (ARN, CLIENT_ID, "https://elsewhere.example"),
    ] {
        let refused = alb_verify(&data, arn, iss, client, &keys).await;
        assert!(refused.is_err(), "{arn} {client} {iss}: {refused:?}");
    }
    // A key the gateway does not have: 404.
    let missing = reqwest::get(format!("{keys}/00000000-0000-8000-8000-000000000000"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn alb_headers_need_the_load_balancers_arn() {
    let issuer = MockIssuer::start().await;
    let apps = "[upstream]\nurl = \"http://127.0.0.1:9\"\nalb_headers = true\n";
    let text = portcullis::config::from_toml_str(&config_for(
        "https://app.example.com",
        &issuer,
        apps,
        "",
        "",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("alb.arn: required when a route sets alb_headers"),
        "{text}"
    );
    let bad = format!("{apps}\n[alb]\narn = \"arn:aws:s3:::bucket\"\n");
    let text = portcullis::config::from_toml_str(&config_for(
        "https://app.example.com",
        &issuer,
        &bad,
        "",
        "",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("alb.arn: \"arn:aws:s3:::bucket\" is not an Application Load Balancer ARN"),
        "{text}"
    );
}
