//! `SmtpSink`: a real SMTP server (Python's aiosmtpd) on a free port, keeping every message it
//! is given, for the email sender's tests. aiosmtpd is installed on first use into the build's
//! scratch folder when the system Python lacks it (pip, from the package index), so the suite
//! needs nothing installed by hand; if it can be neither found nor installed the test fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

const SERVER: &str = r#"
import sys, time
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "ab") as f:
            f.write(envelope.content + b"\n\x00\n")
        return "250 OK"

c = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"#;

pub struct SmtpSink {
    pub port: u16,
    mailbox: PathBuf,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// A `PYTHONPATH` under which `import aiosmtpd` works: none needed, or the scratch folder pip
/// installed it into.
fn aiosmtpd_path() -> Option<String> {
    let has = |path: Option<&str>| {
        let mut cmd = std::process::Command::new("python3");
        cmd.args(["-c", "import aiosmtpd"]).stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(p) = path {
            cmd.env("PYTHONPATH", p);
        }
        cmd.status().is_ok_and(|s| s.success())
    };
    if has(None) {
        return None;
    }
    let root =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").into());
    let target = format!("{root}/aiosmtpd");
    let target = target.as_str();
    if !has(Some(target)) {
        let installed = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", target, "aiosmtpd"])
            .status()
            .expect("python3 runs (the SMTP tests need it)");
        assert!(installed.success(), "cannot install aiosmtpd with pip into {target}");
        assert!(has(Some(target)), "aiosmtpd installed into {target} but does not import");
    }
    Some(target.to_owned())
}

impl SmtpSink {
    pub async fn start() -> Self {
        let path = tokio::task::spawn_blocking(aiosmtpd_path).await.expect("join");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("tempdir");
        let mailbox = dir.path().join("mailbox");
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg("-c").arg(SERVER).arg(port.to_string()).arg(&mailbox).stdout(Stdio::piped()).kill_on_drop(true);
        if let Some(p) = path {
            cmd.env("PYTHONPATH", p);
        }
        let mut child = cmd.spawn().expect("python3 starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        assert!(matches!(ready, Ok(Ok(Some(ref l))) if l == "ready"), "aiosmtpd did not start: {ready:?}");
        Self { port, mailbox, _dir: dir, _child: child }
    }

    /// Every message received so far, raw (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        match std::fs::read(&self.mailbox) {
            Ok(bytes) => String::from_utf8_lossy(&bytes)
                .split("\n\u{0}\n")
                .filter(|m| !m.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}
