//! `cli-login`: a command-line app that logs its user in the way RFC 8252 asks native apps to.
//!
//! It opens the system browser at the authorization endpoint (authorization code, S256 PKCE,
//! a fresh `state`), listens on a loopback port for the redirect, exchanges the code as a public
//! client, calls `/me` with the access token and prints who logged in. The app never sees the
//! password; the server only ever sees a registered redirect URI (`http://127.0.0.1/callback`,
//! any port). It speaks only HTTP and standard OAuth 2.0, through the `oauth2` crate, as any
//! third-party app would.

mod callback;
mod login;

use std::time::Duration;

use clap::Parser;

/// Log in to a Portcullis server through the browser and print the user.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server's issuer URL (its discovery document is read from there).
    #[arg(long, env = "PORTCULLIS_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// This app's client_id: a public client with the authorization_code grant and the redirect
    /// URI http://127.0.0.1/callback.
    #[arg(long, env = "CLI_LOGIN_CLIENT_ID")]
    client_id: String,
    /// Scopes to ask for (space-separated); default: what the client may have.
    #[arg(long)]
    scope: Option<String>,
    /// A name for this device; default: the server makes one.
    #[arg(long)]
    device_id: Option<String>,
    /// Loopback port to listen on for the redirect; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Print the URL to open instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// Give up when the browser has not come back after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let options = login::Options {
        issuer: args.issuer.trim_end_matches('/').to_owned(),
        client_id: args.client_id,
        scope: args.scope,
        device_id: args.device_id,
        port: args.port,
        open_browser: !args.no_browser,
        timeout: Duration::from_secs(args.timeout),
    };
    match login::run(&options).await {
        Ok(user) => {
            println!(
                "Logged in as {} (user {}) on device {} with scope \"{}\".",
                user.username, user.user_id, user.device_id, user.scope
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cli-login: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
