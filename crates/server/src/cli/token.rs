//! `portcullis token verify`: checks a token as a resource server does, with the guard crate
//! resource servers embed — the issuer's discovery document and JWKS, then the signature
//! (RS256 only), `typ`, `iss`, `aud`, `exp` and `nbf`.

use clap::Subcommand;
use portcullis_guard::{Guard, Revocation};

use crate::config::Config;

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Verify an access token against a running server's JWKS; prints its claims when valid.
    /// Offline, like any resource server: a kick or a ban shows only through the revocation
    /// feed or introspection (the guard follows the feed).
    Verify {
        /// The token, or `-` to read it from standard input (a token on the command line is
        /// in the shell's history and, while this runs, in the process list).
        token: String,
        /// The issuer whose keys to use (default: this configuration's issuer).
        #[arg(long)]
        issuer: Option<String>,
        /// The audience the token must be for (default: tokens.audience).
        #[arg(long)]
        audience: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: TokenCommand, config: &Config) -> anyhow::Result<()> {
    let TokenCommand::Verify { token, issuer, audience, json } = command;
    let token = if token == "-" {
        let mut line = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 64 * 1024), &mut line)?;
        line
    } else {
        token
    };
    let issuer = issuer.unwrap_or_else(|| config.issuer_for(config.listen));
    let audience = audience.unwrap_or_else(|| config.tokens.audience.clone());
    let guard = Guard::builder(issuer.clone())
        .audience(audience)
        .revocation(Revocation::Off)
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the issuer {issuer}: {}", with_causes(&e)))?;
    let claims = guard.verify(token.trim()).await.map_err(|e| anyhow::anyhow!("invalid token: {e}"))?;
    let human = format!(
        "valid: signature, typ, iss, aud, exp and nbf checked against {issuer}\nsub: {}\nclient_id: {}\nscope: {}\nexpires: {}{}\nrevocation: not checked (offline, as a resource server without the feed; introspection or the guard's feed would see a kick)",
        claims.sub,
        claims.client_id,
        claims.scope,
        chrono::DateTime::from_timestamp(claims.exp, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| claims.exp.to_string()),
        claims.sid.as_deref().map(|s| format!("\nsid: {s}")).unwrap_or_default(),
    );
    super::print(json, &serde_json::to_value(&claims)?, &human);
    Ok(())
}

/// An error and what caused it, each cause once: "request failed" alone does not tell an
/// operator that the certificate was refused or the name did not resolve.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
