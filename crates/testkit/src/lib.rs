#![doc = include_str!("../README.md")]

pub mod build;
mod memory;
mod sender;

pub use memory::Memory;
pub use portcullis_domain::clock::ManualClock;
pub use sender::Recorder;
