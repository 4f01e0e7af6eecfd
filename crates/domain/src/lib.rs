#![doc = include_str!("../README.md")]

pub mod audit;
pub mod client;
pub mod clock;
pub mod devices;
pub mod grant;
pub mod ids;
pub mod password;
pub mod policy;
pub mod ports;
pub mod revocation;
pub mod rotation;
pub mod scope;
pub mod secret;
pub mod session;
pub mod throttle;
pub mod user;
