#![doc = include_str!("../README.md")]

mod cursor;
mod local;
pub mod ports;
mod runtime;
pub mod wire;

pub use cursor::{Cursor, GAP_WAIT};
pub use local::LocalRevocations;
pub use ports::{Doorbell, RevocationLog, RevocationState, Verdict};
pub use runtime::{HORIZON_SLACK, Revocations};
