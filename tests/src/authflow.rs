//! A form-posting browser for the authorization pages (cookie jar, no redirects followed) and
//! PKCE helpers, for tests that walk the authorization-code flow without a real browser.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const CHROME_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The value of the hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("the page has a CSRF field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().expect("closing quote").to_owned()
}

/// A browser that keeps cookies and reports redirects instead of following them.
pub struct FormBrowser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

impl Default for FormBrowser {
    fn default() -> Self {
        Self::new()
    }
}

impl FormBrowser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(CHROME_UA)
            .build()
            .expect("http client");
        Self { http, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().expect("ascii cookie");
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
    }

    /// GET `url`: (status, Location, body).
    pub async fn get(&mut self, url: &str) -> (u16, Option<String>, String) {
        let res = self.http.get(url).header("cookie", self.cookie_header()).send().await.expect("GET");
        self.finish(res).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let res = self.http.post(url).header("cookie", self.cookie_header()).form(form).send().await.expect("POST");
        self.finish(res).await
    }

    /// POST a multipart form: `csrf`, then `field` as a file named `file_name` of `content_type`.
    pub async fn post_file(
        &mut self,
        url: &str,
        csrf: &str,
        field: &str,
        (file_name, content_type, bytes): (&str, &str, Vec<u8>),
    ) -> (u16, Option<String>, String) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(content_type)
            .expect("mime");
        let form = reqwest::multipart::Form::new().text("csrf", csrf.to_owned()).part(field.to_owned(), part);
        let res =
            self.http.post(url).header("cookie", self.cookie_header()).multipart(form).send().await.expect("POST");
        self.finish(res).await
    }

    async fn finish(&mut self, res: reqwest::Response) -> (u16, Option<String>, String) {
        self.keep(&res);
        let status = res.status().as_u16();
        let location = res.headers().get("location").map(|l| l.to_str().expect("ascii").to_owned());
        (status, location, res.text().await.expect("body"))
    }

    /// Walks an authorization URL to its redirect back to the client: logs in if the login
    /// page appears and allows on the consent page, each form posted to the page's own URL as a
    /// browser would. Returns the final Location.
    pub async fn authorize(&mut self, base: &str, url: &str, username: &str, password: &str) -> String {
        let (mut status, mut location, mut body) = self.get(url).await;
        let mut page = url.to_owned();
        for _ in 0..4 {
            if status == 303 {
                let loc = location.clone().expect("Location");
                if loc.starts_with("/oauth2/authorize") {
                    page = format!("{base}{loc}");
                    (status, location, body) = self.get(&page).await;
                    continue;
                }
                return loc;
            }
            assert_eq!(status, 200, "{body}");
            let csrf = csrf_of(&body);
            (status, location, body) = if body.contains(r#"name="password""#) {
                self.post(
                    &page,
                    &[("csrf", &csrf), ("action", "login"), ("username", username), ("password", password)],
                )
                .await
            } else {
                assert!(body.contains("Allow"), "a consent page: {body}");
                self.post(&page, &[("csrf", &csrf), ("action", "allow")]).await
            };
        }
        panic!("the flow did not end in a redirect: {status} {body}");
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}
