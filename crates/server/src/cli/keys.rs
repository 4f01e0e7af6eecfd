//! `portcullis keys list` and `portcullis keys rotate`.

use clap::Subcommand;
use serde_json::json;

use crate::app::Backend;
use crate::config::Config;
use crate::ops;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys and their state (pending, active, retired, expired).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a key: published at once, signing after keys.activation_delay. Running nodes
    /// notice within keys.reload_interval.
    Rotate {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    let backend = Backend::open_existing(config).await?;
    match command {
        KeysCommand::List { json } => {
            let keys = ops::list_keys(&backend.key_manager, backend.clock.as_ref()).await?;
            let human = keys
                .iter()
                .map(|k| format!("{}  {:?}  active_from {}", k.kid, k.state, k.active_from.to_rfc3339()))
                .collect::<Vec<_>>()
                .join("\n");
            super::print(json, &json!({"keys": keys}), if keys.is_empty() { "no keys yet" } else { &human });
        }
        KeysCommand::Rotate { json } => {
            let record = ops::rotate_key(&backend.key_manager, backend.audit(), backend.clock.as_ref(), "cli").await?;
            let value = json!({"kid": record.kid, "created_at": record.created_at, "active_from": record.active_from});
            super::print(
                json,
                &value,
                &format!("new key {} signs from {}", record.kid, record.active_from.to_rfc3339()),
            );
        }
    }
    Ok(())
}
