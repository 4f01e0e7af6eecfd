//! RS256 signing per core: Portcullis's minter against raw aws-lc and against jsonwebtoken's
//! stock aws-lc provider (which parses the private key on every call).
//!
//! Run: `cargo bench -p portcullis-tokens --bench sign`. The figures to compare are the ratios
//! within one run: `mint / raw_aws_lc` should be ≥ 0.95.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use chrono::{Duration, Utc};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use portcullis_domain::ports::SigningKeyRecord;
use portcullis_tokens::keyfile::KeyFile;
use portcullis_tokens::{AccessTokenMinter, KeyRing, LoadedKey, MintInput};

#[allow(clippy::disallowed_methods)] // a benchmark has no Clock to ask
fn bench(c: &mut Criterion) {
    portcullis_tokens::provider::install();
    let file = KeyFile::generate().expect("keygen");
    let now = Utc::now();
    let record = SigningKeyRecord { kid: file.kid.clone(), created_at: now, active_from: now };
    let key = Arc::new(LoadedKey::new(record, &file).expect("key"));
    let ring = KeyRing::build(vec![key.clone()], now, Duration::minutes(15));
    let minter = AccessTokenMinter {
        issuer: "http://127.0.0.1:8080".into(),
        audience: "api".into(),
        ttl: Duration::minutes(15),
    };
    let input = MintInput {
        sub: "018f9a7e-5b7c-7cc2-9d7e-3f1c2b3a4d5e",
        client_id: "pc_abcdefghijklmnopqrstuv",
        scope: "read write",
        sid: Some("AAAAAAAAAAAAAAAAAAAAAA"),
        dfp: Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"),
        id_token: None,
    };
    // The signing input of a real token, for the raw rate.
    let sample = minter.mint(&ring, input, now).expect("mint").token;
    let signing_input = sample.rsplit_once('.').expect("jws").0.as_bytes().to_vec();
    let raw = RsaKeyPair::from_der(&file.der).expect("der");
    let rng = SystemRandom::new();

    let mut g = c.benchmark_group("rs256_sign_per_core");
    g.bench_function("raw_aws_lc", |b| {
        let mut sig = vec![0u8; raw.public_modulus_len()];
        b.iter(|| raw.sign(&RSA_PKCS1_SHA256, &rng, black_box(&signing_input), &mut sig).expect("sign"))
    });
    g.bench_function("portcullis_mint", |b| b.iter(|| minter.mint(&ring, black_box(input), now).expect("mint")));
    g.bench_function("jsonwebtoken_stock_provider", |b| {
        let factory = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.signer_factory;
        b.iter(|| {
            let signer = factory(&Algorithm::RS256, &key.encoding).expect("signer");
            signer.try_sign(black_box(&signing_input)).expect("sign")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
