//! How a client is shown to admins (never its secret).

use portcullis_domain::client::Client;
use portcullis_proto::ClientView;

pub fn view(c: &Client) -> ClientView {
    ClientView {
        client_id: c.id.to_string(),
        name: c.name.clone(),
        grants: c.grants.iter().map(|g| g.as_str().to_owned()).collect(),
        scope: c.scope.to_string(),
        redirect_uris: c.redirect_uris.clone(),
        public: c.is_public(),
        resource_server: c.resource_server,
        otp_signup: c.otp_signup,
        signup: c.signup,
        allowed_origins: c.allowed_origins.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        created_at: c.created_at.to_rfc3339(),
    }
}
