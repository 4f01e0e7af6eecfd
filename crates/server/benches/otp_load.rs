//! Load generator for one-time-code login (contract §6). oha cannot do this: a code works once,
//! so every grant needs its own destination and the code the server sent to it.
//!
//! For `BENCH_CODES` phone numbers it runs two rounds, each closed loop with
//! `BENCH_CONCURRENCY` workers taking the next number from a shared counter:
//! 1. `send`: `POST /oauth2/otp` for every number (the client signs people up, so each is sent
//!    a code), then the codes are read back from the outbox file the server appends to;
//! 2. `grant`: the OTP grant with each code once.
//!
//! Round 1 signs every number up (its grants create the users); round 2 repeats both steps for
//! the same numbers, now existing users: the login a returning person makes. The server must
//! allow a resend within the run and many sends from one address (load.sh sets the limits).
//!
//! Reads BENCH_URL, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_OUTBOX (the server's
//! `otp.outbox_path`), BENCH_CODES (20000), BENCH_CONCURRENCY (64). Prints one JSON line per
//! step: label, requests, ok rate, ok/s, p50/p90/p99 in ms, status counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required"))
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const OTP_GRANT: &str = "urn:portcullis:params:oauth:grant-type:otp";

/// The `i`th number: China Mobile's 139 range, valid in its numbering plan.
fn phone(i: usize) -> String {
    format!("+86139{i:08}")
}

#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    base: String,
    id: String,
    secret: String,
}

impl Target {
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.id, Some(&self.secret))
            .form(form)
            .send()
            .await;
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                // Read the body: the connection goes back to the pool only once it is drained.
                let _ = res.bytes().await;
                status
            }
            Err(_) => 0,
        }
    }
}

/// Status counts and latencies.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, u64>,
}

impl Tally {
    fn summary(mut self, label: &str, wall: f64) -> serde_json::Value {
        self.latencies.sort();
        let total: u64 = self.statuses.values().sum();
        let ok = self.statuses.get(&200).copied().unwrap_or(0);
        let pct = |p: f64| {
            self.latencies
                .get(((self.latencies.len() as f64 - 1.0) * p) as usize)
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        serde_json::json!({
            "label": label, "duration_s": wall, "requests": total, "ok_200_rps": ok as f64 / wall,
            "ok_200_rate": ok as f64 / total.max(1) as f64,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0),
            "status_codes": self.statuses,
        })
    }
}

/// Runs `one(i)` for i in 0..n on `concurrency` workers, closed loop; the step's summary.
async fn each<F, Fut>(label: &str, n: usize, concurrency: usize, one: F) -> serde_json::Value
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, one) = (next.clone(), one.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break tally;
                }
                let t = Instant::now();
                let status = one(i).await;
                *tally.statuses.entry(status).or_default() += 1;
                tally.latencies.push(t.elapsed());
            }
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        let t = w.await.expect("worker");
        all.latencies.extend(t.latencies);
        for (k, v) in t.statuses {
            *all.statuses.entry(k).or_default() += v;
        }
    }
    all.summary(label, started.elapsed().as_secs_f64())
}

/// The latest code the outbox holds for each destination, of the lines past byte `from`.
fn outbox_codes(path: &str, from: u64) -> HashMap<String, String> {
    let all = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read the outbox {path}: {e}"));
    let text = String::from_utf8_lossy(&all[(from as usize).min(all.len())..]).into_owned();
    let mut codes = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("an outbox line is JSON");
        if let (Some(to), Some(code)) = (v["to"].as_str(), v["code"].as_str()) {
            codes.insert(to.to_owned(), code.to_owned());
        }
    }
    codes
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let n = env_num("BENCH_CODES", 20_000);
    let concurrency = env_num("BENCH_CONCURRENCY", 64);
    let outbox = env("BENCH_OUTBOX");
    let target = Target {
        http: reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client"),
        base: env("BENCH_URL"),
        id: env("BENCH_CLIENT_ID"),
        secret: env("BENCH_CLIENT_SECRET"),
    };
    for round in ["signup", "login"] {
        let before = std::fs::metadata(&outbox).map_or(0, |m| m.len());
        let t = target.clone();
        let sent = each(&format!("otp send ({round})"), n, concurrency, move |i| {
            let t = t.clone();
            async move { t.post("/oauth2/otp", &[("phone", phone(i).as_str())]).await }
        })
        .await;
        println!("{sent}");
        // The numbers sent a code this round: the outbox lines written since it began (a send
        // the node shed, 503, has none to spend).
        let codes = outbox_codes(&outbox, before);
        let numbers: Arc<Vec<String>> = Arc::new((0..n).map(phone).filter(|p| codes.contains_key(p)).collect());
        assert!(numbers.len() * 10 >= n * 9, "at least 90 % of the numbers were sent a code: {sent}");
        let codes = Arc::new(codes);
        let t = target.clone();
        let granted = each(&format!("otp grant ({round})"), numbers.len(), concurrency, move |i| {
            let (t, codes, numbers) = (t.clone(), codes.clone(), numbers.clone());
            async move {
                let to = numbers[i].clone();
                let device = format!("bench-{i}");
                let form = [("grant_type", OTP_GRANT), ("phone", &to), ("code", &codes[&to]), ("device_id", &device)];
                t.post("/oauth2/token", &form).await
            }
        })
        .await;
        println!("{granted}");
        // The resend cooldown (load.sh sets it to 1 s) must pass before round 2's sends.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
}
