//! `orders`: a resource server that keeps each user's orders in memory and lets through only
//! Portcullis access tokens that the guard accepts (scope `read` to list, `write` to change).

mod config;
mod error;
mod routes;
mod store;

use std::time::Duration;

use anyhow::Context;
use portcullis_guard::Guard;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::routes::AppState;
use crate::store::Orders;

/// How long start-up waits for the revocation feed's backlog before serving anyway (the guard
/// then refuses tokens, 503, until the feed catches up or its own fail-closed window ends).
const FEED_WAIT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let config = Config::from_env()?;

    let guard = Guard::builder(&config.issuer)
        .client_credentials(&config.client_id, config.client_secret.expose())
        .build()
        .await
        .with_context(|| format!("cannot start the guard for issuer {}", config.issuer))?;
    if tokio::time::timeout(FEED_WAIT, guard.caught_up()).await.is_err() {
        tracing::warn!("the revocation feed has not caught up yet; serving anyway");
    }

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // The one line on stdout: tests start the binary on port 0 and read the address here.
    println!("orders listening on http://{}", listener.local_addr()?);

    let app = routes::router(AppState { guard, orders: Orders::default() });
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
