//! The command-line surface of the `portcullis` binary (contract §1). Behaviour against a
//! database is covered end to end in `tests/e2e/cli.rs`; having this test here also makes
//! `cargo test --workspace` build the binary that suite runs.

use std::process::Command;

fn portcullis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis")).args(args).output().expect("run portcullis")
}

#[test]
fn help_lists_every_subcommand() {
    let out = portcullis(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf8");
    for sub in ["serve", "migrate", "client", "user", "keys"] {
        assert!(help.contains(sub), "--help lacks {sub}: {help}");
    }
    let keys = String::from_utf8(portcullis(&["keys", "--help"]).stdout).expect("utf8");
    assert!(keys.contains("list") && keys.contains("rotate"));
}

#[test]
fn usage_errors_exit_nonzero_without_stdout() {
    let out = portcullis(&["client", "create"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--name"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    let out = portcullis(&["user", "create", "--username", "x"]);
    assert!(!out.status.success(), "--password-stdin is required: passwords never go on the command line");
}
