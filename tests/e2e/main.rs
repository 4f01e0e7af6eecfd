//! The end-to-end suite: every test starts the real server and speaks HTTP to it.

mod admin;
mod authorization_code;
mod browser;
mod cli;
mod client_credentials;
mod devices;
mod discovery;
mod feed;
mod forged;
mod guard;
mod hardening;
mod jwt;
mod keys;
mod multinode;
mod oauth2_library;
mod overload;
mod password;
mod process;
mod refresh;
mod retention;
mod revocation;
mod session_control;
mod snapshots;
mod throttle;
mod users;
