//! Helpers for the end-to-end suite: a real server per test, its database, its keys.

pub mod authflow;
pub mod browser;
pub mod db;
pub mod feed;
pub mod keys;
pub mod process;
pub mod proxy;
pub mod rp;
pub mod server;
pub mod smtp;
pub mod tls;

pub use db::TestDb;
pub use server::{ManualClock, TestClient, TestServer};
