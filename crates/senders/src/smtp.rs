//! SMTP, for email codes: one plain-text message per code through the operator's relay, at a
//! URL as lettre reads it: `smtps://user:password@host` (TLS from the start),
//! `smtp://host:587?tls=required` (STARTTLS), `smtp://127.0.0.1:2525` (plain, a local relay).

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_domain::otp::{Channel, OtpMessage, SendError, Sender};

pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl Smtp {
    /// A sender through the relay at `url`, as `from` (`Portcullis <no-reply@example.com>`).
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, SendError> {
        let from: Mailbox = from.parse().map_err(SendError::failed)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(SendError::failed)?
            .timeout(Some(timeout))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Sender for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn sends(&self, channel: Channel) -> bool {
        channel == Channel::Email
    }

    async fn send(&self, message: &OtpMessage) -> Result<(), SendError> {
        if message.destination.channel() != Channel::Email {
            return Err(SendError::Unsupported { sender: "smtp", channel: message.destination.channel() });
        }
        let to: Mailbox = message.destination.address().parse().map_err(SendError::failed)?;
        let minutes = message.expires_in.div_ceil(60);
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("Your sign-in code")
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "Your sign-in code is {}.\n\nIt works once, for {minutes} minute(s). If you did not ask for it, ignore this email.\n",
                message.code.expose()
            ))
            .map_err(SendError::failed)?;
        self.transport.send(email).await.map_err(SendError::failed)?;
        Ok(())
    }
}
