//! Module circles in one crate: which sibling modules name each other (through `crate::`,
//! `super::` or `self::` paths), directly or round a circle. A child naming its parent (or the
//! parent its child) is how Rust modules work and is not counted; test modules are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// The module path of a source file under `src`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") || !parts.is_empty() && stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The module paths `code` (of module `here`) names.
fn references(here: &Module, code: &str) -> Vec<Module> {
    let mut found = Vec::new();
    for (i, _) in code.match_indices("::") {
        // The first segment of a path: walk back to its start.
        let head_start = code[..i].rfind(|c: char| !ident_char(c)).map_or(0, |p| p + 1);
        let head = &code[head_start..i];
        if head_start >= 2 && &code[head_start - 2..head_start] == "::" {
            continue; // not the first segment
        }
        let base: Option<Module> = match head {
            "crate" => Some(Vec::new()),
            "self" => Some(here.clone()),
            "super" => Some(here[..here.len().saturating_sub(1)].to_vec()),
            _ => None,
        };
        let Some(mut base) = base else { continue };
        let mut rest = &code[i + 2..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_items(&group[..end]) {
                found.push(extend(&base, item));
            }
        } else {
            found.push(extend(&base, rest));
        }
    }
    found
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_items(s: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(s[start..].trim());
    items
}

/// `base` followed by the segments at the start of `path`.
fn extend(base: &Module, path: &str) -> Module {
    let mut m = base.clone();
    let mut rest = path;
    loop {
        let end = rest.find(|c: char| !ident_char(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        m.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    m
}

/// The circles among sibling modules of the crate whose sources are in `src`.
pub fn circles(src: &Path) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    super::rust_files(src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let here = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let code = without_test_modules(&text);
        for target in references(&here, &code) {
            // The longest module the path names.
            let Some(target) = (0..=target.len()).rev().map(|n| target[..n].to_vec()).find(|m| modules.contains(m))
            else {
                continue;
            };
            let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if here.len() <= common || target.len() <= common {
                continue; // an ancestor and its descendant
            }
            edges.entry(here[..=common].to_vec()).or_default().insert(target[..=common].to_vec());
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.into_iter().map(|m| m.join("::")).collect())
        .collect()
}

/// `text` without comments and without `#[cfg(test)] mod … { … }` blocks (whose `super::` is
/// the file's own module).
fn without_test_modules(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines().map(|l| l.split("//").next().unwrap_or_default()).peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|n| n.trim_start().starts_with("mod ")) {
            let mut depth = 0i32;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                if depth <= 0 && l.contains('}') {
                    break;
                }
            }
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'g> {
        edges: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        on_stack: BTreeSet<&'g Module>,
        out: Vec<Vec<Module>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.edges.get(v) {
            for w in next {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn finds_a_circle_and_ignores_parent_child_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a; mod b; mod c; mod d;").expect("write");
    std::fs::write(src.join("a.rs"), "use crate::b::X;").expect("write");
    std::fs::write(src.join("b.rs"), "use crate::{c::Y, d};").expect("write");
    std::fs::write(
        src.join("c.rs"),
        "#[cfg(test)]\nmod tests {\n    use super::*;\n}\n#[cfg(test)]\nfn helper() {}\nuse super::a::Z;",
    )
    .expect("write");
    std::fs::create_dir(src.join("d")).expect("mkdir");
    std::fs::write(src.join("d/mod.rs"), "mod e; use self::e::W;").expect("write");
    std::fs::write(src.join("d/e.rs"), "use super::super::d::V; // crate::a::Q in a comment").expect("write");
    let found = circles(src);
    assert_eq!(found, vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
}
