//! portcullis: an identity-aware reverse proxy. It signs people in through an OpenID Connect
//! issuer (Amazon Cognito first), keeps their session, and forwards their requests to the
//! upstream app with identity headers it can trust.
//!
//! The request's path through the crate: [`server`] accepts it; [`route`] finds the app it is
//! for, by host and canonical path; [`authn`] says who is asking (a bearer token, or the
//! session [`session`] opens from its cookie); [`policy`] decides what becomes of it, by the
//! route's rules; [`identity`] turns claims into the app's headers and [`assertion`] signs them
//! for the app to verify; [`proxy`] forwards it; and
//! [`server`] answers whatever did not go through, the same way for the proxy, forward-auth and
//! userinfo. [`oidc`] runs sign-in and validates tokens. [`config`] checks everything up front;
//! [`redirect`] keeps redirects on the gateway's hosts. [`dev`] and [`demo`] run everything
//! locally, without AWS.

pub mod assertion;
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
pub mod route;
pub mod secret;
pub mod server;
pub mod session;

pub use server::{serve, serve_with_reload};
