//! The client address behind a reverse proxy (contract §5, `http.trusted_proxies`): read from
//! the forwarding header only when the TCP peer is a trusted proxy, and then for the login
//! limits, the audit trail and `last_ip` alike; from anyone else the header is ignored.

use portcullis_domain::grant::GrantType::Password;
use portcullis_e2e::{TestClient, TestServer};
use portcullis_server::config::{ForwardedHeader, ProxyNet};
use serde_json::Value;

/// A server configured by `configure`, a password client and the user pat.
async fn server(configure: impl FnOnce(&mut portcullis_server::config::Config)) -> (TestServer, TestClient) {
    let s = TestServer::start_with(configure).await;
    let client = s.client(&[Password], "").await;
    s.user("pat", "pat's long password").await;
    (s, client)
}

fn loopback() -> Vec<ProxyNet> {
    vec![ProxyNet::try_from("127.0.0.1".to_string()).expect("net")]
}

async fn login(s: &TestServer, c: &TestClient, password: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let form = [("grant_type", "password"), ("username", "pat"), ("password", password), ("device_id", "dev_pat")];
    let res = s.post_form(portcullis_server::http::paths::TOKEN, &form, Some(c), headers).await;
    (res.status().as_u16(), res.json().await.expect("json"))
}

async fn last_ip(s: &TestServer, access_token: &str) -> Value {
    let res = s.http.get(s.url("/me/devices")).bearer_auth(access_token).send().await.expect("send");
    let list: Value = res.json().await.expect("json");
    list["devices"][0]["last_ip"].clone()
}

async fn audit_rows_from(s: &TestServer, ip: &str) -> i64 {
    portcullis_e2e::db::scalar(s.store.connection(), "SELECT COUNT(*) FROM audit_events WHERE ip = $1", vec![ip.into()])
        .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_the_address() {
    let (s, client) = server(|c| {
        c.http.trusted_proxies = loopback();
        c.login.max_attempts_per_ip = 3;
    })
    .await;

    // The client forged the first entry; the proxy appended the address it saw.
    let forged_chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.7")];
    let (status, t) = login(&s, &client, "pat's long password", &forged_chain).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(last_ip(&s, t["access_token"].as_str().expect("at")).await, "198.51.100.7");
    assert!(audit_rows_from(&s, "198.51.100.7").await >= 1, "the login's audit row has the client's address");
    assert_eq!(audit_rows_from(&s, "6.6.6.6").await, 0);

    // The per-address limit counts the client behind the proxy, not the proxy.
    let noisy = [("x-forwarded-for", "203.0.113.1")];
    for _ in 0..3 {
        assert_eq!(login(&s, &client, "wrong password!", &noisy).await.0, 400);
    }
    let (status, body) = login(&s, &client, "pat's long password", &noisy).await;
    assert_eq!((status, body["error"].as_str()), (429, Some("temporarily_unavailable")), "{body}");
    let (status, body) = login(&s, &client, "pat's long password", &[("x-forwarded-for", "203.0.113.2")]).await;
    assert_eq!(status, 200, "another client behind the same proxy is not throttled: {body}");
    s.stop().await;
}

#[tokio::test]
async fn from_an_untrusted_peer_the_forwarding_headers_are_ignored() {
    // Trusts a proxy that is not the peer.
    let (s, client) = server(|c| {
        c.http.trusted_proxies = vec![ProxyNet::try_from("10.0.0.0/8".to_string()).expect("net")];
        // The first login below counts too: it and three guesses fill the address's allowance.
        c.login.max_attempts_per_ip = 4;
    })
    .await;
    let spoof = [("x-forwarded-for", "198.51.100.7"), ("forwarded", "for=198.51.100.8")];
    let (status, t) = login(&s, &client, "pat's long password", &spoof).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(last_ip(&s, t["access_token"].as_str().expect("at")).await, "127.0.0.1");
    assert_eq!(audit_rows_from(&s, "198.51.100.7").await, 0);

    // A new forged address per guess does not escape the per-address limit.
    for n in 0..3 {
        let forged = format!("203.0.113.{n}");
        assert_eq!(login(&s, &client, "wrong password!", &[("x-forwarded-for", &forged)]).await.0, 400);
    }
    let (status, body) = login(&s, &client, "pat's long password", &[("x-forwarded-for", "203.0.113.99")]).await;
    assert_eq!(status, 429, "{body}");
    s.stop().await;
}

#[tokio::test]
async fn rfc_7239_forwarded_is_read_when_configured() {
    let (s, client) = server(|c| {
        c.http.trusted_proxies = loopback();
        c.http.forwarded_header = ForwardedHeader::Forwarded;
    })
    .await;
    let headers = [("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#), ("x-forwarded-for", "198.51.100.7")];
    let (status, t) = login(&s, &client, "pat's long password", &headers).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(last_ip(&s, t["access_token"].as_str().expect("at")).await, "2001:db8:cafe::17");
    s.stop().await;
}
