//! `portcullis user create`.

use std::io::{BufRead, Read};

use clap::Subcommand;
use portcullis_domain::password::MAX_PASSWORD_BYTES;
use portcullis_domain::secret::Secret;
use portcullis_oauth::PasswordVerifier;
use serde_json::json;

use crate::app::Backend;
use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: UserCommand, config: &Config) -> anyhow::Result<()> {
    let UserCommand::Create { username, password_stdin: _, json } = command;
    let password = read_password()?;
    // Refuse bad input before touching the database or the keys folder.
    portcullis_domain::ids::Username::parse(&username)?;
    portcullis_domain::password::check_policy(password.expose())?;
    let backend = Backend::open(config).await?;
    let passwords = PasswordVerifier::new(Backend::password_hasher(config)?, 1);
    let user = backend.directory(passwords).create_user(&username, password, "cli").await?;
    let id = user.id.to_string();
    super::print(json, &json!({"user_id": id}), &format!("user_id: {id}"));
    Ok(())
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
