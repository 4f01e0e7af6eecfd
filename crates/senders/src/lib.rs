#![doc = include_str!("../README.md")]

mod body;
mod outbox;
mod smtp;
mod webhook;

pub use body::Body;
pub use outbox::Outbox;
pub use smtp::Smtp;
pub use webhook::{SIGNATURE_HEADER, Webhook, WebhookOptions, signature, worst_case};
