//! `portcullis client create|list|delete`: the admin API's client operations, through the same
//! directory and session-control code.

use clap::Subcommand;
use portcullis_domain::client::ClientSpec;
use portcullis_domain::grant::GrantType;
use portcullis_domain::ids::ClientId;
use portcullis_domain::scope::Scope;
use serde_json::json;

use super::{ACTOR, PAGE, one_shot_app};
use crate::config::Config;
use crate::ops::clients::view;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register a client. Its secret is printed once; only a hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// password, client_credentials, refresh_token, authorization_code or otp (repeatable).
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
        /// With `--grant otp` or `--grant authorization_code`: an unknown phone or email that signs
        /// in by code (the OTP grant, or the login page) becomes a new user.
        #[arg(long)]
        otp_signup: bool,
        /// People may create accounts through this client (`POST /signup`, "create account").
        #[arg(long)]
        signup: bool,
        /// A browser origin (`https://app.example`) allowed to call the API with this client's
        /// tokens (CORS; repeatable).
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// Where OpenID Connect RP-initiated logout may send the browser afterwards (exact
        /// match; repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List every client (never a secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a client: every session it holds ends and its tokens stop working at once.
    Delete {
        client: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: ClientCommand, config: &Config) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create {
            name,
            grants,
            scope,
            redirect_uris,
            public,
            resource_server,
            otp_signup,
            signup,
            allowed_origins,
            post_logout_redirect_uris,
            json,
        } => {
            let grants = grants
                .iter()
                .map(|g| {
                    g.parse::<GrantType>().map_err(|_| {
                        anyhow::anyhow!(
                            "unknown grant {g:?}: use password, client_credentials, refresh_token, authorization_code or otp"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let grants = if grants.is_empty() { vec![GrantType::ClientCredentials] } else { grants };
            let scope: Scope = scope.parse().map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let spec = ClientSpec {
                name,
                grants,
                scope,
                redirect_uris,
                public,
                resource_server,
                otp_signup,
                signup,
                allowed_origins,
                post_logout_redirect_uris,
            }
            .checked()?;
            let app = one_shot_app(config).await?;
            let created = app.directory().create_client(spec, ACTOR).await?;
            let id = created.client.id.to_string();
            match &created.secret {
                Some(secret) => {
                    let human =
                        format!("client_id: {id}\nclient_secret: {}\n(the secret is shown once)", secret.expose());
                    super::print(json, &json!({"client_id": id, "client_secret": secret.expose()}), &human);
                }
                None => super::print(json, &json!({"client_id": id}), &format!("client_id: {id} (public client)")),
            }
        }
        ClientCommand::List { json } => {
            let app = one_shot_app(config).await?;
            let app = &app;
            let clients = super::every(|cursor| async move {
                let page = app.directory().clients(cursor.as_deref(), PAGE).await?;
                Ok((page.items.iter().map(view).collect(), page.next_cursor))
            })
            .await?;
            let human = if clients.is_empty() {
                "no clients yet".to_owned()
            } else {
                clients
                    .iter()
                    .map(|c| format!("{}  {}  {}  scope {:?}", c.client_id, c.name, c.grants.join(","), c.scope))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            super::print(json, &json!({ "clients": clients }), &human);
        }
        ClientCommand::Delete { client, json } => {
            let no_client = || anyhow::anyhow!("no client {client:?}");
            let id = ClientId::parse(&client).map_err(|_| no_client())?;
            let app = one_shot_app(config).await?;
            let ended = app.control().delete_client(&id, ACTOR).await.map_err(|e| match e {
                portcullis_oauth::ControlError::NotFound(_) => no_client(),
                e => e.into(),
            })?;
            super::print(
                json,
                &json!({ "client_id": id.to_string(), "deleted": true, "sessions_ended": ended }),
                &format!("deleted client {id}: {ended} session(s) ended"),
            );
        }
    }
    Ok(())
}
