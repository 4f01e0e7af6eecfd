#![doc = include_str!("../README.md")]

mod families;
mod hash;

pub use families::{MAX_FAMILY_LEN, MAX_USER_AGENT_LEN, UserAgentFamilies};
pub use hash::{Fingerprint, VERSION};
