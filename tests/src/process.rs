//! The `portcullis` binary as a child process: CLI runs and servers whose logs and signals
//! the test controls.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `target/<profile>/portcullis`, built by cargo alongside the tests.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing: run the suite with `cargo test --workspace`, which builds it", bin.display());
    bin
}

/// A scratch folder with its own database and keys for a process.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    /// Uses `db_url` and a fresh keys folder; cheap argon2.
    pub fn new(db_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = dir.path().join("keys");
        let env = vec![
            ("PORTCULLIS_DATABASE_URL".to_owned(), db_url.to_owned()),
            ("PORTCULLIS_KEYS_DIR".to_owned(), keys.display().to_string()),
            ("PORTCULLIS_PASSWORDS__MEMORY_KIB".to_owned(), "1024".to_owned()),
            ("PORTCULLIS_PASSWORDS__ITERATIONS".to_owned(), "1".to_owned()),
        ];
        Self { dir, env }
    }

    /// [`Sandbox::new`], then `portcullis migrate`: the database and the keys folder exist, as
    /// after a node's first start, so the other commands may run (they refuse to create them).
    pub fn migrated(db_url: &str) -> Self {
        let sb = Self::new(db_url);
        sb.run_json(&["migrate", "--json"], "");
        sb
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args).current_dir(self.dir.path()).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts a command without waiting for it (no stdin; output captured).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")
    }

    /// Runs a CLI command to completion, feeding `stdin`.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portcullis");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
        child.wait_with_output().expect("wait")
    }

    /// Runs a CLI command that must succeed with `--json`, returning its one JSON object.
    pub fn run_json(&self, args: &[&str], stdin: &str) -> serde_json::Value {
        let out = self.run(args, stdin);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("utf8");
        assert_eq!(text.trim().lines().count(), 1, "--json must print exactly one line: {text}");
        serde_json::from_str(text.trim()).expect("one JSON object")
    }

    /// Registers a confidential client with `grants` through the CLI; returns (id, secret).
    pub fn client(&self, grants: &[&str]) -> (String, String) {
        let mut args = vec!["client", "create", "--name", "app", "--json"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let made = self.run_json(&args, "");
        let field = |k: &str| made[k].as_str().unwrap_or_else(|| panic!("{k} in {made}")).to_owned();
        (field("client_id"), field("client_secret"))
    }

    /// Registers a confidential client with `grants` that is also a resource server (it may
    /// introspect and follow the feed); returns (id, secret).
    pub fn resource_client(&self, grants: &[&str]) -> (String, String) {
        let mut args = vec!["client", "create", "--name", "rs", "--resource-server", "--json"];
        for g in grants {
            args.extend(["--grant", g]);
        }
        let made = self.run_json(&args, "");
        let field = |k: &str| made[k].as_str().unwrap_or_else(|| panic!("{k} in {made}")).to_owned();
        (field("client_id"), field("client_secret"))
    }

    /// Starts `portcullis serve` with JSON logs at `log_filter`; waits until it serves.
    pub fn serve(&self, extra_env: &[(&str, &str)], log_filter: &str) -> ServeProcess {
        let mut cmd = self.command(&["serve"]);
        cmd.env("PORTCULLIS_LISTEN", "127.0.0.1:0").env("PORTCULLIS_LOG__FORMAT", "json").env("RUST_LOG", log_filter);
        // As in `test_config`: a loaded box is not an overloaded node.
        cmd.env("PORTCULLIS_HTTP__MAX_QUEUE_DELAY", "10s");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn serve");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().expect("log lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        let started = Instant::now();
        let addr = loop {
            if let Some(addr) = find_addr(&logs.lock().expect("log lock")) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("portcullis serve exited with {status}: {}", logs.lock().expect("log lock"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "server did not start: {}",
                logs.lock().expect("lock")
            );
            std::thread::sleep(Duration::from_millis(25));
        };
        ServeProcess { child, logs, base: format!("http://{addr}") }
    }
}

fn find_addr(logs: &str) -> Option<String> {
    logs.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find_map(|v| {
        let fields = v.get("fields")?;
        (fields.get("message")?.as_str()? == "portcullis is serving")
            .then(|| fields.get("addr")?.as_str().map(str::to_owned))?
    })
}

/// A running `portcullis serve`.
pub struct ServeProcess {
    pub child: Child,
    pub logs: Arc<Mutex<String>>,
    pub base: String,
}

impl ServeProcess {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for exit (bounded) and returns whether it exited with status 0.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!("server did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().expect("log lock").clone()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `form` to the token endpoint `url` as the confidential client `id`; answers the status
/// and the JSON body.
pub async fn token_request(
    http: &reqwest::Client,
    url: &str,
    (id, secret): (&str, &str),
    form: Vec<(&'static str, String)>,
) -> (u16, serde_json::Value) {
    let res = http.post(url).basic_auth(id, Some(secret)).form(&form).send().await.expect("token request");
    let status = res.status().as_u16();
    (status, res.json().await.expect("a JSON token response"))
}
