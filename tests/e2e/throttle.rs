//! Brute-force defence: attempts are counted before the password is checked.

use portcullis_domain::grant::GrantType::{Password, RefreshToken};
use portcullis_e2e::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_guesses_check_only_the_allowed_five() {
    let s = TestServer::start_with(|c| c.login.max_attempts_per_user = 5).await;
    let c = s.client(&[Password, RefreshToken], "").await;
    s.user("nia", "nia's real password").await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (http, url, c) = (s.http.clone(), s.url("/oauth2/token"), c.clone());
        tasks.push(tokio::spawn(async move {
            let guess = format!("guess number {i}");
            let res = http
                .post(url)
                .basic_auth(&c.id, c.secret.as_deref())
                .form(&[("grant_type", "password"), ("username", "nia"), ("password", guess.as_str())])
                .send()
                .await
                .expect("answered");
            let retry = res.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
            (res.status().as_u16(), retry)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("join"));
    }
    let checked = answers.iter().filter(|(s, _)| *s == 400).count();
    let throttled: Vec<_> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!(checked, 5, "exactly the allowed attempts reached the password check: {answers:?}");
    assert_eq!(throttled.len(), 45);
    assert!(throttled.iter().all(|(_, r)| r.as_deref().is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n > 0))));
    let db = s.store.connection();
    let sql = "SELECT COUNT(*) FROM audit_events WHERE kind = 'login_failed' AND detail = $1";
    assert_eq!(portcullis_e2e::db::scalar(db, sql, vec!["wrong_password".into()]).await, 5, "five passwords checked");
    // One row for the key and window, however many were refused: a flood does not fill the table.
    assert_eq!(portcullis_e2e::db::scalar(db, sql, vec!["throttled".into()]).await, 1);

    // Locked out for the window, even with the right password; other users are not.
    let res = s
        .token_request(
            &[("grant_type", "password"), ("username", "nia"), ("password", "nia's real password")],
            Some(&c),
        )
        .await;
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    s.user("oli", "oli's real password").await;
    s.login(&c, "oli", "oli's real password", &[]).await;
}

#[tokio::test]
async fn a_successful_login_clears_the_count() {
    let s = TestServer::start_with(|c| c.login.max_attempts_per_user = 3).await;
    let c = s.client(&[Password], "").await;
    s.user("pat", "pat's real password").await;
    for _ in 0..3 {
        for password in ["wrong one", "pat's real password"] {
            let res = s
                .token_request(&[("grant_type", "password"), ("username", "pat"), ("password", password)], Some(&c))
                .await;
            assert_ne!(res.status(), 429, "a success resets the username's count");
        }
    }
}
