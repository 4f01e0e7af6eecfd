//! The guard against a fake issuer on 127.0.0.1:0 (`portcullis_guard::testing::FakeIssuer`):
//! forged tokens, keys and rotation, the revocation feed, introspection, device binding, axum.

#[cfg(feature = "axum")]
mod axum_glue;
mod device;
mod feed;
mod forged;
mod introspection;
mod keys;
mod support;
