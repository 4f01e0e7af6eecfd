//! `portcullis user create|list|show|ban|unban|sessions|kick`: the admin API's user operations,
//! through the same directory and session-control code.

use std::io::{BufRead, Read};

use clap::Subcommand;
use portcullis_domain::ids::{UserId, Username};
use portcullis_domain::otp::{Email, Phone};
use portcullis_domain::password::MAX_PASSWORD_BYTES;
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::Secret;
use portcullis_domain::user::User;
use portcullis_proto::{DeviceView, UserView};
use serde_json::json;

use super::{ACTOR, PAGE, one_shot_app};
use crate::app::App;
use crate::config::Config;
use crate::ops::{NewUser, OpError, users::view};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password (if any) is read from the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from stdin (passwords never go on the command line). Optional when
        /// a phone or an email is given: such a user may sign in by one-time code only.
        #[arg(long, required_unless_present_any = ["phone", "email"])]
        password_stdin: bool,
        /// The user's phone number, E.164 (`+8613800138000`): one-time codes by SMS.
        #[arg(long)]
        phone: Option<String>,
        /// The user's email address: one-time codes by email.
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List every user.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one user (USER: a user id or a username).
    Show {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Ban a user: every session ends at once and no grant succeeds until unbanned.
    Ban {
        user: String,
        #[arg(long, default_value = "banned by an operator")]
        reason: String,
        #[arg(long)]
        json: bool,
    },
    /// Lift a ban (sessions ended by it stay ended).
    Unban {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// List a user's devices and their sessions.
    Sessions {
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// End the sessions of one device of the user, or of every device without DEVICE.
    Kick {
        user: String,
        device: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: UserCommand, config: &Config) -> anyhow::Result<()> {
    if let UserCommand::Create { username, password_stdin, phone, email, json } = command {
        let new = NewUser { username, password: None, phone, email };
        return create(new, password_stdin, json, config).await;
    }
    let app = one_shot_app(config).await?;
    match command {
        UserCommand::Create { .. } => unreachable!("handled above"),
        UserCommand::List { json } => {
            let app = &app;
            let users = super::every(|cursor| async move {
                let page = app.directory().users(cursor.as_deref(), PAGE).await?;
                Ok((page.items.iter().map(view).collect(), page.next_cursor))
            })
            .await?;
            let human = if users.is_empty() {
                "no users yet".to_owned()
            } else {
                users.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            super::print(json, &json!({ "users": users }), &human);
        }
        UserCommand::Show { user, json } => {
            let u = view(&find(&app, &user).await?);
            super::print(json, &serde_json::to_value(&u)?, &details(&u));
        }
        UserCommand::Ban { user, reason, json } => {
            let id = find(&app, &user).await?.id;
            let u = view(&app.control().ban(&id, &reason, ACTOR).await?);
            super::print(json, &serde_json::to_value(&u)?, &format!("banned {}; every session has ended", line(&u)));
        }
        UserCommand::Unban { user, json } => {
            let id = find(&app, &user).await?.id;
            let u = view(&app.control().unban(&id, ACTOR).await?);
            super::print(json, &serde_json::to_value(&u)?, &format!("unbanned {}", line(&u)));
        }
        UserCommand::Sessions { user, json } => {
            let id = find(&app, &user).await?.id;
            let (app, user_id) = (&app, &id);
            let devices: Vec<DeviceView> = super::every(|cursor| async move {
                let page = app.directory().devices(user_id, cursor.as_deref(), PAGE).await?;
                Ok((page.devices, page.next_cursor))
            })
            .await?;
            let human = if devices.is_empty() {
                "no devices".to_owned()
            } else {
                devices.iter().map(device_line).collect::<Vec<_>>().join("\n")
            };
            super::print(json, &json!({ "user_id": id.to_string(), "devices": devices }), &human);
        }
        UserCommand::Kick { user, device, json } => {
            let id = find(&app, &user).await?.id;
            let kicked =
                app.control().kick(&id, device.as_deref(), Reason::Kicked, ACTOR).await.map_err(|e| match e {
                    portcullis_oauth::ControlError::NotFound(_) => {
                        anyhow::anyhow!("the user has no device {:?}", device.as_deref().unwrap_or_default())
                    }
                    e => e.into(),
                })?;
            let what = device.as_deref().map_or("every device".to_owned(), |d| format!("device {d}"));
            super::print(
                json,
                &json!({ "user_id": id.to_string(), "device_id": device, "sessions_ended": kicked.sessions }),
                &format!("kicked {what}: {} session(s) ended", kicked.sessions),
            );
        }
    }
    Ok(())
}

async fn create(mut new: NewUser, password_stdin: bool, json: bool, config: &Config) -> anyhow::Result<()> {
    // Refuse bad input before touching the database or the keys folder.
    Username::parse(&new.username)?;
    if let Some(phone) = &new.phone {
        Phone::parse(phone)?;
    }
    if let Some(email) = &new.email {
        Email::parse(email)?;
    }
    if password_stdin {
        let password = read_password()?;
        portcullis_domain::password::check_policy(password.expose())?;
        new.password = Some(password);
    }
    let app = one_shot_app(config).await?;
    let user = app.directory().create_user(new, ACTOR).await?;
    let id = user.id.to_string();
    super::print(json, &json!({"user_id": id}), &format!("user_id: {id}"));
    Ok(())
}

/// The user a USER argument names: a user id, else a username.
async fn find(app: &App, raw: &str) -> anyhow::Result<User> {
    if let Ok(id) = UserId::parse(raw) {
        match app.directory().user(&id).await {
            Ok(user) => return Ok(user),
            Err(OpError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let not_found = || anyhow::anyhow!("no user {raw:?} (give a user id or a username)");
    let Ok(name) = Username::parse(raw) else { return Err(not_found()) };
    match app.directory().user_named(&name).await {
        Ok(user) => Ok(user),
        Err(OpError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn line(u: &UserView) -> String {
    format!("{}  {}  {}", u.user_id, u.username, u.status)
}

fn details(u: &UserView) -> String {
    let mut text =
        format!("user_id: {}\nusername: {}\nstatus: {}\ncreated_at: {}", u.user_id, u.username, u.status, u.created_at);
    for (label, value) in [("phone", &u.phone), ("email", &u.email), ("ban_reason", &u.ban_reason)] {
        if let Some(value) = value {
            text.push_str(&format!("\n{label}: {value}"));
        }
    }
    text
}

fn device_line(d: &DeviceView) -> String {
    format!(
        "{}  {}  {} / {} / {}  last seen {} from {}",
        d.device_id,
        if d.active { "active" } else { "ended" },
        d.browser,
        d.os,
        d.device,
        d.last_seen,
        d.last_ip.as_deref().unwrap_or("?")
    )
}

fn read_password() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin().lock().take(MAX_PASSWORD_BYTES as u64 + 2).read_line(&mut line)?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(Secret::new(password))
}
