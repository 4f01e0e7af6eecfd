#![doc = include_str!("../README.md")]

pub mod app;
pub mod cli;
pub mod config;
mod feed_slots;
pub mod http;
pub mod ops;
pub mod serve;
pub mod telemetry;

pub use app::App;
pub use config::Config;
pub use serve::{Server, shutdown_signal};
