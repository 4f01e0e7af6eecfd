//! Device lists and kicks: `/me/devices` and `/admin/users/{id}/devices` (contract §4).

use std::time::Duration;

use portcullis_domain::grant::GrantType::ClientCredentials;
use serde_json::Value;

use crate::refresh::{CHROME_120, FIREFOX, fixture, sid_of};

#[tokio::test]
async fn users_see_and_sign_out_their_devices() {
    let f = fixture(Duration::from_secs(10)).await;
    let laptop = f.login("laptop", CHROME_120).await;
    let phone = f.login("phone", FIREFOX).await;
    let at = laptop["access_token"].as_str().expect("at");
    let res = f.s.http.get(f.s.url("/me/devices")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.expect("json");
    let devices = list["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 2);
    let laptop_view = devices.iter().find(|d| d["device_id"] == "laptop").expect("laptop");
    assert_eq!((laptop_view["browser"].as_str(), laptop_view["os"].as_str()), (Some("Chrome"), Some("Windows")));
    assert_eq!(laptop_view["active"], true);
    for key in ["device", "first_seen", "last_seen", "last_ip"] {
        assert!(laptop_view.get(key).is_some(), "{key}");
    }
    // Paging: one per page.
    let res = f.s.http.get(f.s.url("/me/devices?limit=1")).bearer_auth(at).send().await.expect("send");
    let first: Value = res.json().await.expect("json");
    assert_eq!(first["devices"].as_array().expect("a").len(), 1);
    let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
    let res =
        f.s.http
            .get(f.s.url(&format!("/me/devices?limit=1&cursor={cursor}")))
            .bearer_auth(at)
            .send()
            .await
            .expect("send");
    let second: Value = res.json().await.expect("json");
    assert_ne!(second["devices"][0]["device_id"], first["devices"][0]["device_id"]);
    assert!(second["next_cursor"].is_null());
    let res = f.s.http.get(f.s.url("/me/devices?limit=0")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 400);

    // Sign the phone out from the laptop.
    let res = f.s.http.delete(f.s.url("/me/devices/phone")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 204);
    assert_eq!(f.live_tokens(&sid_of(&phone)).await, 0);
    assert_eq!(f.s.introspect(&f.rs, phone["access_token"].as_str().expect("at")).await["active"], false);
    assert_eq!(f.live_tokens(&sid_of(&laptop)).await, 1);
    let res = f.s.http.delete(f.s.url("/me/devices/nosuch")).bearer_auth(at).send().await.expect("send");
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn admins_list_and_kick_devices() {
    let f = fixture(Duration::from_secs(10)).await;
    let laptop = f.login("laptop", CHROME_120).await;
    let phone = f.login("phone", FIREFOX).await;
    let me = f.s.me(laptop["access_token"].as_str().expect("at")).await;
    let uid = me["user_id"].as_str().expect("uid").to_owned();
    let admin = f.s.admin_token().await;
    let plain_client = f.s.client(&[ClientCredentials], "read").await;
    let plain = f.s.client_token(&plain_client, None).await["access_token"].as_str().expect("at").to_owned();
    let devices_url = f.s.url(&format!("/admin/users/{uid}/devices"));

    // 401 without a token, 403 without the scope (RFC 6750), 403 for a user's token too.
    let res = f.s.http.get(&devices_url).send().await.expect("send");
    assert_eq!(res.status(), 401);
    let res = f.s.http.get(&devices_url).bearer_auth(&plain).send().await.expect("send");
    assert_eq!(res.status(), 403);
    assert!(res.headers()["www-authenticate"].to_str().expect("ascii").contains("insufficient_scope"));
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "insufficient_scope");
    let res =
        f.s.http
            .get(&devices_url)
            .bearer_auth(laptop["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 403);

    let res = f.s.http.get(&devices_url).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.expect("json");
    assert_eq!(list["devices"].as_array().expect("a").len(), 2);

    // Kick one: its tokens die at once; the other device lives.
    let res = f.s.http.delete(format!("{devices_url}/phone")).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 204);
    assert_eq!(f.s.introspect(&f.rs, phone["access_token"].as_str().expect("at")).await["active"], false);
    let (status, _) = f.refresh(phone["refresh_token"].as_str().expect("rt"), "phone", FIREFOX).await;
    assert_eq!(status, 400);
    assert_eq!(f.live_tokens(&sid_of(&laptop)).await, 1);
    let list: Value =
        f.s.http.get(&devices_url).bearer_auth(&admin).send().await.expect("send").json().await.expect("json");
    let phone_view =
        list["devices"].as_array().expect("a").iter().find(|d| d["device_id"] == "phone").cloned().expect("phone");
    assert_eq!(phone_view["active"], false);

    // Kick all.
    let res = f.s.http.delete(&devices_url).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 204);
    assert_eq!(f.live_tokens(&sid_of(&laptop)).await, 0);
    let res =
        f.s.http
            .get(f.s.url("/me"))
            .bearer_auth(laptop["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("send");
    assert_eq!(res.status(), 401);
    assert!(f.audits("session_revoked").await >= 2);

    // Unknown user or device: 404 with a JSON error.
    let res = f.s.http.get(f.s.url("/admin/users/nobody/devices")).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.expect("json")["error"], "not_found");
    let res = f.s.http.delete(format!("{devices_url}/nosuch")).bearer_auth(&admin).send().await.expect("send");
    assert_eq!(res.status(), 404);
}
