//! The integration suite: real gateways on loopback, driven through sign-in against the mock
//! issuer and mock upstream in `common`. One test binary, so the suite links once rather than
//! once per file; each module covers one area. Run one area with
//! `cargo test --test integration <module>::`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod alb;
mod app_tokens;
mod assertion;
mod backchannel;
mod bearer;
mod cli;
mod demo;
mod docs;
mod examples;
mod flow;
mod forward_auth;
mod hardening;
mod login;
mod metrics;
mod process;
mod redis_store;
mod refresh;
mod resilience;
mod routes;
mod rules;
mod tokens;
mod workers;
