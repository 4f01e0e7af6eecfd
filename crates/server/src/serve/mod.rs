//! Running a node: bind, build the app, serve until told to stop, finish in-flight requests.

mod connections;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use portcullis_domain::clock::Clock;
use portcullis_store::SqlStore;

use crate::app::{App, Parts};
use crate::config::Config;
use crate::http;
use crate::telemetry::Metrics;

/// A bound, built node, not yet serving.
pub struct Server {
    listener: TcpListener,
    app: App,
}

impl Server {
    /// Binds `config.listen` (port 0 picks a free one), applies migrations, loads keys.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::builder(config).build().await
    }

    /// A node with parts injected: a manual clock, a store the caller also reads (tests).
    pub fn builder(config: Config) -> ServerBuilder {
        ServerBuilder { config, parts: Parts::default() }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let mut tasks = self.app.spawn_revocation_sync();
        tasks.push(self.app.spawn_key_reloader());
        tasks.push(self.app.spawn_janitor());
        let cfg = &self.app.config().http;
        let limits = connections::Limits {
            max_connections: cfg.max_connections,
            header_read_timeout: cfg.header_read_timeout,
            idle_timeout: cfg.idle_timeout,
            shutdown_grace: cfg.request_timeout,
        }
        .fitted_to_descriptors();
        let app = self.app.clone();
        let stop = app.stopping();
        tokio::spawn(async move {
            shutdown.await;
            app.begin_shutdown();
        });
        let router = http::router(self.app);
        connections::serve(self.listener, router, limits, stop).await;
        tasks.iter().for_each(tokio::task::JoinHandle::abort);
        Ok(())
    }
}

/// See [`Server::builder`].
pub struct ServerBuilder {
    config: Config,
    parts: Parts,
}

impl ServerBuilder {
    /// The clock every rule reads: token lifetimes, idle and absolute session limits, cut-offs.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.parts.clock = Some(clock);
        self
    }

    /// The store to use instead of opening `database_url` (migrations still run).
    pub fn store(mut self, store: SqlStore) -> Self {
        self.parts.store = Some(store);
        self
    }

    pub async fn build(self) -> anyhow::Result<Server> {
        let config = self.config;
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot bind {}", config.listen))?;
        let bound = listener.local_addr()?;
        let app = App::build(config, bound, Metrics::install(), self.parts).await?;
        Ok(Server { listener, app })
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
