//! `/admin/clients` and `/admin/audit` (contract §4).

use std::time::Duration;

use portcullis_e2e::TestClient;
use serde_json::{Value, json};

use crate::refresh::{FIREFOX, fixture};

#[tokio::test]
async fn admins_register_list_and_delete_clients() {
    let f = fixture(Duration::from_secs(10)).await;
    let admin = f.s.admin_token().await;
    let url = f.s.url("/admin/clients");
    let res =
        f.s.http
            .post(&url)
            .bearer_auth(&admin)
            .json(&json!({"name": "svc", "grants": ["client_credentials"], "scope": "read"}))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 201);
    let made: Value = res.json().await.expect("json");
    let c = TestClient {
        id: made["client_id"].as_str().expect("id").to_owned(),
        secret: Some(made["client_secret"].as_str().expect("secret shown once").to_owned()),
    };
    assert_eq!(made["client"]["grants"], json!(["client_credentials"]));
    f.s.client_token(&c, Some("read")).await;

    let res =
        f.s.http
            .post(&url)
            .bearer_auth(&admin)
            .json(&json!({"name": "x", "grants": ["implicit"]}))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "invalid_request");

    let list: Value = f.s.http.get(&url).bearer_auth(&admin).send().await.expect("send").json().await.expect("json");
    let ids: Vec<&str> =
        list["clients"].as_array().expect("a").iter().map(|c| c["client_id"].as_str().expect("id")).collect();
    assert!(ids.contains(&c.id.as_str()));
    assert!(list["clients"][0].get("client_secret").is_none());

    let res = f.s.http.delete(format!("{url}/{}", c.id)).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 204);
    let res = f.s.token_request(&[("grant_type", "client_credentials")], Some(&c)).await;
    assert_eq!(res.status(), 401, "a deleted client cannot authenticate");
    let res = f.s.http.delete(format!("{url}/{}", c.id)).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 404);
    assert_eq!(f.audits("client_deleted").await, 1);
}

#[tokio::test]
async fn the_audit_trail_is_filtered_and_paged() {
    let f = fixture(Duration::from_secs(10)).await;
    let admin = f.s.admin_token().await;
    let body = f.login("laptop", FIREFOX).await;
    for _ in 0..3 {
        let res = f
            .s
            .token_request(&[("grant_type", "password"), ("username", "ivy"), ("password", "wrong guess")], Some(&f.c))
            .await;
        assert_eq!(res.status(), 400);
    }
    let me = f.s.me(body["access_token"].as_str().expect("at")).await;
    let uid = me["user_id"].as_str().expect("uid");
    let get = |q: String| {
        let (f, admin) = (&f, admin.clone());
        async move { f.s.http.get(f.s.url(&format!("/admin/audit?{q}"))).bearer_auth(admin).send().await.expect("send") }
    };
    let failed: Value = get(format!("user_id={uid}&kind=login_failed&limit=2")).await.json().await.expect("json");
    let events = failed["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().all(|e| e["kind"] == "login_failed" && e["user_id"] == uid && e["detail"] == "wrong_password")
    );
    assert!(events[0]["id"].as_i64() > events[1]["id"].as_i64(), "newest first");
    assert_eq!(events[0]["user_agent"], Value::Null, "no User-Agent was sent");
    let cursor = failed["next_cursor"].as_str().expect("a third event");
    let older: Value =
        get(format!("user_id={uid}&kind=login_failed&cursor={cursor}")).await.json().await.expect("json");
    assert_eq!(older["events"].as_array().expect("e").len(), 1);
    assert!(older["next_cursor"].is_null());
    let ok: Value = get(format!("user_id={uid}&kind=login_succeeded")).await.json().await.expect("json");
    assert_eq!(ok["events"][0]["device_id"], "laptop");
    assert_eq!(get("kind=nonsense".into()).await.status(), 400);
    assert_eq!(get("cursor=abc".into()).await.status(), 400);
    let res =
        f.s.http
            .get(f.s.url("/admin/audit"))
            .bearer_auth(body["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 403);
}
