//! Tidy: the rules of the codebase that a compiler does not check, checked on every test run.
//!
//! - each crate's workspace dependencies are exactly what docs/ARCHITECTURE.md's crate graph says;
//! - no crate declares a dependency its code never names (as cargo-machete does);
//! - no two sibling modules of a crate import each other, directly or round a circle;
//! - every third-party licence is on the allowed list, and no crate is duplicated in the build
//!   beyond the reviewed list in `tests/tidy/duplicates.txt` (cargo-deny's offline checks);
//! - README's tour is `examples/tour/tour.sh` (which `.ci/run` runs, checking every output),
//!   less its check lines, and no document links to a file outside the repository.
//!
//! Reads `cargo metadata --offline` and the sources; needs no network.

mod cycles;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn host() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("a host line").to_owned()
}

/// `cargo metadata` of the workspace, resolved for this host, offline.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host()])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

fn members(meta: &Value) -> Vec<&Value> {
    let ids: BTreeSet<&str> =
        meta["workspace_members"].as_array().expect("members").iter().filter_map(Value::as_str).collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| ids.contains(p["id"].as_str().unwrap_or("")))
        .collect()
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_default()
}

/// The crate graph as docs/ARCHITECTURE.md draws it: the rows of its `| crate | depends on |` table.
fn documented_graph() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let table = doc.split("| crate | depends on |").nth(1).expect("ARCHITECTURE.md has the crate-graph table");
    let mut graph = BTreeMap::new();
    for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let name = cells[0].trim_matches('`').to_owned();
        let deps = cells[1]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_owned())
            .filter(|d| !d.is_empty() && d != "—")
            .collect();
        graph.insert(name, deps);
    }
    graph
}

#[test]
fn the_crate_graph_is_the_documented_one() {
    let meta = metadata();
    let mut actual = BTreeMap::new();
    for p in members(&meta) {
        let deps: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null() && d["path"].is_string())
            .map(|d| text(d, "name").to_owned())
            .collect();
        actual.insert(text(p, "name").to_owned(), deps);
    }
    let documented = documented_graph();
    assert_eq!(
        actual, documented,
        "the workspace's crate graph (left) is not the one in docs/ARCHITECTURE.md (right): change the code or the map"
    );
}

/// Dependencies a crate declares but whose name never appears in its code, with the reason.
const NAMED_ELSEWHERE: &[(&str, &str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Whether `code` uses the crate `ident`: the whole word, as a path (`ident::`), a macro
/// (`ident!`), an import (`use ident`, `extern crate ident`) or a string (`"ident"`, as serde's
/// `with = ` attributes name a crate).
fn names(code: &str, ident: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(ident).any(|(at, _)| {
        let before = &code[..at];
        let after = &code[at + ident.len()..];
        if before.ends_with(word) || after.starts_with(word) || before.ends_with("::") {
            return false;
        }
        after.starts_with("::")
            || after.starts_with('!')
            || after.starts_with('"') && before.ends_with('"')
            || before.ends_with("use ")
            || before.ends_with("extern crate ")
    })
}

#[test]
fn names_is_whole_words() {
    assert!(names("use serde::Deserialize;", "serde"));
    assert!(!names("use serde_json::Value;", "serde"));
    assert!(!names("aws_lc_rs::rand::SystemRandom", "rand"));
    assert!(names("let x = rand::random();", "rand"));
    assert!(names("#[serde(with = \"humantime_serde\")]", "humantime_serde"));
    assert!(names("sqlx::query!(x)", "sqlx"));
}

#[test]
fn no_crate_declares_an_unused_dependency() {
    let meta = metadata();
    let mut unused = Vec::new();
    for p in members(&meta) {
        let dir = Path::new(text(p, "manifest_path")).parent().expect("package dir").to_path_buf();
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        // Not this check's own sources, whose examples name crates.
        let tidy = root().join("tests/tidy");
        let code: String = files
            .iter()
            .filter(|f| !f.starts_with(&tidy))
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        let name = text(p, "name");
        for d in p["dependencies"].as_array().expect("dependencies") {
            let dep = d["rename"].as_str().unwrap_or(text(d, "name"));
            if dep == name {
                continue; // a crate's dev-dependency on itself, with features on
            }
            let named = names(&code, &dep.replace('-', "_"));
            let excused = NAMED_ELSEWHERE.iter().any(|(krate, d, _)| *krate == name && *d == dep);
            if !named && !excused {
                unused.push(format!("{name} → {dep}"));
            }
        }
    }
    assert!(unused.is_empty(), "declared but never used (remove them): {unused:#?}");
}

#[test]
fn no_module_circles() {
    let meta = metadata();
    let mut circles = Vec::new();
    for p in members(&meta) {
        let dir = Path::new(text(p, "manifest_path")).parent().expect("package dir").join("src");
        if dir.is_dir() {
            circles
                .extend(cycles::circles(&dir).into_iter().map(|c| format!("{}: {}", text(p, "name"), c.join(" → "))));
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other (one of them should own the shared part): {circles:#?}"
    );
}

/// Licences a dependency may carry (SPDX). An expression passes when one alternative of each
/// `OR` consists of allowed licences only.
const ALLOWED_LICENCES: &[&str] = &[
    "MIT",
    "MIT-0",
    // Zero-clause BSD: no conditions at all (quoted_printable, through lettre).
    "0BSD",
    "Apache-2.0",
    "LLVM-exception",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Unicode-3.0",
    "Unlicense",
    "CC0-1.0",
    "Zlib",
    "BSL-1.0",
    "MPL-2.0",
    "CDLA-Permissive-2.0",
];

/// Whether an SPDX expression is satisfiable by allowed licences alone.
fn licence_allowed(expr: &str) -> bool {
    let expr = expr.replace('/', " OR ");
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')'))
        && balanced(inner)
    {
        return licence_allowed(inner);
    }
    if let Some(parts) = split_top(expr, " OR ") {
        return parts.iter().any(|p| licence_allowed(p));
    }
    if let Some(parts) = split_top(expr, " AND ") {
        return parts.iter().all(|p| licence_allowed(p));
    }
    expr.split(" WITH ").all(|id| ALLOWED_LICENCES.contains(&id.trim()))
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

/// `expr` split at `sep` outside parentheses, if `sep` occurs there.
fn split_top<'e>(expr: &'e str, sep: &str) -> Option<Vec<&'e str>> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0, 0);
    let bytes = expr.as_bytes();
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if depth == 0 && expr[i..].starts_with(sep) => {
                parts.push(&expr[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    (!parts.is_empty()).then(|| {
        parts.push(&expr[start..]);
        parts
    })
}

fn resolved_packages(meta: &Value) -> Vec<&Value> {
    let ids: BTreeSet<&str> =
        meta["resolve"]["nodes"].as_array().expect("nodes").iter().filter_map(|n| n["id"].as_str()).collect();
    meta["packages"].as_array().expect("packages").iter().filter(|p| ids.contains(text(p, "id"))).collect()
}

#[test]
fn every_licence_is_allowed() {
    let meta = metadata();
    let refused: Vec<String> = resolved_packages(&meta)
        .into_iter()
        .filter(|p| p["source"].is_string())
        .filter(|p| !p["license"].as_str().is_some_and(licence_allowed))
        .map(|p| format!("{} {}: {:?}", text(p, "name"), text(p, "version"), p["license"].as_str()))
        .collect();
    assert!(refused.is_empty(), "licences not on the allowed list: {refused:#?}");
}

#[test]
fn licence_expressions_are_read_right() {
    assert!(licence_allowed("MIT OR Apache-2.0"));
    assert!(licence_allowed("(MIT OR Apache-2.0) AND Unicode-3.0"));
    assert!(licence_allowed("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"));
    assert!(licence_allowed("MIT/Apache-2.0"));
    assert!(!licence_allowed("GPL-3.0"));
    assert!(!licence_allowed("MIT AND GPL-3.0"));
    assert!(licence_allowed("GPL-3.0 OR MIT"));
    assert!(!licence_allowed("(GPL-3.0 OR AGPL-3.0) AND MIT"));
}

#[test]
fn no_unreviewed_duplicate_crates() {
    let meta = metadata();
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in resolved_packages(&meta) {
        versions.entry(text(p, "name")).or_default().insert(text(p, "version"));
    }
    let duplicated: BTreeSet<&str> = versions.iter().filter(|(_, v)| v.len() > 1).map(|(n, _)| *n).collect();
    let list = std::fs::read_to_string(root().join("tests/tidy/duplicates.txt")).expect("tests/tidy/duplicates.txt");
    let reviewed: BTreeSet<&str> =
        list.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect();
    let new: Vec<_> = duplicated.difference(&reviewed).collect();
    let gone: Vec<_> = reviewed.difference(&duplicated).collect();
    assert!(new.is_empty(), "crates now built in two versions (unify them, or review and list them): {new:?}");
    assert!(gone.is_empty(), "no longer duplicated: take them off tests/tidy/duplicates.txt: {gone:?}");
}

/// The steps of README's tour (its fenced block from the line starting `# 1.`), or of
/// `examples/tour/tour.sh` less the lines that only check (`expect …`, `tour_…`).
fn tour_steps(text: &str, checks: bool) -> Vec<String> {
    let lines = text.lines().skip_while(|l| !l.starts_with("# 1. "));
    lines
        .take_while(|l| !l.starts_with("```"))
        .filter(|l| !checks || !(l.starts_with("expect ") || l.starts_with("tour_")))
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[test]
fn the_readme_tour_is_the_tour_script() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let tour = readme.split("## A five-minute tour").nth(1).expect("README has its tour");
    let script = std::fs::read_to_string(root().join("examples/tour/tour.sh")).expect("examples/tour/tour.sh");
    let (shown, run) = (tour_steps(tour, false), tour_steps(&script, true));
    assert!(run.len() > 50, "the script's tour was found: {} lines", run.len());
    for (i, (a, b)) in shown.iter().zip(&run).enumerate() {
        assert_eq!(a, b, "README's tour and examples/tour/tour.sh differ at step line {}", i + 1);
    }
    assert_eq!(shown.len(), run.len(), "README's tour and examples/tour/tour.sh differ in length");
}

#[test]
fn documents_link_only_inside_the_repository() {
    let mut docs = vec![root().join("README.md")];
    for dir in ["docs", "docs/decisions", "examples/orders", "examples/cli-login", "tests"] {
        for entry in std::fs::read_dir(root().join(dir)).into_iter().flatten().flatten() {
            if entry.path().extension().is_some_and(|e| e == "md") {
                docs.push(entry.path());
            }
        }
    }
    for doc in docs {
        let text = std::fs::read_to_string(&doc).expect("readable");
        assert!(!text.contains("../shared"), "{} points outside the repository (../shared)", doc.display());
    }
}

/// docs/contract.md is the contract this version meets, kept in the repository for those who
/// clone it alone; where the shared original sits beside the repository, the two agree.
#[test]
fn the_contract_in_the_repository_is_the_shared_one() {
    let shared = root().join("../shared/contract.md");
    let Ok(original) = std::fs::read_to_string(&shared) else { return };
    let copy = std::fs::read_to_string(root().join("docs/contract.md")).expect("docs/contract.md");
    assert!(copy == original, "docs/contract.md differs from {}: copy it", shared.display());
}

/// On PostgreSQL the migrations run in one transaction under the migration lock
/// (`portcullis_store::migrate`); a migration that must run outside a transaction
/// (`use_transaction` false, for `CREATE INDEX CONCURRENTLY`, say) would fail there: it needs
/// that function changed first.
#[test]
fn no_migration_asks_to_run_outside_a_transaction() {
    let mut files = Vec::new();
    rust_files(&root().join("migrations/src"), &mut files);
    for f in files {
        let code = std::fs::read_to_string(&f).expect("readable");
        assert!(!code.contains("fn use_transaction"), "{} overrides use_transaction", f.display());
    }
}
