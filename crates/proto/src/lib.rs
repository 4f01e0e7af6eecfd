#![doc = include_str!("../README.md")]

pub mod admin;
pub mod claims;
pub mod devices;
pub mod discovery;
pub mod error;
pub mod feed;
pub mod introspection;
pub mod jwks;
pub mod me;
pub mod oidc;
pub mod token;
pub mod users;
pub mod validation;

pub use admin::{AuditEventView, AuditList, ClientList, ClientView, CreatedClient, NewClient};
pub use claims::{ACCESS_TOKEN_TYP, AccessTokenClaims};
pub use devices::{DeviceList, DeviceView};
pub use discovery::ServerMetadata;
pub use error::{ErrorBody, ErrorCode};
pub use feed::{FeedEvent, RevocationSet, TokenRef};
pub use introspection::IntrospectionResponse;
pub use jwks::{Jwk, JwkSet};
pub use me::{AvatarSet, ConsentList, ConsentView, ContactChange, ContactVerify, Me, ProfileUpdate};
pub use oidc::{ID_TOKEN_TYP, IdTokenClaims, OPENID_SCOPE, ProfileClaims, ProviderMetadata, UserInfo};
pub use token::{OtpSent, TokenResponse};
pub use users::{
    BanRequest, NewPassword, NewUser, PasswordChange, SignupRequest, SignupResponse, UserList, UserUpdate, UserView,
};

/// For `Option<Option<T>>` fields: present (even as `null`) is `Some`, absent is `None`
/// (with `#[serde(default)]`), so `null` can clear a field and absence leave it.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
