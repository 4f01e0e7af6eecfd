//! RFC 7009 revocation of refresh and access tokens.
//!
//! A refresh token ends its whole device session (the family). A user access token ends its
//! device session too (RFC 7009 §2.1 allows revoking related tokens; a JWT cannot be recalled
//! alone). A client-credentials access token is revoked by its `jti` until it expires. Tokens
//! that are unknown or already dead are answered 200 and nothing happens (§2.2); a token issued
//! to another client is refused with `unauthorized_client` (§2.1), as Hydra does.

use portcullis_domain::ids::SessionId;
use portcullis_domain::ports::Ending;
use portcullis_domain::revocation::{NewRevocation, Reason, Target};
use portcullis_domain::session::DeviceSession;
use portcullis_tokens::verify_access_token;

use crate::error::OAuthError;
use crate::request::FormRequest;
use crate::service::TokenService;

fn not_yours() -> OAuthError {
    OAuthError::UnauthorizedClient("the token was issued to another client".into())
}

impl TokenService {
    pub async fn revoke(&self, form: &FormRequest) -> Result<(), OAuthError> {
        let client_id = self.authenticate_client(form, true).await?.id.into_string();
        let token = form.required("token")?;
        let hint = form.param("token_type_hint")?;
        if let Some(h) = hint.as_deref()
            && !matches!(h, "refresh_token" | "access_token")
        {
            // RFC 7009 §2.2.1: an unknown hint is tolerated; we search both kinds.
            tracing::debug!(hint = h, "unknown token_type_hint");
        }
        let server = |e: portcullis_domain::ports::StoreError| OAuthError::server("revoking a token", e);
        let now = self.now();
        // A refresh token? (Cheap: an indexed lookup of its hash.)
        if let Some(session) =
            self.deps.issuance.sessions.find_by_token(&self.deps.hasher.hash(&token)).await.map_err(server)?
        {
            if session.client_id.as_str() != client_id {
                return Err(not_yours());
            }
            self.end_session(&session, Reason::RevokedByClient, &client_id).await.map_err(server)?;
            return Ok(());
        }
        // An access token of ours, still valid?
        let ring = self.deps.issuance.keys.current();
        let Ok(claims) = verify_access_token(
            &ring,
            &token,
            &self.deps.issuance.minter.issuer,
            &self.deps.issuance.minter.audience,
            now,
        ) else {
            return Ok(());
        };
        if claims.client_id != client_id {
            return Err(not_yours());
        }
        match &claims.sid {
            Some(sid) => {
                let Ok(sid) = SessionId::parse(sid) else { return Ok(()) };
                if let Some(session) = self.deps.issuance.sessions.find(&sid).await.map_err(server)? {
                    self.end_session(&session, Reason::RevokedByClient, &client_id).await.map_err(server)?;
                }
            }
            None => {
                let revocation = NewRevocation {
                    at: now,
                    target: Target::Token { jti: claims.jti },
                    reason: Reason::RevokedByClient,
                };
                self.deps.revocations.record(&revocation).await.map_err(server)?;
            }
        }
        Ok(())
    }

    /// Ends one device session (every access token of it dies with it), audits it, and takes
    /// the revocation in at once (this node's state and feed, the other nodes' doorbell). A
    /// logout also ends the browser login session of that device. False when it had ended.
    pub async fn end_session(
        &self,
        session: &DeviceSession,
        reason: Reason,
        actor: &str,
    ) -> Result<bool, portcullis_domain::ports::StoreError> {
        let which = Ending::One { sid: &session.id, user: &session.user_id };
        let ended = self.deps.issuance.sessions.end(which, self.now(), reason, actor, reason == Reason::Logout).await?;
        if ended > 0 {
            self.deps.revocations.recorded().await;
        }
        Ok(ended > 0)
    }
}
