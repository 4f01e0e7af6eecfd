//! `KeyRing`: the signing keys at one moment — which one signs, which ones verify, and the
//! pre-serialized JWKS.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey};
use portcullis_domain::ports::SigningKeyRecord;
use portcullis_proto::{Jwk, JwkSet};

use crate::keyfile::KeyFile;

/// Extra time a retired key stays published after the last token it signed has expired.
/// Protects resource servers whose clocks run behind ours.
pub const RETIREMENT_LEEWAY: Duration = Duration::seconds(60);

/// One usable key: its record, its parsed private and public halves, its JWK.
pub struct LoadedKey {
    pub record: SigningKeyRecord,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub jwk: Jwk,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey").field("record", &self.record).finish_non_exhaustive()
    }
}

impl LoadedKey {
    pub fn new(record: SigningKeyRecord, file: &KeyFile) -> Result<Self, jsonwebtoken::errors::Error> {
        // Parse once now, so the signer cache is warm and a bad key fails at load, not at sign.
        crate::provider::key_pair(&file.der)
            .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidRsaKey("unparseable key".into()))?;
        Ok(Self {
            record,
            encoding: EncodingKey::from_rsa_der(&file.der),
            decoding: DecodingKey::from_rsa_components(&file.jwk.n, &file.jwk.e)?,
            jwk: file.jwk.clone(),
        })
    }
}

/// The keys as of `built_at`.
#[derive(Debug)]
pub struct KeyRing {
    /// Published keys, oldest `active_from` first.
    published: Vec<Arc<LoadedKey>>,
    jwks: Arc<[u8]>,
    built_at: DateTime<Utc>,
}

impl KeyRing {
    /// Keeps the keys whose tokens may be live at `now` (and keys already published for the
    /// future), given the access-token lifetime.
    pub fn build(mut keys: Vec<Arc<LoadedKey>>, now: DateTime<Utc>, access_ttl: Duration) -> Self {
        keys.sort_by(|a, b| a.record.active_from.cmp(&b.record.active_from).then(a.record.kid.cmp(&b.record.kid)));
        let successors: Vec<Option<DateTime<Utc>>> =
            (0..keys.len()).map(|i| keys.get(i + 1).map(|k| k.record.active_from)).collect();
        let published: Vec<Arc<LoadedKey>> = keys
            .into_iter()
            .zip(successors)
            .filter(|(k, successor)| {
                let created = k.record.created_at <= now;
                let live = match successor {
                    // Retired when its successor took over; gone once its last token expired.
                    Some(retired_at) => now < *retired_at + access_ttl + RETIREMENT_LEEWAY,
                    None => true,
                };
                created && live
            })
            .map(|(k, _)| k)
            .collect();
        let set = JwkSet { keys: published.iter().map(|k| k.jwk.clone()).collect() };
        let jwks: Arc<[u8]> = serde_json::to_vec(&set).expect("a JWK set always serializes").into();
        Self { published, jwks, built_at: now }
    }

    /// The key that signs at `now`: the published key most recently activated.
    pub fn signing_key(&self, now: DateTime<Utc>) -> Option<&LoadedKey> {
        self.published.iter().rev().find(|k| k.record.active_from <= now).map(|k| k.as_ref())
    }

    /// A published key by `kid`.
    pub fn find(&self, kid: &str) -> Option<&LoadedKey> {
        self.published.iter().find(|k| k.record.kid == kid).map(|k| k.as_ref())
    }

    /// The JWK Set document, serialized once.
    pub fn jwks_json(&self) -> Arc<[u8]> {
        self.jwks.clone()
    }

    pub fn published(&self) -> impl Iterator<Item = &LoadedKey> {
        self.published.iter().map(|k| k.as_ref())
    }

    pub fn built_at(&self) -> DateTime<Utc> {
        self.built_at
    }
}

/// The current `KeyRing`, swapped atomically when keys are reloaded; readers never block.
#[derive(Debug)]
pub struct SharedKeyRing(arc_swap::ArcSwap<KeyRing>);

impl SharedKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self(arc_swap::ArcSwap::from_pointee(ring))
    }

    pub fn current(&self) -> Arc<KeyRing> {
        self.0.load_full()
    }

    pub fn replace(&self, ring: KeyRing) {
        self.0.store(Arc::new(ring));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyfile::KeyFile;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    fn key(file: &KeyFile, created: i64, active: i64) -> Arc<LoadedKey> {
        let record = SigningKeyRecord { kid: file.kid.clone(), created_at: at(created), active_from: at(active) };
        Arc::new(LoadedKey::new(record, file).expect("key"))
    }

    fn kids(ring: &KeyRing) -> Vec<String> {
        ring.published().map(|k| k.record.kid.clone()).collect()
    }

    #[test]
    fn a_rotation_publishes_first_signs_later_and_retires_after_the_last_token() {
        crate::provider::install();
        let (a, b) = (KeyFile::generate().expect("a"), KeyFile::generate().expect("b"));
        let ttl = Duration::minutes(15);
        // `b` rotated in at t=1000, signing from t=1600.
        let keys = || vec![key(&a, 0, 0), key(&b, 1000, 1600)];

        let before = KeyRing::build(keys(), at(999), ttl);
        assert_eq!(kids(&before), vec![a.kid.clone()], "not published before it is created");

        let pending = KeyRing::build(keys(), at(1000), ttl);
        assert_eq!(kids(&pending), vec![a.kid.clone(), b.kid.clone()], "published at once");
        assert_eq!(pending.signing_key(at(1599)).expect("key").record.kid, a.kid, "old key signs until activation");
        assert_eq!(pending.signing_key(at(1600)).expect("key").record.kid, b.kid);

        // `a` signed its last token at 1600; it lives 15 min; plus the leeway.
        let retiring = KeyRing::build(keys(), at(1600 + 900 + 59), ttl);
        assert!(retiring.find(&a.kid).is_some(), "still published while its tokens may live");
        let gone = KeyRing::build(keys(), at(1600 + 900 + 60), ttl);
        assert_eq!(kids(&gone), vec![b.kid.clone()]);
        let jwks: JwkSet = serde_json::from_slice(&gone.jwks_json()).expect("json");
        assert_eq!(jwks.keys.len(), 1);
    }
}
