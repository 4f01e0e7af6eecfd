//! Verifications per core: `Guard::verify` (header, RS256 signature, claims, and a revocation
//! lookup in a set of 10,001 entries received over the feed) against the raw aws-lc RS256
//! verification of the same token with the same pre-parsed key, in the same run.
//!
//! Run: `cargo bench -p portcullis-guard --bench verify`. The figure that matters is the rate of
//! `guard_verify` over the rate of `raw_aws_lc_verify`, target ≥ 0.85; `jsonwebtoken_decode` is
//! there for reference. Criterion's medians are in
//! `target/criterion/rs256_verify_per_core/*/new/estimates.json`. Because criterion times each
//! function in its own window of seconds, a busy machine skews their ratio; so the run ends with
//! a paired measurement: blocks of raw and guard verifications alternate, and the median of the
//! per-pair ratios is printed (drift in the machine's load cancels within a pair).

use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, black_box};
use futures::FutureExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_guard::testing::{CLIENT_ID, CLIENT_SECRET, FakeIssuer};
use portcullis_guard::{AccessTokenClaims, Guard, Presented};

const SESSIONS: usize = 9_000;
const TOKENS: usize = 500;
const USERS: usize = 500;

/// Everything timed, built once.
struct Fixture {
    _runtime: tokio::runtime::Runtime,
    issuer: FakeIssuer,
    guard: Guard,
    token: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    raw: ParsedPublicKey,
}

impl Fixture {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let (issuer, guard, token, claims) = runtime.block_on(setup());
        assert_eq!(guard.revocations_held(), SESSIONS + TOKENS + USERS + 1);
        let (signing_input, signature) = token.rsplit_once('.').expect("jws");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");
        let jwk = issuer.signing_key().jwk;
        let n = URL_SAFE_NO_PAD.decode(&jwk.n).expect("n");
        let e = URL_SAFE_NO_PAD.decode(&jwk.e).expect("e");
        let raw = RsaPublicKeyComponents { n: &n[..], e: &e[..] }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .expect("key");
        // Both paths accept the token before anything is timed.
        raw.verify_sig(signing_input.as_bytes(), &signature).expect("raw verify");
        assert_eq!(guard.verify(&token).now_or_never().expect("no I/O on the hot path"), Ok(claims));
        let signing_input = signing_input.as_bytes().to_vec();
        Self { _runtime: runtime, issuer, guard, token, signing_input, signature, raw }
    }

    fn raw_verify(&self) {
        self.raw.verify_sig(black_box(&self.signing_input), black_box(&self.signature)).expect("valid");
    }

    fn guard_verify(&self) {
        self.guard.verify(black_box(&self.token)).now_or_never().expect("ready").expect("valid");
    }
}

fn bench(c: &mut Criterion, f: &Fixture) {
    let jwk = f.issuer.signing_key().jwk;
    let decoding = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).expect("decoding key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["api"]);
    validation.set_issuer(&[f.issuer.url()]);

    let mut g = c.benchmark_group("rs256_verify_per_core");
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("raw_aws_lc_verify", |b| b.iter(|| f.raw_verify()));
    g.bench_function("guard_verify", |b| b.iter(|| f.guard_verify()));
    g.bench_function("guard_check_with_scope", |b| {
        b.iter(|| {
            f.guard
                .check(Presented::token(black_box(&f.token)), &["read"])
                .now_or_never()
                .expect("ready")
                .expect("valid")
        })
    });
    g.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessTokenClaims>(black_box(&f.token), &decoding, &validation).expect("valid")
        })
    });
    g.finish();
}

/// Alternating blocks of raw and guard verifications; prints the medians.
fn paired(f: &Fixture) {
    const BLOCK: u32 = 100;
    const PAIRS: usize = 400;
    let time = |op: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..BLOCK {
            op();
        }
        start.elapsed().as_secs_f64() / f64::from(BLOCK)
    };
    let (mut ratios, mut raw_times, mut guard_times) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..PAIRS {
        // Alternate which goes first, so neither always follows the other's cache state.
        let (raw, guard) = if pair % 2 == 0 {
            let r = time(&|| f.raw_verify());
            (r, time(&|| f.guard_verify()))
        } else {
            let g = time(&|| f.guard_verify());
            (time(&|| f.raw_verify()), g)
        };
        ratios.push(raw / guard);
        raw_times.push(raw);
        guard_times.push(guard);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (raw, guard) = (median(&mut raw_times), median(&mut guard_times));
    println!(
        "paired, {PAIRS} pairs of {BLOCK}: raw aws-lc {:.2} µs ({:.0}/s), guard {:.2} µs ({:.0}/s); \
         guard rate / raw rate = {:.3} (median of per-pair ratios)",
        raw * 1e6,
        1.0 / raw,
        guard * 1e6,
        1.0 / guard,
        median(&mut ratios)
    );
}

fn main() {
    let fixture = Fixture::new();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &fixture);
    paired(&fixture);
    c.final_summary();
}

/// A fake issuer whose feed holds 10,001 revocations, a guard that has caught up with them, and
/// a live user token shaped like Portcullis's (its user has an earlier ban on record, so the
/// lookup goes through the user branch too).
async fn setup() -> (FakeIssuer, Guard, String, AccessTokenClaims) {
    let issuer = FakeIssuer::start().await;
    let mut claims = issuer.claims("018f9a7e-5b7c-7cc2-9d7e-3f1c2b3a4d5e", "read write");
    claims.client_id = "pc_abcdefghijklmnopqrstuv".into();
    claims.sid = Some("AAAAAAAAAAAAAAAAAAAAAA".into());
    claims.dfp = Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into());
    let token = issuer.mint(&claims);
    for n in 0..SESSIONS {
        issuer.revoke_session(&format!("user-{n}"), &format!("session-{n:016}"));
    }
    for n in 0..TOKENS {
        issuer.revoke_token(&format!("{n:032x}"));
    }
    for n in 0..USERS {
        issuer.revoke_user(&format!("banned-{n}"), claims.iat, None);
    }
    issuer.revoke_user(&claims.sub, claims.iat - 10, None);
    let guard = Guard::builder(issuer.url()).client_credentials(CLIENT_ID, CLIENT_SECRET).build().await.expect("guard");
    tokio::time::timeout(Duration::from_secs(30), guard.caught_up()).await.expect("caught up");
    (issuer, guard, token, claims)
}
