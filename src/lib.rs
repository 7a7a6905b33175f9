//! portcullis: an identity-aware reverse proxy. It signs people in through an OpenID Connect
//! issuer (Amazon Cognito first), keeps their session, and forwards their requests to the
//! upstream app with identity headers it can trust.
//!
//! The request's path through the crate: [`server`] routes it; [`authn`] says who is asking (a
//! bearer token, or the session [`session`] opens from its cookie); [`policy`] decides what
//! becomes of it; [`oidc`] runs sign-in and validates tokens; [`identity`] turns claims into
//! headers; [`proxy`] forwards it. [`config`] checks everything up front;
//! [`redirect`] keeps redirects local. [`dev`] and [`demo`] run everything locally, without AWS.

pub mod authn;
pub mod cache;
pub mod config;
pub mod demo;
pub mod dev;
pub mod identity;
pub mod metrics;
pub mod oidc;
pub mod policy;
pub mod proxy;
pub mod redirect;
pub mod server;
pub mod session;

pub use server::{serve, serve_with_reload};
