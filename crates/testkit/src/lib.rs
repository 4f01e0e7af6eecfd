#![doc = include_str!("../README.md")]

pub mod build;
mod memory;

pub use memory::Memory;
pub use portcullis_domain::clock::ManualClock;
