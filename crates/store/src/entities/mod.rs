//! sea-orm entities, one per table. Private to storage: nothing above this crate sees them.

pub mod audit_event;
pub mod authorization_code;
pub mod avatar;
pub mod client;
pub mod consent;
pub mod device_session;
pub mod login_session;
pub mod otp_code;
pub mod refresh_token;
pub mod revocation_event;
pub mod signing_key;
pub mod user;
