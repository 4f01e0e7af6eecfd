//! `portcullis client create`.

use clap::Subcommand;
use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType;
use portcullis_domain::scope::Scope;
use serde_json::json;

use crate::app::Backend;
use crate::config::Config;
use portcullis_oauth::PasswordVerifier;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client. Its secret is printed once; only a hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// password, client_credentials, refresh_token or authorization_code (repeatable).
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// Space-separated scopes the client may ask for.
        #[arg(long, default_value = "")]
        scope: String,
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A public client: no secret (native and browser apps).
        #[arg(long)]
        public: bool,
        /// A resource server: it may introspect tokens and follow the revocation feed.
        #[arg(long)]
        resource_server: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: ClientCommand, config: &Config) -> anyhow::Result<()> {
    let ClientCommand::Create { name, grants, scope, redirect_uris, public, resource_server, json } = command;
    let grants = grants
        .iter()
        .map(|g| {
            g.parse::<GrantType>().map_err(|_| {
                anyhow::anyhow!(
                    "unknown grant {g:?}: use password, client_credentials, refresh_token or authorization_code"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let grants = if grants.is_empty() { vec![GrantType::ClientCredentials] } else { grants };
    let scope: Scope = scope.parse().map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
    let spec = ClientSpec { name, grants, scope, redirect_uris, public, resource_server }.checked()?;
    let backend = Backend::open(config).await?;
    let passwords = PasswordVerifier::new(Backend::password_hasher(config)?, 1);
    let created = backend.directory(passwords).create_client(spec, "cli").await?;
    let id = created.client.id.to_string();
    match &created.secret {
        Some(secret) => {
            let human = format!("client_id: {id}\nclient_secret: {}\n(the secret is shown once)", secret.expose());
            super::print(json, &json!({"client_id": id, "client_secret": secret.expose()}), &human);
        }
        None => super::print(json, &json!({"client_id": id}), &format!("client_id: {id} (public client)")),
    }
    Ok(())
}
