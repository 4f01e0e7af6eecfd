//! How a user is shown to admins.

use portcullis_domain::user::User;
use portcullis_proto::UserView;

pub fn view(u: &User) -> UserView {
    UserView {
        user_id: u.id.to_string(),
        username: u.username.to_string(),
        status: u.status.as_str().to_owned(),
        ban_reason: u.ban_reason.clone(),
        phone: u.phone.as_ref().map(|p| p.to_string()),
        email: u.email.as_ref().map(|e| e.to_string()),
        display_name: u.display_name.clone(),
        created_at: u.created_at.to_rfc3339(),
    }
}
