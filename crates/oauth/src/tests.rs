//! The grants and session control against in-memory ports (`portcullis-testkit`) and a manual
//! clock: no database, no HTTP, no waiting for time to pass. The end-to-end suite runs the same
//! rules over HTTP on the real stores.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use oxide_auth::frontends::simple::request::Request;
use portcullis_domain::audit::AuditKind;
use portcullis_domain::clock::Clock;
use portcullis_domain::grant::GrantType::{self, ClientCredentials, Password, RefreshToken};
use portcullis_domain::ids::{SessionId, UserId};
use portcullis_domain::password::{PasswordCost, PasswordHasher};
use portcullis_domain::policy::TokenPolicy;
use portcullis_domain::ports::{ClientRepo, SigningKeyRecord, UserRepo};
use portcullis_domain::revocation::Reason;
use portcullis_domain::secret::{Secret, SecretHasher};
use portcullis_domain::throttle::ThrottlePolicy;
use portcullis_proto::{ErrorCode, TokenResponse};
use portcullis_revocation::{LocalRevocations, Revocations};
use portcullis_testkit::{ManualClock, Memory, build};
use portcullis_tokens::keyfile::KeyFile;
use portcullis_tokens::{AccessTokenMinter, KeyRing, LoadedKey, SharedKeyRing};

use crate::service::{Accounts, BrowserStores, Issuance};
use crate::{OAuthError, PasswordVerifier, RequestContext, TokenService, TokenServiceDeps};

const ISSUER: &str = "http://portcullis.test";
const PASSWORD: &str = "a long test password";
const SECRET: &str = "pcs_the-client-secret";

fn key() -> &'static KeyFile {
    static KEY: OnceLock<KeyFile> = OnceLock::new();
    KEY.get_or_init(|| KeyFile::generate().expect("RSA key"))
}

struct Kit {
    svc: TokenService,
    mem: Memory,
    clock: Arc<ManualClock>,
    hasher: SecretHasher,
    passwords: PasswordVerifier,
}

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).expect("time")
}

async fn kit(grace: Duration) -> Kit {
    let clock = Arc::new(ManualClock::new(start_time()));
    let mem = Memory::new(clock.clone());
    let hasher = SecretHasher::new(&[9u8; 32]);
    let cheap = PasswordHasher::new(PasswordCost { memory_kib: 256, iterations: 1, parallelism: 1 }).expect("cost");
    let passwords = PasswordVerifier::new(cheap, 2);
    let policy = TokenPolicy { reuse_grace: grace, ..TokenPolicy::default() };
    let record = SigningKeyRecord { kid: key().kid.clone(), created_at: start_time(), active_from: start_time() };
    let loaded = Arc::new(LoadedKey::new(record, key()).expect("key"));
    let keys = Arc::new(SharedKeyRing::new(KeyRing::build(vec![loaded], start_time(), policy.access_ttl)));
    let revocations = Arc::new(Revocations::new(
        Arc::new(mem.clone()),
        Arc::new(LocalRevocations::default()),
        None,
        clock.clone(),
        ISSUER.to_owned(),
        policy.access_ttl,
    ));
    revocations.start().await.expect("revocations start");
    let svc = TokenService::new(TokenServiceDeps {
        clients: Arc::new(mem.clone()),
        hasher: hasher.clone(),
        accounts: Accounts {
            users: Arc::new(mem.clone()),
            passwords: passwords.clone(),
            attempts: Arc::new(mem.clone()),
            throttle: ThrottlePolicy { per_user: 3, per_ip: 100, window: Duration::minutes(15) },
        },
        issuance: Issuance {
            sessions: Arc::new(mem.clone()),
            keys,
            minter: AccessTokenMinter { issuer: ISSUER.into(), audience: "api".into(), ttl: policy.access_ttl },
            signer: crate::signing::Signer::per_core(),
            policy,
        },
        browser: BrowserStores {
            codes: Arc::new(mem.clone()),
            consents: Arc::new(mem.clone()),
            logins: Arc::new(mem.clone()),
        },
        otp: crate::service::OneTimeCodes {
            codes: Arc::new(mem.clone()),
            attempts: Arc::new(mem.clone()),
            sender: Arc::new(portcullis_testkit::Recorder::default()),
            policy: portcullis_domain::otp::OtpPolicy::default(),
            timing: crate::service::SendTiming::new(std::time::Duration::ZERO),
        },
        revocations,
        audit: Arc::new(mem.clone()),
        clock: clock.clone(),
    });
    Kit { svc, mem, clock, hasher, passwords }
}

impl Kit {
    async fn client(&self, grants: &[GrantType], scope: &str) -> String {
        let c = build::client(grants, scope, Some(self.hasher.hash(SECRET)), self.clock.now());
        ClientRepo::insert(&self.mem, &c).await.expect("client");
        c.id.to_string()
    }

    async fn user(&self, name: &str) -> UserId {
        let hash = self.passwords.hash(Secret::new(PASSWORD)).await.expect("hash");
        let u = build::user(name, &hash, self.clock.now());
        UserRepo::insert(&self.mem, &u).await.expect("user");
        u.id
    }

    async fn token(&self, client: &str, form: &[(&str, &str)]) -> Result<TokenResponse, OAuthError> {
        let mut req = Request::default();
        for (k, v) in form {
            req.urlbody.insert((*k).to_owned(), (*v).to_owned());
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"));
        req.auth = Some(format!("Basic {basic}"));
        let ctx = RequestContext { ip: Some("192.0.2.1".into()), user_agent: None, device_id_header: None };
        self.svc.token(&mut req, &ctx).await
    }

    async fn login(&self, client: &str, user: &str, device: &str) -> TokenResponse {
        let form = [("grant_type", "password"), ("username", user), ("password", PASSWORD), ("device_id", device)];
        self.token(client, &form).await.expect("login")
    }

    async fn refresh(&self, client: &str, t: &TokenResponse) -> Result<TokenResponse, OAuthError> {
        let rt = t.refresh_token.as_deref().expect("a refresh token");
        let device = t.device_id.as_deref().expect("a device");
        self.token(client, &[("grant_type", "refresh_token"), ("refresh_token", rt), ("device_id", device)]).await
    }

    async fn live(&self, t: &TokenResponse) -> bool {
        self.svc.live_claims(&t.access_token).await.is_ok()
    }
}

fn sid(t: &TokenResponse) -> SessionId {
    let claims = t.access_token.split('.').nth(1).expect("claims");
    let json: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
    SessionId::parse(json["sid"].as_str().expect("sid")).expect("sid")
}

fn iat(t: &TokenResponse) -> i64 {
    let claims = t.access_token.split('.').nth(1).expect("claims");
    let json: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
    json["iat"].as_i64().expect("iat")
}

#[tokio::test]
async fn client_credentials_issue_no_refresh_token_and_refuse_a_wrong_secret() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[ClientCredentials], "read").await;
    let t = k.token(&c, &[("grant_type", "client_credentials"), ("scope", "read")]).await.expect("token");
    assert!(t.refresh_token.is_none() && t.device_id.is_none());
    assert_eq!(t.scope, "read");
    assert!(k.live(&t).await);
    let refused = k.token(&c, &[("grant_type", "client_credentials"), ("scope", "write")]).await;
    assert_eq!(refused.map(|_| ()).map_err(|e| e.code()), Err(ErrorCode::InvalidScope));
    let mut req = Request::default();
    req.urlbody.insert("grant_type".into(), "client_credentials".into());
    req.urlbody.insert("client_id".into(), c.clone());
    req.urlbody.insert("client_secret".into(), "pcs_wrong".into());
    let e = k.svc.token(&mut req, &RequestContext::default()).await.expect_err("wrong secret");
    assert_eq!((e.code(), e.status()), (ErrorCode::InvalidClient, 401));
}

#[tokio::test]
async fn the_password_grant_counts_before_it_checks_and_audits_every_refusal() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[Password, RefreshToken], "read").await;
    k.user("ivy").await;
    let wrong = [("grant_type", "password"), ("username", "ivy"), ("password", "not the password")];
    for _ in 0..3 {
        assert_eq!(k.token(&c, &wrong).await.map(|_| ()).map_err(|e| e.code()), Err(ErrorCode::InvalidGrant));
    }
    let e = k.token(&c, &wrong).await.expect_err("throttled");
    assert_eq!(e.status(), 429);
    assert_eq!(k.mem.audits(AuditKind::LoginFailed), 4, "three wrong passwords and one throttled attempt");
    for _ in 0..5 {
        assert_eq!(k.token(&c, &wrong).await.expect_err("throttled").status(), 429);
    }
    assert_eq!(k.mem.audits(AuditKind::LoginFailed), 4, "one audit row per key and window, not per refusal");
    // The window passes on the manual clock, not by waiting.
    k.clock.advance(Duration::minutes(16));
    let t = k.login(&c, "ivy", "laptop").await;
    assert_eq!(t.device_id.as_deref(), Some("laptop"));
    assert!(t.refresh_token.is_some());
}

#[tokio::test]
async fn refreshes_rotate_slide_and_end_at_the_absolute_cap_by_the_clock() {
    let k = kit(Duration::zero()).await;
    let c = k.client(&[Password, RefreshToken], "read").await;
    k.user("ivy").await;
    let mut t = k.login(&c, "ivy", "laptop").await;
    // Thirteen days at a time: each refresh slides the 14-day idle expiry.
    for _ in 0..6 {
        k.clock.advance(Duration::days(13));
        t = k.refresh(&c, &t).await.expect("a refresh before the idle expiry");
    }
    assert_eq!(k.mem.live_tokens(&sid(&t)), 1);
    // 78 days in: the next 13 days pass the 90-day cap, however fresh the token.
    k.clock.advance(Duration::days(13));
    let e = k.refresh(&c, &t).await.expect_err("past the cap");
    assert_eq!(e.code(), ErrorCode::InvalidGrant);
    assert!(e.description().contains("ended"), "{}", e.description());
}

#[tokio::test]
async fn reuse_ends_the_family_and_a_superseded_successor_is_reuse_too() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[Password, RefreshToken], "read").await;
    k.user("ivy").await;
    let first = k.login(&c, "ivy", "laptop").await;
    let owners = k.refresh(&c, &first).await.expect("rotate");
    let thiefs = k.refresh(&c, &first).await.expect("a replay inside the window looks like a retry");
    let e = k.refresh(&c, &owners).await.expect_err("the superseded successor");
    assert!(e.description().contains("revoked"), "{}", e.description());
    assert_eq!(k.mem.audits(AuditKind::RefreshReuseDetected), 1);
    assert!(k.refresh(&c, &thiefs).await.is_err(), "the thief's successor died with the family");
    for t in [&first, &owners, &thiefs] {
        assert!(!k.live(t).await);
    }
    // After the window, a replay of a used token is reuse at once.
    let second = k.login(&c, "ivy", "phone").await;
    let next = k.refresh(&c, &second).await.expect("rotate");
    k.clock.advance(Duration::seconds(11));
    assert!(k.refresh(&c, &second).await.is_err());
    assert!(!k.live(&next).await);
    assert_eq!(k.mem.audits(AuditKind::RefreshReuseDetected), 2);
}

#[tokio::test]
async fn a_ban_ends_every_session_and_the_next_login_in_its_second_waits_for_the_next() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[Password, RefreshToken], "read").await;
    let ivy = k.user("ivy").await;
    let sessions: Vec<_> = logins(&k, &c, 30).await;
    k.clock.advance(Duration::milliseconds(200));
    k.svc.control().ban(&ivy, "fraud", "admin").await.expect("ban");
    assert!(k.mem.live_sessions(&ivy).is_empty(), "every session ended");
    for t in &sessions {
        assert!(!k.live(t).await);
        assert!(k.refresh(&c, t).await.is_err());
    }
    let e = k.token(&c, &[("grant_type", "password"), ("username", "ivy"), ("password", PASSWORD)]).await;
    assert!(e.expect_err("banned").description().contains("banned"));
    k.svc.control().unban(&ivy, "admin").await.expect("unban");
    k.clock.advance(Duration::milliseconds(1));
    // Same second as the ban: the new token is minted from the next whole second, so the
    // whole-second rule cannot take it for one from before the ban.
    let after = k.login(&c, "ivy", "laptop").await;
    assert_eq!(iat(&after), start_time().timestamp() + 1);
    assert!(k.live(&after).await);
    assert!(k.mem.revocations().iter().any(|r| r.reason == Reason::Banned));
}

/// Thirty sessions of ivy, one login each.
async fn logins(k: &Kit, c: &str, n: usize) -> Vec<TokenResponse> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(k.login(c, "ivy", &format!("device-{i}")).await);
    }
    out
}

#[tokio::test]
async fn a_password_change_is_throttled_keeps_the_callers_session_and_ends_the_others() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[Password, RefreshToken], "read").await;
    let ivy = k.user("ivy").await;
    let mine = k.login(&c, "ivy", "laptop").await;
    let other = k.login(&c, "ivy", "phone").await;
    let ctx = RequestContext::default();
    let control = k.svc.control();
    let keep = sid(&mine);
    for n in 0..3 {
        let wrong = Secret::new(format!("wrong {n}"));
        let e = control.change_password(&ivy, wrong, Secret::new("new long password"), Some(&keep), &c, &ctx).await;
        assert!(matches!(e, Err(crate::ControlError::Forbidden(_))), "{e:?}");
    }
    let e = control.change_password(&ivy, Secret::new(PASSWORD), Secret::new("x"), Some(&keep), &c, &ctx).await;
    assert!(matches!(e, Err(crate::ControlError::Throttled { .. })), "past the per-user limit: {e:?}");
    k.clock.advance(Duration::minutes(16));
    control
        .change_password(&ivy, Secret::new(PASSWORD), Secret::new("a new long password"), Some(&keep), &c, &ctx)
        .await
        .expect("changed");
    // Sixteen minutes on, the access tokens have expired by themselves; the sessions are judged
    // by their refresh tokens.
    assert!(!k.live(&mine).await && !k.live(&other).await, "access tokens expire");
    let err = k.refresh(&c, &other).await.expect_err("the other session ended");
    assert_eq!(err.code(), ErrorCode::InvalidGrant);
    let next = k.refresh(&c, &mine).await.expect("the caller's session lives on");
    assert!(k.live(&next).await);
    assert_eq!(sid(&next), keep);
    let stored = UserRepo::find(&k.mem, &ivy).await.expect("find").expect("ivy").password_hash;
    let old = k.passwords.verify(Secret::new(PASSWORD), Some(stored.clone())).await.expect("verify");
    let new = k.passwords.verify(Secret::new("a new long password"), Some(stored)).await.expect("verify");
    assert!(!old && new, "the new password replaced the old");
}

#[tokio::test]
async fn deleting_a_client_revokes_every_token_it_was_issued() {
    let k = kit(Duration::seconds(10)).await;
    let c = k.client(&[Password, RefreshToken, ClientCredentials], "read").await;
    k.user("ivy").await;
    let user_token = k.login(&c, "ivy", "laptop").await;
    let client_token = k.token(&c, &[("grant_type", "client_credentials")]).await.expect("token");
    let id = portcullis_domain::ids::ClientId::parse(&c).expect("id");
    k.svc.control().delete_client(&id, "admin").await.expect("deleted");
    assert!(!k.live(&user_token).await && !k.live(&client_token).await);
    let e = k.refresh(&c, &user_token).await.expect_err("gone");
    assert_eq!(e.code(), ErrorCode::InvalidClient);
}

#[tokio::test]
async fn a_full_signer_queue_refuses_at_once_but_a_promised_token_waits() {
    use crate::signing::{SignError, Signer, WhenFull};
    let kit = kit(Duration::seconds(10)).await;
    let issuance = &kit.svc.deps.issuance;
    let signer = std::sync::Arc::new(Signer::new(1, 2));
    let input =
        portcullis_tokens::MintInput { sub: "u", client_id: "c", scope: "read", sid: None, dfp: None, id_token: None };
    let held = signer.occupy();
    let mint = |waiting: bool| {
        let (signer, minter, ring) = (signer.clone(), issuance.minter.clone(), issuance.keys.current());
        tokio::spawn(async move {
            let when_full = if waiting { WhenFull::Wait } else { WhenFull::Refuse };
            signer.mint(&minter, ring, input, start_time(), when_full).await
        })
    };
    let (a, b) = (mint(false), mint(false));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Two wait for the one signer: a third is refused at once, nothing signed for it.
    let third = mint(false).await.expect("task");
    assert!(matches!(third, Err(SignError::Busy)), "{third:?}");
    // A promised token (a refresh after its rotation) waits however full the queue is.
    let promised = mint(true);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!promised.is_finished() && !a.is_finished() && !b.is_finished(), "all wait for the signer");
    drop(held);
    for task in [a, b, promised] {
        let minted = task.await.expect("task").expect("signed once a signer is free");
        assert_eq!(minted.claims.sub, "u");
    }
}
