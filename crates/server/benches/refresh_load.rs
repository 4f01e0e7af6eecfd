//! Load generator for the refresh grant. oha cannot do this (every request needs the token the
//! previous one returned), so this is the harness for refreshes.
//!
//! Closed loop (default): `C` workers, each owning its own device sessions, each request
//! rotating a family no other worker touches; the next request leaves when the answer is in.
//!
//! Open loop (BENCH_RATE=N requests/s): requests are due at fixed intervals of 1/N from the
//! start, whatever the server does; each takes a free family (one whose last answer has
//! arrived: it needs the new token) and its latency is measured from the time it was due, not
//! from when it could leave, so a slow server's queueing is counted (coordinated omission
//! corrected). A request due while every family is waiting for its answer is a generator
//! shortfall: it leaves as soon as a family frees up, still timed from when it was due, and
//! `shortfall` counts them; raise BENCH_FAMILIES until it is 0 (a result with shortfalls is
//! the generator's limit as much as the server's).
//!
//! Driven by `crates/server/benches/load.sh refresh|latency|history`; reads its parameters
//! from the environment: BENCH_URL, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_USERNAME,
//! BENCH_PASSWORD, BENCH_USERS (1: every family BENCH_USERNAME's; N: spread over
//! BENCH_USERNAME-0 … -(N-1)), BENCH_FAMILIES (256), BENCH_CONCURRENCY (64, closed loop),
//! BENCH_RATE (unset: closed loop), BENCH_SECONDS (20), BENCH_USER_AGENT (unset: none).
//! Prints one JSON line: requests, ok rate, rps, p50/p90/p99 in ms, status counts; open loop
//! adds the offered and achieved rates, the shortfall and the generator's own send lag.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Family {
    device: String,
    token: String,
}

/// What every request needs: the client and the token endpoint.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    url: String,
    id: String,
    secret: String,
}

impl Target {
    async fn login(&self, user: &str, pass: &str, device: &str) -> Family {
        let body: serde_json::Value = self
            .http
            .post(&self.url)
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[("grant_type", "password"), ("username", user), ("password", pass), ("device_id", device)])
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = body["refresh_token"].as_str().unwrap_or_else(|| panic!("the login gave no refresh_token: {body}"));
        Family { device: device.to_owned(), token: token.to_owned() }
    }

    /// One refresh of `f`, which takes the new token on success; the status (0: no answer).
    async fn refresh(&self, f: &mut Family) -> u16 {
        let res = self
            .http
            .post(&self.url)
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", f.token.as_str()),
                ("device_id", f.device.as_str()),
            ])
            .send()
            .await;
        let Ok(res) = res else { return 0 };
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        if let Some(next) = body["refresh_token"].as_str() {
            f.token = next.to_owned();
        }
        status
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let base = env("BENCH_URL");
    let (user, pass) = (env("BENCH_USERNAME"), env("BENCH_PASSWORD"));
    let families = env_num("BENCH_FAMILIES", 256);
    let rate: Option<f64> = std::env::var("BENCH_RATE").ok().and_then(|v| v.parse().ok()).filter(|r: &f64| *r > 0.0);
    let concurrency = env_num("BENCH_CONCURRENCY", 64).min(families);
    let seconds = env_num("BENCH_SECONDS", 20) as u64;
    // BENCH_USER_AGENT: what a browser or app would send (its families enter the fingerprint);
    // unset, no User-Agent at all (families "Other").
    let user_agent = std::env::var("BENCH_USER_AGENT").ok().filter(|u| !u.is_empty());
    // Open loop: as many connections as families can be in flight.
    let mut http =
        reqwest::Client::builder().pool_max_idle_per_host(if rate.is_some() { families } else { concurrency });
    if let Some(ua) = &user_agent {
        http = http.user_agent(ua.as_str());
    }
    let target = Target {
        http: http.build().expect("client"),
        url: format!("{base}/oauth2/token"),
        id: env("BENCH_CLIENT_ID"),
        secret: env("BENCH_CLIENT_SECRET"),
    };

    // Sessions, logged in up front (not measured).
    let mut all = Vec::with_capacity(families);
    // BENCH_USERS=N: the families spread over users BENCH_USERNAME-0 … -(N-1).
    let users = env_num("BENCH_USERS", 1).max(1);
    for i in 0..families {
        let name = if users == 1 { user.clone() } else { format!("{user}-{}", i % users) };
        all.push(target.login(&name, &pass, &format!("bench-{i}")).await);
    }

    let label = if user_agent.is_some() { "refresh, browser User-Agent" } else { "refresh, no User-Agent" };
    let duration = Duration::from_secs(seconds);
    let mut out = match rate {
        None => closed_loop(&target, all, concurrency, duration).await,
        Some(rate) => open_loop(&target, all, rate, duration).await,
    };
    let obj = out.as_object_mut().expect("object");
    obj.insert("label".into(), label.into());
    obj.insert("families".into(), families.into());
    println!("{out}");
}

/// Status counts and latencies, merged from every worker or request.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
}

impl Tally {
    fn add(&mut self, status: u16, latency: Duration) {
        *self.statuses.entry(status).or_default() += 1;
        self.latencies.push(latency);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
    }

    /// requests, ok rate, ok/s over `wall`, p50/p90/p99 in ms, status counts.
    fn summary(mut self, wall: f64) -> serde_json::Value {
        self.latencies.sort();
        let total: u64 = self.statuses.values().sum();
        let ok = self.statuses.get(&200).copied().unwrap_or(0);
        serde_json::json!({
            "duration_s": wall, "requests": total, "ok_200_rps": ok as f64 / wall,
            "ok_200_rate": ok as f64 / total.max(1) as f64,
            "p50_ms": pct_ms(&self.latencies, 0.50), "p90_ms": pct_ms(&self.latencies, 0.90),
            "p99_ms": pct_ms(&self.latencies, 0.99), "max_ms": pct_ms(&self.latencies, 1.0),
            "status_codes": self.statuses,
        })
    }
}

/// The `p` quantile of sorted durations, in ms.
fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p) as usize).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

async fn closed_loop(target: &Target, all: Vec<Family>, concurrency: usize, duration: Duration) -> serde_json::Value {
    let mut per_worker: Vec<Vec<Family>> = (0..concurrency).map(|_| Vec::new()).collect();
    for (i, f) in all.into_iter().enumerate() {
        per_worker[i % concurrency].push(f);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for mut mine in per_worker {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut i = 0;
            while Instant::now() < deadline {
                let n = mine.len();
                let f = &mut mine[i % n];
                i += 1;
                let t = Instant::now();
                let status = target.refresh(f).await;
                if status == 0 {
                    *tally.statuses.entry(0).or_default() += 1;
                    continue;
                }
                tally.add(status, t.elapsed());
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.expect("worker"));
    }
    let mut out = tally.summary(started.elapsed().as_secs_f64());
    out["mode"] = "closed".into();
    out["concurrency"] = concurrency.into();
    out
}

async fn open_loop(target: &Target, all: Vec<Family>, rate: f64, duration: Duration) -> serde_json::Value {
    let families = all.len();
    // Free families; a request takes one and gives it back with its new token.
    let (free_tx, mut free_rx) = tokio::sync::mpsc::unbounded_channel::<Family>();
    for f in all {
        free_tx.send(f).expect("open channel");
    }
    // (status, latency from the due time, send lag: due time to leaving) of every request.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(u16, Duration, Duration)>();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let deadline = started + duration;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(0));
    let (mut sent, mut shortfall, mut k) = (0u64, 0u64, 0u32);
    loop {
        let due = started + interval * k;
        if due >= deadline {
            break;
        }
        k += 1;
        tokio::time::sleep_until(due).await;
        let mut f = match free_rx.try_recv() {
            Ok(f) => f,
            Err(_) => {
                shortfall += 1;
                free_rx.recv().await.expect("families come back")
            }
        };
        sent += 1;
        let (target, free_tx, done_tx, in_flight) =
            (target.clone(), free_tx.clone(), done_tx.clone(), in_flight.clone());
        tokio::spawn(async move {
            let lag = due.elapsed();
            let status = target.refresh(&mut f).await;
            let _ = done_tx.send((status, due.elapsed(), lag));
            let _ = free_tx.send(f);
            in_flight.add_permits(1);
        });
    }
    let dispatch_wall = started.elapsed().as_secs_f64();
    // Every request sent gets its answer (or its error) before the tally.
    let _ = tokio::time::timeout(Duration::from_secs(30), in_flight.acquire_many(sent as u32)).await;
    let wall = started.elapsed().as_secs_f64();
    drop(done_tx);
    let mut tally = Tally::default();
    let mut lags = Vec::new();
    while let Ok((status, latency, lag)) = done_rx.try_recv() {
        tally.add(status, latency);
        lags.push(lag);
    }
    lags.sort();
    let answered = tally.latencies.len() as u64;
    let ok = tally.statuses.get(&200).copied().unwrap_or(0);
    let mut out = tally.summary(wall);
    out["mode"] = "open".into();
    out["offered_rps"] = rate.into();
    out["sent_rps"] = (sent as f64 / dispatch_wall).into();
    // 200s a second over the time it took to send everything and hear every answer.
    out["achieved_rps"] = (ok as f64 / wall).into();
    out["unanswered"] = (sent - answered).into();
    out["shortfall"] = shortfall.into();
    out["shortfall_rate"] = (shortfall as f64 / sent.max(1) as f64).into();
    out["send_lag_p50_ms"] = pct_ms(&lags, 0.50).into();
    out["send_lag_p99_ms"] = pct_ms(&lags, 0.99).into();
    out["families"] = families.into();
    out
}
