//! The loopback listener the browser is redirected to (RFC 8252 §7.3): one route, answered once
//! with a page the user can close; the first redirect carrying our `state` ends it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const PATH: &str = "/callback";

/// What the authorization server sent back.
#[derive(Debug)]
pub enum Outcome {
    Code(String),
    /// RFC 6749 §4.1.2.1: `error` and, when given, `error_description`.
    Refused {
        error: String,
        description: Option<String>,
    },
}

/// A bound loopback port, not yet serving.
pub struct Listener {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Listener {
    /// Binds 127.0.0.1 (an IP literal, not `localhost`: RFC 8252 §8.3) on `port`, 0 for any.
    pub async fn bind(port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, redirect_uri: format!("http://127.0.0.1:{port}{PATH}") })
    }

    /// Serves until a redirect with `state` arrives, and returns what it carried. Requests
    /// without our `state` (another tab, a stale link, a forged request) get an error page and
    /// change nothing.
    pub async fn wait(self, state: String) -> anyhow::Result<Outcome> {
        let (tx, rx) = oneshot::channel();
        let shared = Arc::new(Waiting { state, done: Mutex::new(Some(tx)) });
        let app = Router::new().route(PATH, get(redirected)).with_state(shared);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .into_future(),
        );
        let outcome = rx.await.context("the loopback listener stopped")?;
        let _ = stop_tx.send(());
        let _ = server.await;
        Ok(outcome)
    }
}

struct Waiting {
    state: String,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
}

async fn redirected(
    State(waiting): State<Arc<Waiting>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    if query.get("state").map(String::as_bytes) != Some(waiting.state.as_bytes()) {
        return page(StatusCode::BAD_REQUEST, "This is not the login cli-login started. Close this tab.");
    }
    let outcome = match (query.get("code"), query.get("error")) {
        (Some(code), None) => Outcome::Code(code.clone()),
        (_, Some(error)) => {
            Outcome::Refused { error: error.clone(), description: query.get("error_description").cloned() }
        }
        (None, None) => return page(StatusCode::BAD_REQUEST, "The redirect carried neither a code nor an error."),
    };
    let refused = matches!(outcome, Outcome::Refused { .. });
    let sender = waiting.done.lock().unwrap_or_else(|e| e.into_inner()).take();
    match sender {
        Some(tx) => {
            let _ = tx.send(outcome);
            if refused {
                page(StatusCode::OK, "The login was not completed. You can close this tab.")
            } else {
                page(StatusCode::OK, "You are logged in. You can close this tab and return to the terminal.")
            }
        }
        None => page(StatusCode::CONFLICT, "This login has already finished. Close this tab."),
    }
}

fn page(status: StatusCode, message: &str) -> (StatusCode, Html<String>) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>cli-login</title></head>\
         <body><main><h1>cli-login</h1><p>{message}</p></main></body></html>"
    );
    (status, Html(body))
}
