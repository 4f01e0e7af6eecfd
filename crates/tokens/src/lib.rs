#![doc = include_str!("../README.md")]

pub mod keyfile;
pub mod keyring;
pub mod mint;
pub mod pepper;
pub mod provider;
pub mod rotation;
pub mod verify;

pub use keyring::{KeyRing, LoadedKey, SharedKeyRing};
pub use mint::{AccessTokenMinter, IdTokenInput, MintInput, Minted, at_hash};
pub use rotation::{KeyError, KeyManager};
pub use verify::{VerifyError, verify_access_token, verify_id_token_hint};
