//! The form bodies of the OAuth endpoints, as the OpenAPI document describes them. The handlers
//! read the forms through oxide-auth (`FormRequest`); these types exist for the document only.
//! Every parameter is at most 4,096 bytes and may appear once.

#![allow(dead_code)]

use utoipa::ToSchema;

/// `grant_type` values.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantTypeName {
    AuthorizationCode,
    Password,
    ClientCredentials,
    RefreshToken,
    #[schema(rename = "urn:portcullis:params:oauth:grant-type:otp")]
    Otp,
}

/// `POST /oauth2/token` (RFC 6749 §4, RFC 7636): the grant's parameters; the client in HTTP
/// Basic, or `client_id` (and `client_secret`) here.
#[derive(ToSchema)]
pub struct TokenForm {
    grant_type: GrantTypeName,
    #[schema(max_length = 4096)]
    scope: Option<String>,
    /// `password` grant.
    #[schema(max_length = 4096)]
    username: Option<String>,
    /// `password` grant.
    #[schema(max_length = 1024)]
    password: Option<String>,
    /// `refresh_token` grant.
    #[schema(max_length = 4096)]
    refresh_token: Option<String>,
    /// The device the session is bound to (or the `X-Device-Id` header).
    #[schema(max_length = 128)]
    device_id: Option<String>,
    /// OTP grant: the destination the code was sent to (E.164), or `email`.
    #[schema(max_length = 32)]
    phone: Option<String>,
    /// OTP grant.
    #[schema(max_length = 254)]
    email: Option<String>,
    /// `authorization_code` grant: the code; OTP grant: the 6 digits.
    #[schema(max_length = 4096)]
    code: Option<String>,
    #[schema(max_length = 4096)]
    redirect_uri: Option<String>,
    /// RFC 7636: 43 to 128 characters.
    #[schema(min_length = 43, max_length = 128)]
    code_verifier: Option<String>,
    #[schema(max_length = 4096)]
    client_id: Option<String>,
    #[schema(max_length = 4096)]
    client_secret: Option<String>,
}

/// `POST /oauth2/otp` (contract §6): `phone` (E.164) or `email`; the client in HTTP Basic, or
/// `client_id` (and `client_secret`) here.
#[derive(ToSchema)]
pub struct OtpForm {
    #[schema(max_length = 32, example = "+8613800138000")]
    phone: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    #[schema(max_length = 4096)]
    client_id: Option<String>,
    #[schema(max_length = 4096)]
    client_secret: Option<String>,
}

/// `POST /password-reset/confirm`: the destination, the code it received and the new password;
/// the client in HTTP Basic, or `client_id` (and `client_secret`) here.
#[derive(ToSchema)]
pub struct ResetConfirmForm {
    #[schema(max_length = 32, example = "+8613800138000")]
    phone: Option<String>,
    #[schema(max_length = 254)]
    email: Option<String>,
    #[schema(max_length = 16)]
    code: String,
    /// 8 to 1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
    #[schema(max_length = 4096)]
    client_id: Option<String>,
    #[schema(max_length = 4096)]
    client_secret: Option<String>,
}

/// `POST /oauth2/introspect` (RFC 7662): a token; the client in HTTP Basic, or `client_id` and
/// `client_secret` here.
#[derive(ToSchema)]
pub struct IntrospectForm {
    #[schema(min_length = 1, max_length = 4096)]
    token: String,
    /// Ignored: introspection looks the token up whatever it is.
    token_type_hint: Option<String>,
    #[schema(max_length = 4096)]
    client_id: Option<String>,
    #[schema(max_length = 4096)]
    client_secret: Option<String>,
}

/// `POST /oauth2/revoke` (RFC 7009): a token; the client in HTTP Basic, or `client_id` (and
/// `client_secret`) here.
#[derive(ToSchema)]
pub struct TokenOnlyForm {
    #[schema(min_length = 1, max_length = 4096)]
    token: String,
    /// `access_token` or `refresh_token`; a hint only, unknown values are ignored.
    #[schema(max_length = 4096)]
    token_type_hint: Option<String>,
    #[schema(max_length = 4096)]
    client_id: Option<String>,
    #[schema(max_length = 4096)]
    client_secret: Option<String>,
}
