#![doc = include_str!("../README.md")]

#[cfg(feature = "axum")]
mod axum;
mod builder;
mod client;
mod device;
mod error;
mod feed;
mod guard;
mod introspection;
mod jws;
mod keys;
mod scheme;
mod sse;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "axum")]
pub use crate::axum::{Authenticated, GuardLayer, GuardService, RequireScopes, Scopes};
pub use builder::{
    DEFAULT_AUDIENCE, DEFAULT_FAIL_CLOSED_FOR, DEFAULT_FEED_STALENESS, DEFAULT_HTTP_TIMEOUT, DISCOVERY_PATH,
    FeedStartup, GuardBuilder, Revocation, WhenBlind,
};
pub use client::ClientCredentials;
pub use device::DEVICE_ID_HEADER;
pub use error::{AuthError, BuildError, FetchError, InvalidToken};
pub use feed::{DEFAULT_SILENCE_TIMEOUT, FeedStatus};
pub use guard::{Guard, Health, Presented};
pub use introspection::INTROSPECTION_CACHE_ENTRIES;
pub use jws::{LEEWAY_SECS, MAX_TOKEN_BYTES};
pub use keys::{DEFAULT_JWKS_MAX_AGE, MAX_JWKS_MAX_AGE, MIN_JWKS_MAX_AGE, UNKNOWN_KID_REFETCH_INTERVAL};
pub use portcullis_proto::AccessTokenClaims;
pub use scheme::{AuthSchemes, TokenPlaces};
