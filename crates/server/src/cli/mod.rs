//! The `portcullis` command line. Every subcommand reads the same configuration; with
//! `--json` it prints exactly one JSON object on stdout. Errors: one line on stderr, exit 1.

mod client;
mod keys;
mod token;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::serve::{Server, shutdown_signal};

#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about = "OAuth 2.0 authorization server with JWTs and real session control")]
struct Cli {
    /// Configuration file (default: config/default.toml when it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply pending migrations, create a signing key if there is none, and serve.
    Serve,
    /// Apply pending migrations and exit.
    Migrate {
        #[arg(long)]
        json: bool,
    },
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Check tokens as a resource server does.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Who the audit trail says acted, for every command.
const ACTOR: &str = "cli";
/// Rows read per page when a command lists everything.
const PAGE: usize = 100;

/// Every row of a paged listing: `page(cursor)` answers one page's rows and the next cursor.
async fn every<T, F, Fut>(mut page: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<T>, Option<String>)>>,
{
    let mut rows = Vec::new();
    let mut cursor = None;
    loop {
        let (more, next) = page(cursor).await?;
        rows.extend(more);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The node's services over the database and keys a node made (refusing to create either),
/// for a command that runs once: the same directory and session-control code as the admin API.
async fn one_shot_app(config: &Config) -> anyhow::Result<crate::app::App> {
    let parts = crate::app::Parts { one_shot: true, ..Default::default() };
    crate::app::App::build(config.clone(), config.listen, crate::telemetry::Metrics::install(), parts).await
}

/// Parses arguments, runs, and turns any error into one stderr line and exit code 1.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as usual; a usage error is one line, like every error.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's message minus its usage block, on one line.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(|l| l.trim().trim_start_matches("error: "))
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {} (see --help)", message.join(" "));
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let is_serve = matches!(cli.command, Command::Serve);
    // One-shot commands log only warnings, so that stdout/stderr stay clean for scripts.
    let mut log = config.log.clone();
    if !is_serve {
        log.filter = "warn".into();
    }
    crate::telemetry::init_logging(&log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {}", message.replace('\n', " "));
    ExitCode::FAILURE
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let server = Server::build(config).await?;
            tracing::info!(
                addr = %server.local_addr(),
                issuer = %server.app().issuer(),
                allocator_purge_delay_ms = portcullis_alloc::purge_delay_ms(),
                "portcullis is serving"
            );
            server.run(shutdown_signal()).await
        }
        Command::Migrate { json } => {
            crate::app::Backend::open(&config).await?;
            print(json, &serde_json::json!({"migrated": true}), "migrations applied");
            Ok(())
        }
        Command::Client(c) => client::run(c, &config).await,
        Command::User(c) => user::run(c, &config).await,
        Command::Keys(c) => keys::run(c, &config).await,
        Command::Token(c) => token::run(c, &config).await,
    }
}

/// Prints `value` as one JSON object (`--json`) or `human` as text.
fn print(json: bool, value: &serde_json::Value, human: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}
