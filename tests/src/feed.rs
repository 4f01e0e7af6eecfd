//! `FeedFollower`: reads a revocation feed (server-sent events) in the background.

use std::time::{Duration, Instant};

use futures::StreamExt;
use portcullis_proto::FeedEvent;
use tokio::sync::mpsc;

/// One SSE event: its `event` name and `data`.
#[derive(Clone, Debug)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
    /// When the follower read it.
    pub at: Instant,
}

pub struct FeedFollower {
    rx: mpsc::UnboundedReceiver<SseEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl FeedFollower {
    /// Connects to `url` with Basic `id:secret` (and `Last-Event-ID` if given); panics unless
    /// the answer is a 200 event stream.
    pub async fn connect(url: &str, id: &str, secret: &str, last_event_id: Option<&str>) -> Self {
        let mut req =
            reqwest::Client::new().get(url).basic_auth(id, Some(secret)).header("accept", "text/event-stream");
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        let res = req.send().await.expect("feed request");
        assert_eq!(res.status(), 200, "feed refused");
        let ctype = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(ctype.starts_with("text/event-stream"), "content-type {ctype}");
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut body = res.bytes_stream();
            let mut buf = String::new();
            let (mut event, mut id, mut data) = (String::new(), None, String::new());
            while let Some(Ok(chunk)) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(nl) = buf.find('\n') {
                    let line = buf[..nl].trim_end_matches('\r').to_owned();
                    buf.drain(..=nl);
                    if line.is_empty() {
                        if !data.is_empty() || !event.is_empty() {
                            let e = SseEvent {
                                event: std::mem::take(&mut event),
                                id: id.take(),
                                data: std::mem::take(&mut data),
                                at: Instant::now(),
                            };
                            if tx.send(e).is_err() {
                                return;
                            }
                        }
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
            }
        });
        Self { rx, task }
    }

    /// The next event named `name` within `within` (others are skipped).
    pub async fn next_named(&mut self, name: &str, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) if e.event == name => return Some(e),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    /// Skips to `caught-up`, returning the revocations before it.
    pub async fn backlog(&mut self) -> Vec<FeedEvent> {
        let mut events = Vec::new();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                .await
                .expect("caught-up within 10 s")
                .expect("stream open");
            match e.event.as_str() {
                "caught-up" => return events,
                "session-revoked" => events.push(serde_json::from_str(&e.data).expect("a FeedEvent")),
                _ => {}
            }
        }
    }

    /// The next revocation within `within`.
    pub async fn next_revocation(&mut self, within: Duration) -> Option<(FeedEvent, Instant)> {
        let e = self.next_named("session-revoked", within).await?;
        Some((serde_json::from_str(&e.data).expect("a FeedEvent"), e.at))
    }
}

impl Drop for FeedFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}
