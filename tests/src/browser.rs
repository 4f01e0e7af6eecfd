//! A real browser for the end-to-end suite: Debian's Chromium, headless, driven over WebDriver
//! (`chromedriver`) with fantoccini.
//!
//! `PORTCULLIS_TEST_CHROMEDRIVER` names the driver; when it is set, a driver that will not start
//! fails the test. Unset, `/usr/bin/chromedriver` is used if installed (`apt-get install chromium
//! chromium-driver`); if not, browser tests say loudly that they did not run and pass, so that
//! `cargo test --workspace` works on a machine without Chromium. CI installs it and sets the
//! variable, so there they always run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DRIVER_ENV: &str = "PORTCULLIS_TEST_CHROMEDRIVER";
const DEFAULT_DRIVER: &str = "/usr/bin/chromedriver";

/// The driver to use, or `None` (said on stderr) when none is configured or installed.
pub fn driver_path() -> Option<PathBuf> {
    match std::env::var(DRIVER_ENV) {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ if std::path::Path::new(DEFAULT_DRIVER).exists() => Some(PathBuf::from(DEFAULT_DRIVER)),
        _ => {
            eprintln!(
                "NOT RUN: no browser for this test: {DEFAULT_DRIVER} is missing and {DRIVER_ENV} is unset \
                 (apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

/// Headless Chromium, one per test, with its own profile; screenshots go to
/// `target/browser-artifacts/<test>/`.
pub struct Browser {
    pub client: Client,
    driver: Child,
    artifacts: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session, or `None` when there is no browser here.
    pub async fn start(test: &str) -> Option<Self> {
        let path = driver_path()?;
        let mut driver = Command::new(&path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let mut lines = BufReader::new(driver.stdout.take().expect("driver stdout")).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.expect("driver output") {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().expect("a port");
                }
            }
            panic!("{} exited before it listened", path.display());
        })
        .await
        .unwrap_or_else(|_| panic!("{} did not start within 20 s", path.display()));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=900,800", "--no-first-run", "--no-default-browser-check",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("chromedriver did not start a browser: {e}"));

        let artifacts = crate::process::binary()
            .parent()
            .and_then(std::path::Path::parent)
            .expect("target dir")
            .join("browser-artifacts")
            .join(test);
        std::fs::create_dir_all(&artifacts).expect("artifacts dir");
        Some(Self { client, driver, artifacts, _profile: profile })
    }

    /// Saves a PNG of the page as `<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// Debian's Chromium unless `PORTCULLIS_TEST_CHROMIUM` says otherwise.
fn chromium_binary() -> String {
    std::env::var("PORTCULLIS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}
