//! What openidconnect 4.0.1 does with what Amazon Cognito sends.
//!
//! Every probe prints one line: `ID name: what was tried => Ok(...)` or `=> Err(exact error)`.
//! Nothing goes over the network: discovery documents and key sets are parsed from JSON held
//! here, ID tokens are signed in-process with a fixed test key (`src/test-key.pem`, made for this
//! probe and used nowhere else) by jsonwebtoken, and the verifiers are built from the key set.
//!
//! Build it twice: `cargo run --release` (openidconnect as it comes) and
//! `cargo run --release --features lenient` (with its `accept-string-booleans` feature).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreIdTokenVerifier, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    CoreTokenResponse,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, ClientId, ClientSecret, IdToken, IdTokenClaims,
    IssuerUrl, Nonce, ProviderMetadata, ProviderMetadataWithLogout,
};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const TEST_KEY_PEM: &str = include_str!("test-key.pem");

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz";
const DOMAIN: &str = "https://example-pool.auth.eu-west-1.amazoncognito.com";
const CLIENT_ID: &str = "3n4b5c6d7e8f9g0h1i2j3k4l5m";
const OTHER_CLIENT: &str = "7q8r9s0t1u2v3w4x5y6z7a8b9c";
const CLIENT_SECRET: &str = "client-secret-of-this-app-client";
/// Cognito's key ids are base64 with `+`, `/` and `=`.
const KID: &str = "kGl2X3Hb8f2yBr4+ZQ5kG6eH7Wjm1tQ9vKx0pL3nM2s=";
const OTHER_KID: &str = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V=";
const NONCE: &str = "n-0S6_WzA2Mj-4f1c9e";

/// Everything Cognito may put in an ID token that `StandardClaims` does not name.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct CognitoClaims(BTreeMap<String, Value>);
impl AdditionalClaims for CognitoClaims {}

/// Discovery fields portcullis uses that `CoreProviderMetadata` has no field for.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct CognitoMetadata {
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for CognitoMetadata {}

type CognitoProviderMetadata = ProviderMetadata<
    CognitoMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

fn main() {
    let lenient = cfg!(feature = "lenient");
    println!(
        "# openidconnect 4.0.1, accept-string-booleans {}",
        if lenient { "ON" } else { "off" }
    );
    let now = now();
    let key = TestKey::load();

    discovery_probes(&key);
    jwks_probe(&key);
    id_token_probes(&key, now);
    timing_probe(&key, now);
}

// ---------------------------------------------------------------------------------------------
// Discovery
// ---------------------------------------------------------------------------------------------

/// Cognito's discovery document as served today for a pool with a domain: no
/// `end_session_endpoint` (older pools), no `code_challenge_methods_supported`.
fn cognito_discovery() -> Value {
    json!({
        "authorization_endpoint": format!("{DOMAIN}/oauth2/authorize"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": ISSUER,
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
        "response_types_supported": ["code", "token"],
        "revocation_endpoint": format!("{DOMAIN}/oauth2/revoke"),
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint": format!("{DOMAIN}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "userinfo_endpoint": format!("{DOMAIN}/oauth2/userInfo"),
    })
}

fn discovery_probes(key: &TestKey) {
    let doc = cognito_discovery();

    let outcome = serde_json::from_value::<CoreProviderMetadata>(doc.clone())
        .map(|m| {
            format!(
                "issuer={}, authorization_endpoint={}, token_endpoint={:?}, revocation_endpoint: no such field",
                m.issuer().as_str(),
                m.authorization_endpoint().url().as_str(),
                m.token_endpoint().map(|u| u.url().as_str().to_string()),
            )
        })
        .map_err(|e| chain(&e));
    report(
        "D1 discovery/core",
        "Cognito discovery document (no end_session_endpoint) as CoreProviderMetadata",
        outcome,
    );

    let outcome = serde_json::from_value::<ProviderMetadataWithLogout>(doc.clone())
        .map(|m| {
            format!(
                "end_session_endpoint={:?}",
                m.additional_metadata()
                    .end_session_endpoint
                    .as_ref()
                    .map(|u| u.to_string())
            )
        })
        .map_err(|e| chain(&e));
    report(
        "D2 discovery/logout",
        "same document as ProviderMetadataWithLogout",
        outcome,
    );

    let mut with_logout = doc.clone();
    with_logout["end_session_endpoint"] = json!(format!("{DOMAIN}/logout"));
    let outcome = serde_json::from_value::<ProviderMetadataWithLogout>(with_logout)
        .map(|m| {
            format!(
                "end_session_endpoint={:?}",
                m.additional_metadata()
                    .end_session_endpoint
                    .as_ref()
                    .map(|u| u.to_string())
            )
        })
        .map_err(|e| chain(&e));
    report(
        "D3 discovery/logout-2024",
        "document with Cognito's /logout as end_session_endpoint, as ProviderMetadataWithLogout",
        outcome,
    );

    let outcome = serde_json::from_value::<CognitoProviderMetadata>(doc.clone())
        .map(|m| {
            format!(
                "revocation_endpoint={:?}, end_session_endpoint={:?}",
                m.additional_metadata().revocation_endpoint,
                m.additional_metadata().end_session_endpoint
            )
        })
        .map_err(|e| chain(&e));
    report(
        "D4 discovery/revocation",
        "same document with a custom AdditionalProviderMetadata for revocation_endpoint",
        outcome,
    );

    // A pool without a domain (seen in the wild): no token endpoint at all.
    let no_domain = json!({
        "authorization_endpoint": ISSUER,
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": ISSUER,
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
        "response_types_supported": ["code", "id_token", "token id_token", "none"],
        "subject_types_supported": ["public"],
    });
    let outcome = serde_json::from_value::<CoreProviderMetadata>(no_domain)
        .map(|m| {
            format!(
                "token_endpoint={:?} (a code flow has nowhere to exchange the code)",
                m.token_endpoint().map(|u| u.url().as_str().to_string())
            )
        })
        .map_err(|e| chain(&e));
    report(
        "D5 discovery/no-domain",
        "document of a pool without a domain as CoreProviderMetadata",
        outcome,
    );

    // The four endpoints portcullis needs, and nothing else.
    let minimal = json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{DOMAIN}/oauth2/authorize"),
        "token_endpoint": format!("{DOMAIN}/oauth2/token"),
        "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
    });
    let outcome = serde_json::from_value::<CoreProviderMetadata>(minimal)
        .map(|_| "parsed".to_string())
        .map_err(|e| chain(&e));
    report(
        "D6 discovery/minimal",
        "document with only issuer, authorization, token and jwks endpoints as CoreProviderMetadata",
        outcome,
    );

    // An issuer whose discovery lists HS256: the client built from it accepts ID tokens MACed
    // with the client secret.
    let mut hs = doc.clone();
    hs["id_token_signing_alg_values_supported"] = json!(["RS256", "HS256"]);
    let hs_token = sign_hs256(&id_claims(now()), CLIENT_SECRET);
    for (id, what, document) in [
        (
            "D7a discovery/hs256-listed",
            "HS256 ID token keyed with the client secret; confidential CoreClient from a document listing RS256 and HS256",
            hs,
        ),
        (
            "D7b discovery/hs256-cognito",
            "the same token; confidential CoreClient from Cognito's document (RS256 only)",
            doc.clone(),
        ),
    ] {
        let outcome = serde_json::from_value::<CoreProviderMetadata>(document)
            .map_err(|e| chain(&e))
            .and_then(|m| {
                let client = CoreClient::from_provider_metadata(
                    m.set_jwks(key.jwks()),
                    ClientId::new(CLIENT_ID.to_string()),
                    Some(ClientSecret::new(CLIENT_SECRET.to_string())),
                );
                let verifier = client.id_token_verifier();
                verify_core(&hs_token, &verifier, Some(&Nonce::new(NONCE.to_string())))
            });
        report(id, what, outcome);
    }
}

fn jwks_probe(key: &TestKey) {
    let doc = json!({"keys": [
        key.jwk(KID),
        key.jwk(OTHER_KID),
        {"kty": "XYZ", "kid": "a-key-type-from-the-future", "use": "sig"},
    ]});
    let outcome = serde_json::from_value::<CoreJsonWebKeySet>(doc)
        .map(|set| {
            format!(
                "{} usable keys (the unknown key type skipped)",
                set.keys().len()
            )
        })
        .map_err(|e| chain(&e));
    report(
        "K1 jwks/cognito",
        "Cognito-style JWKS (two RS256 keys, kids with + / =) plus a key of an unknown kty",
        outcome,
    );
}

// ---------------------------------------------------------------------------------------------
// ID tokens
// ---------------------------------------------------------------------------------------------

/// An ID token as Cognito issues it for a user of the pool itself.
fn id_claims(now: i64) -> Value {
    json!({
        "sub": "6f1c2a52-9e4f-4a6e-8d0b-3f1a2b3c4d5e",
        "cognito:groups": ["admins", "staff"],
        "email_verified": true,
        "iss": ISSUER,
        "cognito:username": "alice.example",
        "origin_jti": "0d7b6a7c-1f5e-4a3b-9c8d-7e6f5a4b3c2d",
        "aud": CLIENT_ID,
        "event_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
        "token_use": "id",
        "auth_time": now,
        "exp": now + 3600,
        "iat": now,
        "jti": "1e2d3c4b-5a69-4788-96a5-b4c3d2e1f0a9",
        "email": "alice@example.com",
        "custom:roles": "authp/admin|authp/user",
        "nonce": NONCE,
    })
}

/// An ID token of a user federated from Google, as some pools' attribute mappings give it:
/// Cognito keeps attributes as strings, and `email_verified` then arrives as one.
fn federated_claims(now: i64) -> Value {
    with(
        &id_claims(now),
        json!({
            "cognito:username": "google_107843617463512873645",
            "email_verified": "true",
            "identities": [{
                "userId": "107843617463512873645",
                "providerName": "Google",
                "providerType": "Google",
                "issuer": null,
                "primary": "true",
                "dateCreated": "1700000000000"
            }],
        }),
    )
}

/// A Cognito access token: `client_id` instead of `aud`, `token_use` = access.
fn access_claims(now: i64) -> Value {
    json!({
        "sub": "6f1c2a52-9e4f-4a6e-8d0b-3f1a2b3c4d5e",
        "cognito:groups": ["admins", "staff"],
        "iss": ISSUER,
        "version": 2,
        "client_id": CLIENT_ID,
        "origin_jti": "0d7b6a7c-1f5e-4a3b-9c8d-7e6f5a4b3c2d",
        "event_id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
        "token_use": "access",
        "scope": "openid email",
        "auth_time": now,
        "exp": now + 3600,
        "iat": now,
        "jti": "2f3e4d5c-6b7a-4899-a0b1-c2d3e4f5a6b7",
        "username": "alice.example",
    })
}

fn id_token_probes(key: &TestKey, now: i64) {
    let verifier = cognito_verifier(key);
    let nonce = Nonce::new(NONCE.to_string());
    let native = key.sign(&id_claims(now), Some(KID), None);

    report(
        "T1 id/native-core",
        "Cognito ID token (native user) as CoreIdToken, public-client verifier, nonce",
        verify_core(&native, &verifier, Some(&nonce)),
    );
    report(
        "T2 id/native-cognito",
        "the same token with a catch-all AdditionalClaims type",
        verify_cognito(&native, &verifier, Some(&nonce)),
    );

    let federated = key.sign(&federated_claims(now), Some(KID), None);
    report(
        "T3 id/email-verified-string",
        "federated-user ID token with email_verified = \"true\" (a string)",
        verify_cognito(&federated, &verifier, Some(&nonce)),
    );

    let phone = key.sign(
        &with(
            &id_claims(now),
            json!({"phone_number": "+15555550100", "phone_number_verified": "false"}),
        ),
        Some(KID),
        None,
    );
    report(
        "T4 id/phone-verified-string",
        "ID token with phone_number_verified = \"false\" (a string)",
        verify_cognito(&phone, &verifier, Some(&nonce)),
    );

    let capital = key.sign(
        &with(&id_claims(now), json!({"email_verified": "True"})),
        Some(KID),
        None,
    );
    report(
        "T5 id/email-verified-True",
        "ID token with email_verified = \"True\"",
        verify_cognito(&capital, &verifier, Some(&nonce)),
    );

    for (id, what, token) in [
        (
            "T6 token-response/bool",
            "token endpoint response whose ID token has email_verified = true, as CoreTokenResponse",
            native.clone(),
        ),
        (
            "T7 token-response/string",
            "token endpoint response whose ID token has email_verified = \"true\", as CoreTokenResponse",
            federated.clone(),
        ),
    ] {
        let body = json!({
            "id_token": token,
            "access_token": key.sign(&access_claims(now), Some(KID), None),
            "refresh_token": "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.a.b.c.d",
            "expires_in": 3600,
            "token_type": "Bearer",
        });
        let outcome = serde_json::from_value::<CoreTokenResponse>(body)
            .map(|_| "parsed: the sign-in can go on".to_string())
            .map_err(|e| chain(&e));
        report(id, what, outcome);
    }

    let access_use = key.sign(
        &with(&id_claims(now), json!({"token_use": "access"})),
        Some(KID),
        None,
    );
    report(
        "T8 id/token-use-access",
        "ID-token-shaped token whose token_use is \"access\"",
        verify_cognito(&access_use, &verifier, Some(&nonce)),
    );

    let access = key.sign(&access_claims(now), Some(KID), None);
    report(
        "T9 id/access-token",
        "Cognito access token (client_id, no aud) through the ID token verifier",
        verify_cognito(&access, &verifier, None),
    );

    let azp = key.sign(
        &with(&id_claims(now), json!({"azp": OTHER_CLIENT})),
        Some(KID),
        None,
    );
    report(
        "T10 id/azp-other",
        "ID token with aud = this client and azp = another client",
        verify_cognito(&azp, &verifier, Some(&nonce)),
    );

    let two_aud = key.sign(
        &with(&id_claims(now), json!({"aud": [CLIENT_ID, OTHER_CLIENT]})),
        Some(KID),
        None,
    );
    report(
        "T11 id/two-audiences",
        "ID token with aud = [this client, another client], no azp",
        verify_cognito(&two_aud, &verifier, Some(&nonce)),
    );

    let future_iat = key.sign(
        &with(&id_claims(now), json!({"iat": now + 600})),
        Some(KID),
        None,
    );
    report(
        "T12a id/iat-future-default",
        "ID token issued 600 s in the future, default verifier",
        verify_cognito(&future_iat, &verifier, Some(&nonce)),
    );
    let strict_iat = cognito_verifier(key).set_issue_time_verifier_fn(move |iat| {
        if iat.timestamp() > now + 30 {
            Err("issued in the future".to_string())
        } else {
            Ok(())
        }
    });
    report(
        "T12b id/iat-future-checked",
        "the same token, verifier with set_issue_time_verifier_fn (30 s leeway)",
        verify_cognito(&future_iat, &strict_iat, Some(&nonce)),
    );

    let just_expired = key.sign(
        &with(&id_claims(now - 3600), json!({"exp": now - 5})),
        Some(KID),
        None,
    );
    report(
        "T13 id/expired-5s",
        "ID token that expired 5 s ago (portcullis's default clock_leeway is 30 s)",
        verify_cognito(&just_expired, &verifier, Some(&nonce)),
    );

    let future_nbf = key.sign(
        &with(&id_claims(now), json!({"nbf": now + 600})),
        Some(KID),
        None,
    );
    report(
        "T14 id/nbf-future",
        "ID token with nbf 600 s in the future",
        verify_cognito(&future_nbf, &verifier, Some(&nonce)),
    );

    let no_nonce = key.sign(
        &with(&id_claims(now), json!({"nonce": null})),
        Some(KID),
        None,
    );
    report(
        "T15a id/refresh-no-nonce",
        "ID token without nonce (as from a refresh), nonce verifier",
        verify_cognito(&no_nonce, &verifier, Some(&nonce)),
    );
    report(
        "T15b id/refresh-no-nonce-closure",
        "the same token, nonce check replaced by a closure",
        verify_cognito(&no_nonce, &verifier, None),
    );
    let other_nonce = Nonce::new("another-sign-in".to_string());
    report(
        "T16 id/nonce-mismatch",
        "Cognito ID token checked against another sign-in's nonce",
        verify_cognito(&native, &verifier, Some(&other_nonce)),
    );

    for (id, typ) in [
        ("T17a id/typ-JWT", Some("JWT")),
        ("T17b id/typ-logout+jwt", Some("logout+jwt")),
        ("T17c id/typ-at+jwt", Some("at+jwt")),
    ] {
        let token = key.sign(&id_claims(now), Some(KID), typ);
        report(
            id,
            &format!("ID token with JOSE typ {typ:?}"),
            verify_cognito(&token, &verifier, Some(&nonce)),
        );
    }

    let unknown_kid = key.sign(&id_claims(now), Some("rotated-in-after-startup="), None);
    report(
        "T18 id/unknown-kid",
        "ID token naming a kid the verifier's key set lacks (a key rotated in since)",
        verify_cognito(&unknown_kid, &verifier, Some(&nonce)),
    );

    let empty_sub = key.sign(&with(&id_claims(now), json!({"sub": ""})), Some(KID), None);
    report(
        "T19 id/empty-sub",
        "ID token with sub = \"\"",
        verify_cognito(&empty_sub, &verifier, Some(&nonce)),
    );
}

// ---------------------------------------------------------------------------------------------
// Cost of one verification
// ---------------------------------------------------------------------------------------------

fn timing_probe(key: &TestKey, now: i64) {
    const N: u32 = 2000;
    let token = key.sign(&id_claims(now), Some(KID), None);
    let verifier = cognito_verifier(key);
    let nonce = Nonce::new(NONCE.to_string());

    let started = Instant::now();
    let mut ok = 0;
    for _ in 0..N {
        let parsed = IdToken::<
            CognitoClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >::from_str(&token);
        if let Ok(parsed) = parsed {
            if parsed.into_claims(&verifier, &nonce).is_ok() {
                ok += 1;
            }
        }
    }
    let oidc = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);

    let decoding = DecodingKey::from_rsa_components(&key.n, &key.e).expect("key components");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let started = Instant::now();
    for _ in 0..N {
        if jsonwebtoken::decode::<serde_json::Map<String, Value>>(&token, &decoding, &validation)
            .is_ok()
        {
            ok += 1;
        }
    }
    let jwt = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let profile = if cfg!(debug_assertions) {
        "DEBUG build: rerun with --release"
    } else {
        "release build"
    };
    report(
        "B1 bench/verify",
        &format!("verify one Cognito ID token {N} times each ({profile})"),
        Ok(format!(
            "openidconnect {oidc:.1} us/op (RustCrypto rsa, public key rebuilt from the JWK each time, claims typed); \
             jsonwebtoken {jwt:.1} us/op (ring, key parsed once, claims as a JSON map); {ok}/{} verified",
            2 * N
        )),
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn cognito_verifier(key: &TestKey) -> CoreIdTokenVerifier<'static> {
    CoreIdTokenVerifier::new_public_client(
        ClientId::new(CLIENT_ID.to_string()),
        IssuerUrl::new(ISSUER.to_string()).expect("issuer URL"),
        key.jwks(),
    )
}

/// Parses and verifies `jwt` as an ID token with claims `AC`; `nonce: None` replaces the nonce
/// check with a closure that accepts anything (as a refresh would need).
fn verify_with<AC: AdditionalClaims>(
    jwt: &str,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: Option<&Nonce>,
    summarize: impl Fn(&IdTokenClaims<AC, CoreGenderClaim>) -> String,
) -> Result<String, String> {
    let token = IdToken::<
        AC,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::from_str(jwt)
    .map_err(|e| format!("parse: {}", chain(&e)))?;
    let claims = match nonce {
        Some(nonce) => token.into_claims(verifier, nonce),
        None => token.into_claims(verifier, any_nonce),
    }
    .map_err(|e| format!("verify: {}", chain(&e)))?;
    Ok(summarize(&claims))
}

/// A nonce check that accepts anything, with or without a nonce.
fn any_nonce(_: Option<&Nonce>) -> Result<(), String> {
    Ok(())
}

fn verify_core(
    jwt: &str,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: Option<&Nonce>,
) -> Result<String, String> {
    // `EmptyAdditionalClaims`: what `CoreIdToken` is built with.
    verify_with::<openidconnect::EmptyAdditionalClaims>(jwt, verifier, nonce, |c| {
        format!(
            "sub={}, email_verified={:?}, cognito:groups/token_use/custom:*: not kept (EmptyAdditionalClaims)",
            c.subject().as_str(),
            c.email_verified()
        )
    })
}

fn verify_cognito(
    jwt: &str,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: Option<&Nonce>,
) -> Result<String, String> {
    verify_with::<CognitoClaims>(jwt, verifier, nonce, |c| {
        let extra = &c.additional_claims().0;
        format!(
            "sub={:?}, email_verified={:?}, phone_number_verified={:?}, token_use={}, cognito:groups={}, custom:roles={}, auth_time={:?}, other claims kept: {:?}",
            c.subject().as_str(),
            c.email_verified(),
            c.phone_number_verified(),
            extra.get("token_use").unwrap_or(&Value::Null),
            extra.get("cognito:groups").unwrap_or(&Value::Null),
            extra.get("custom:roles").unwrap_or(&Value::Null),
            c.auth_time().map(|t| t.timestamp()),
            extra.keys().collect::<Vec<_>>(),
        )
    })
}

fn report(id: &str, tried: &str, outcome: Result<String, String>) {
    match outcome {
        Ok(what) => println!("{id}: {tried} => Ok({what})"),
        Err(why) => println!("{id}: {tried} => Err({why})"),
    }
}

/// An error and its sources, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `base` with the keys of `changes` set (a null value removes the key).
fn with(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Value::Object(changes)) = (out.as_object_mut(), changes) {
        for (k, v) in changes {
            if v.is_null() {
                out.remove(&k);
            } else {
                out.insert(k, v);
            }
        }
    }
    out
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sign_hs256(claims: &Value, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = None;
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing")
}

/// The fixed test key: signs with jsonwebtoken, is published as a JWKS like Cognito's.
struct TestKey {
    encoding: EncodingKey,
    /// base64url modulus and exponent.
    n: String,
    e: String,
}

impl TestKey {
    fn load() -> Self {
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(TEST_KEY_PEM).expect("test key");
        Self {
            encoding: EncodingKey::from_rsa_pem(TEST_KEY_PEM.as_bytes()).expect("test key"),
            n: URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        json!({"alg": "RS256", "e": self.e, "kid": kid, "kty": "RSA", "n": self.n, "use": "sig"})
    }

    /// The key set a verifier is built from (only `KID`: `OTHER_KID` would make a token without
    /// a kid ambiguous, and is used by K1 alone).
    fn jwks(&self) -> CoreJsonWebKeySet {
        serde_json::from_value(json!({"keys": [self.jwk(KID)]})).expect("JWKS")
    }

    /// Signs `claims` RS256 with `kid`; `typ` as given (Cognito sends none; jsonwebtoken's
    /// default would be "JWT").
    fn sign(&self, claims: &Value, kid: Option<&str>, typ: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        header.typ = typ.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing")
    }
}
