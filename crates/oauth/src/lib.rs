#![doc = include_str!("../README.md")]

mod account;
pub mod authorize;
pub mod browser;
mod codes;
pub mod control;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod issuer;
pub mod logout;
pub mod oidc;
pub mod passwords;
mod pkce;
pub mod registrar;
pub mod request;

mod revoke;
pub mod service;
pub mod signing;

pub use control::{ControlError, Kicked, SessionControl};
pub use error::OAuthError;
pub use introspect::TokenRejected;
pub use passwords::PasswordVerifier;
pub use request::{ClientAuth, FormRequest, RequestContext, TokenRequest};
pub use service::{TokenService, TokenServiceDeps};

#[cfg(test)]
mod tests;
