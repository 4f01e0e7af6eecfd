//! Third-party OpenID Connect relying parties against a test server: node's `openid-client`
//! (npm) and Python's `Authlib` (PyPI), unmodified, each run by a small script in
//! `tests/oidc-rp` — proof that standard client libraries, which validate everything
//! themselves, accept what the server says.
//!
//! Both scripts speak one line protocol: given `OIDC_*` variables they discover the issuer and
//! print `AUTHORIZE <url>`; this harness walks the login and consent pages with a
//! [`FormBrowser`] and writes the callback URL back on their stdin; they exchange the code,
//! validate the id_token, read UserInfo, refresh, and print `RESULT <json>`.
//!
//! The libraries are installed on first use: `npm ci` in `tests/oidc-rp/node` (its
//! `node_modules`, ignored by git), and a venv in the target folder (`oidc-rp-venv`, made anew
//! when `tests/oidc-rp/python/requirements.txt` changes). A missing `node`, `npm` or `python3`
//! fails the test with what to install when `PORTCULLIS_TEST_RELYING_PARTIES` is set (CI sets
//! it); unset, the test says NOT RUN and what to install, as the browser tests do without
//! Chromium, so that the README's test command passes on a machine without them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::authflow::FormBrowser;

/// How long one run may take, from the script's start to its result.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long installing a library may take (it downloads from a registry the first time).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Installs one at a time: two runs must not install into the same folder at once.
static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A relying-party library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rp {
    /// `openid-client` from npm, on node.
    OpenidClient,
    /// `Authlib` from PyPI, with `requests`.
    Authlib,
}

impl fmt::Display for Rp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenidClient => "openid-client (node)",
            Self::Authlib => "Authlib (python)",
        })
    }
}

/// What a relying party is given: its registration at the issuer, and the user who logs in.
#[derive(Clone, Copy, Debug)]
pub struct RpLogin<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    /// Space-separated, e.g. `openid profile email phone`.
    pub scope: &'a str,
    /// Sent as the extra token-request parameter `device_id`, in the code exchange and the refresh.
    pub device_id: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// `tests/oidc-rp`.
fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc-rp")
}

/// The target folder this test binary was built in (`<target>/<profile>/deps/<binary>`), as
/// `$CARGO_TARGET_DIR` or `target`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("the test binary is in <target>/<profile>/deps").to_path_buf()
}

/// Set (CI sets it), the relying-party tests must run: a missing tool fails them. Unset, a
/// machine without node or python says NOT RUN, as the browser tests do without Chromium.
pub const REQUIRE_ENV: &str = "PORTCULLIS_TEST_RELYING_PARTIES";

/// Whether `program --version` runs; when it does not, fails the test if the relying parties
/// are required here, else says on stderr what to install and that the test did not run.
async fn available(program: &str, install: &str) -> bool {
    let found = Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    let why = match found {
        Ok(status) if status.success() => return true,
        Ok(status) => format!("`{program} --version` failed ({status})"),
        Err(e) => format!("`{program}` cannot run ({e})"),
    };
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty()) {
        panic!("{why}: {install} ({REQUIRE_ENV} is set: these tests must run)");
    }
    eprintln!("NOT RUN: {why}: {install} (set {REQUIRE_ENV}=1 to make this a failure)");
    false
}

/// Runs an install step to completion, failing the test with its output if it fails.
async fn install_step(what: &str, cmd: &mut Command) {
    let out = tokio::time::timeout(INSTALL_TIMEOUT, cmd.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {INSTALL_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{what} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The string at `pointer` in a JSON file (a package.json), if the file is there.
fn json_string(path: &Path, pointer: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    json.pointer(pointer)?.as_str().map(str::to_owned)
}

/// `node` and `npm`, and `openid-client` at its pinned version in `tests/oidc-rp/node`.
async fn install_node() -> Option<Vec<String>> {
    const INSTALL: &str = "install Node.js 20 or later and npm (e.g. `apt-get install nodejs npm`)";
    if !available("node", INSTALL).await || !available("npm", INSTALL).await {
        return None;
    }
    let dir = scripts_dir().join("node");
    let pinned = json_string(&dir.join("package.json"), "/dependencies/openid-client");
    let installed = json_string(&dir.join("node_modules/openid-client/package.json"), "/version");
    if pinned.is_none() || installed != pinned {
        install_step(
            "npm ci in tests/oidc-rp/node",
            Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir),
        )
        .await;
    }
    Some(vec!["node".into(), dir.join("rp.mjs").display().to_string()])
}

/// `python3`, and a venv with the pinned `requirements.txt` in the target folder.
async fn install_python() -> Option<Vec<String>> {
    let install = "install Python 3.11 or later with its venv module (e.g. `apt-get install python3 python3-venv`)";
    if !available("python3", install).await {
        return None;
    }
    let dir = scripts_dir().join("python");
    let requirements =
        std::fs::read_to_string(dir.join("requirements.txt")).expect("tests/oidc-rp/python/requirements.txt");
    let venv = target_dir().join("oidc-rp-venv");
    let python = venv.join("bin/python");
    // The venv keeps a copy of the requirements it was made from: other pins, a new venv.
    let stamp = venv.join("requirements.txt");
    let current = std::fs::read_to_string(&stamp).is_ok_and(|made| made == requirements)
        && Command::new(&python).args(["-c", "import authlib, requests"]).status().await.is_ok_and(|s| s.success());
    if !current {
        if venv.exists() {
            std::fs::remove_dir_all(&venv).unwrap_or_else(|e| panic!("cannot remove {}: {e}", venv.display()));
        }
        install_step("python3 -m venv", Command::new("python3").arg("-m").arg("venv").arg(&venv)).await;
        install_step(
            "pip install -r tests/oidc-rp/python/requirements.txt (needs Python 3.11 or later)",
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(dir.join("requirements.txt")),
        )
        .await;
        std::fs::write(&stamp, &requirements).expect("the venv's requirements stamp");
    }
    Some(vec![python.display().to_string(), dir.join("rp.py").display().to_string()])
}

/// The next line that starts with `tag` (and a space), with the lines before it that did not.
async fn expect_line(
    lines: &mut Lines<BufReader<ChildStdout>>,
    tag: &str,
    other: &mut Vec<String>,
) -> Result<String, String> {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match line.strip_prefix(tag).and_then(|rest| rest.strip_prefix(' ')) {
                Some(rest) => return Ok(rest.trim().to_owned()),
                None => other.push(line),
            },
            Ok(None) => return Err(format!("it ended without a {tag} line")),
            Err(e) => return Err(format!("reading its stdout: {e}")),
        }
    }
}

/// The protocol with a running script, up to its exit; `Err` says what went wrong.
async fn converse(child: &mut Child, login: &RpLogin<'_>, stdout: &mut Vec<String>) -> Result<Value, String> {
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let authorize = expect_line(&mut lines, "AUTHORIZE", stdout).await?;
    if !authorize.starts_with(login.issuer) {
        return Err(format!("the authorization URL {authorize} is not at the issuer {}", login.issuer));
    }

    let mut browser = FormBrowser::new();
    let callback = browser.authorize(login.issuer, &authorize, login.username, login.password).await;
    if !callback.starts_with(login.redirect_uri) {
        return Err(format!("the browser ended at {callback}, not at the redirect URI {}", login.redirect_uri));
    }
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(format!("{callback}\n").as_bytes()).await.map_err(|e| format!("writing the callback URL: {e}"))?;
    stdin.flush().await.map_err(|e| format!("writing the callback URL: {e}"))?;
    drop(stdin);

    let result = expect_line(&mut lines, "RESULT", stdout).await?;
    let status = child.wait().await.map_err(|e| format!("waiting for it: {e}"))?;
    if !status.success() {
        return Err(format!("it printed its result but exited with {status}"));
    }
    serde_json::from_str(&result).map_err(|e| format!("its RESULT is not JSON ({e}): {result}"))
}

/// Logs `login.username` in at `login.issuer` through the `kind` library, which validates the
/// id_token, reads UserInfo and refreshes; returns its `RESULT` object:
/// `{"id_token_claims", "userinfo", "refreshed_id_token_claims", "scope", "token_type",
/// "refresh_rotated"}`. Panics, with the script's stderr, on any failure; `None` when the
/// library's runtime is not installed here and [`REQUIRE_ENV`] is unset (said on stderr).
pub async fn run_relying_party(kind: Rp, login: &RpLogin<'_>) -> Option<Value> {
    let command = {
        let _one_at_a_time = INSTALLING.lock().await;
        match kind {
            Rp::OpenidClient => install_node().await,
            Rp::Authlib => install_python().await,
        }
    }?;
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .env("OIDC_ISSUER", login.issuer)
        .env("OIDC_CLIENT_ID", login.client_id)
        .env("OIDC_CLIENT_SECRET", login.client_secret)
        .env("OIDC_REDIRECT_URI", login.redirect_uri)
        .env("OIDC_SCOPE", login.scope)
        .env("OIDC_DEVICE_ID", login.device_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {kind} relying party ({}): {e}", command.join(" ")));
    // Read all along, so that a chatty script never blocks on a full pipe.
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text).await;
        text
    });

    let mut stdout = Vec::new();
    let outcome = match tokio::time::timeout(RUN_TIMEOUT, converse(&mut child, login, &mut stdout)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("it did not finish within {RUN_TIMEOUT:?}")),
    };
    // After a failure: how the script ended, or that it was stopped.
    let ending = match outcome {
        Ok(_) => String::new(),
        Err(_) => match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
            Ok(Ok(status)) => format!(" (it exited with {status})"),
            _ => {
                let _ = child.kill().await;
                " (it was stopped)".to_owned()
            }
        },
    };
    let stderr =
        tokio::time::timeout(Duration::from_secs(5), stderr).await.ok().and_then(Result::ok).unwrap_or_default();
    match outcome {
        Ok(result) => Some(result),
        Err(why) => panic!(
            "the {kind} relying party failed: {why}{ending}\n--- its other stdout ---\n{}\n--- its stderr ---\n{stderr}",
            stdout.join("\n")
        ),
    }
}
