//! The paths of every endpoint, in one place (discovery and the router both use them).

pub const TOKEN: &str = "/oauth2/token";
pub const INTROSPECT: &str = "/oauth2/introspect";
pub const REVOKE: &str = "/oauth2/revoke";
pub const AUTHORIZE: &str = "/oauth2/authorize";
pub const REVOCATION_FEED: &str = "/oauth2/revocation-feed";
pub const JWKS: &str = "/.well-known/jwks.json";
pub const DISCOVERY: &str = "/.well-known/oauth-authorization-server";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";
pub const OPENAPI: &str = "/openapi.json";
pub const ME: &str = "/me";
pub const ME_LOGOUT: &str = "/me/logout";
pub const ME_DEVICES: &str = "/me/devices";
pub const ME_DEVICE: &str = "/me/devices/{device_id}";
pub const ADMIN_USER_DEVICES: &str = "/admin/users/{user_id}/devices";
pub const ADMIN_USER_DEVICE: &str = "/admin/users/{user_id}/devices/{device_id}";
pub const ME_PASSWORD: &str = "/me/password";
pub const ADMIN_USERS: &str = "/admin/users";
pub const ADMIN_USER: &str = "/admin/users/{user_id}";
pub const ADMIN_USER_BAN: &str = "/admin/users/{user_id}/ban";
pub const ADMIN_USER_UNBAN: &str = "/admin/users/{user_id}/unban";
pub const ADMIN_CLIENTS: &str = "/admin/clients";
pub const ADMIN_CLIENT: &str = "/admin/clients/{client_id}";
pub const ADMIN_AUDIT: &str = "/admin/audit";
