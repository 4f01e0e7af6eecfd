//! Closed-loop load generator for the refresh grant: `C` workers, each owning its own device
//! sessions, each request rotating a family no other worker touches. oha cannot do this (every
//! request needs the token the previous one returned), so this is the harness for refreshes.
//!
//! Driven by `crates/server/benches/load.sh refresh`; reads its parameters from the
//! environment: BENCH_URL, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_USERNAME,
//! BENCH_PASSWORD, BENCH_FAMILIES (256), BENCH_CONCURRENCY (64), BENCH_SECONDS (20).
//! Prints one JSON line: requests, ok rate, rps, p50/p90/p99 in ms, status counts.

use std::collections::BTreeMap;
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

async fn login(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    user: &str,
    pass: &str,
    device: &str,
) -> Family {
    let body: serde_json::Value = http
        .post(url)
        .basic_auth(id, Some(secret))
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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let base = env("BENCH_URL");
    let url = format!("{base}/oauth2/token");
    let (id, secret) = (env("BENCH_CLIENT_ID"), env("BENCH_CLIENT_SECRET"));
    let (user, pass) = (env("BENCH_USERNAME"), env("BENCH_PASSWORD"));
    let families = env_num("BENCH_FAMILIES", 256);
    let concurrency = env_num("BENCH_CONCURRENCY", 64).min(families);
    let seconds = env_num("BENCH_SECONDS", 20) as u64;
    // BENCH_USER_AGENT: what a browser or app would send (its families enter the fingerprint);
    // unset, no User-Agent at all (families "Other").
    let user_agent = std::env::var("BENCH_USER_AGENT").ok().filter(|u| !u.is_empty());
    let mut http = reqwest::Client::builder().pool_max_idle_per_host(concurrency);
    if let Some(ua) = &user_agent {
        http = http.user_agent(ua.as_str());
    }
    let http = http.build().expect("client");

    // Sessions, logged in up front (not measured).
    let mut all = Vec::with_capacity(families);
    for i in 0..families {
        all.push(login(&http, &url, &id, &secret, &user, &pass, &format!("bench-{i}")).await);
    }
    let mut per_worker: Vec<Vec<Family>> = (0..concurrency).map(|_| Vec::new()).collect();
    for (i, f) in all.into_iter().enumerate() {
        per_worker[i % concurrency].push(f);
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for mut mine in per_worker {
        let (http, url, id, secret) = (http.clone(), url.clone(), id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let n = mine.len();
                let f = &mut mine[i % n];
                i += 1;
                let t = Instant::now();
                let res = http
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", f.token.as_str()),
                        ("device_id", f.device.as_str()),
                    ])
                    .send()
                    .await;
                let Ok(res) = res else {
                    *statuses.entry(0).or_default() += 1;
                    continue;
                };
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap_or_default();
                latencies.push(t.elapsed());
                *statuses.entry(status).or_default() += 1;
                if let Some(next) = body["refresh_token"].as_str() {
                    f.token = next.to_owned();
                }
            }
            (latencies, statuses)
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for t in tasks {
        let (l, s) = t.await.expect("worker");
        latencies.extend(l);
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
    };
    let total: u64 = statuses.values().sum();
    let ok = statuses.get(&200).copied().unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "label": if user_agent.is_some() { "refresh, browser User-Agent" } else { "refresh, no User-Agent" }, "concurrency": concurrency, "families": families, "duration_s": wall,
            "requests": total, "ok_200_rps": ok as f64 / wall, "ok_200_rate": ok as f64 / total.max(1) as f64,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "status_codes": statuses,
        })
    );
}
