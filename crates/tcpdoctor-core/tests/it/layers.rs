//! The layers depend only downwards, and the lower ones do no I/O. This
//! test reads the library's sources and fails on an import that points up
//! (docs/architecture.md draws the layers):
//!
//!   serve  ->  ops  ->  collect, offline, diagnose  ->  model
//!   serve  ->  render  ->  diagnose
//!
//! `ops` is the application layer that assembles the pipeline; `serve`
//! and the front ends outside the library (the binary, the lab) reach the
//! core only through it, `model`, `render` and `error`. `offline` may also
//! use `collect`'s pure parsers (a /proc/net/tcp dump parses like the live
//! file); `collect` never uses `offline`. `error` sits with `model` at the
//! bottom.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What each layer may import from the crate besides itself.
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "error" => &[],
        "model" => &["error"],
        "collect" => &["model", "error"],
        "offline" => &["model", "error", "collect"],
        "diagnose" => &["model", "error"],
        "render" => &["model", "error", "diagnose"],
        "ops" => &["model", "error", "collect", "offline", "diagnose"],
        "serve" => &["model", "error", "ops", "render"],
        "lib" => &[
            "model", "error", "collect", "offline", "diagnose", "render", "ops", "serve",
        ],
        other => panic!("{other}: a module that is in no layer; add it to tests/it/layers.rs"),
    }
}

/// Layers that must not touch the host: plain data, rules, renderers.
const NO_IO: &[&str] = &["model", "diagnose", "render"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("reads src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The layer of a source file: its first path component under src/.
fn layer_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without comments and without its test module (tests
/// may reach anywhere).
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(at) if !l[..at].contains('"') => &l[..at],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named after each `crate::`, including every
/// member of a `crate::{a, b::c}` group.
fn crate_imports(code: &str) -> BTreeSet<String> {
    imports_of(code, "crate::")
}

/// The same after `prefix` (`crate::`, `tcpdoctor_core::`).
fn imports_of(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        // `tcpdoctor_core::` or `some_crate::` are other crates.
        let before = rest[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() {
                            out.insert(name);
                        }
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
        rest = after;
    }
    out
}

#[test]
fn no_import_points_up_a_layer_and_the_lower_layers_do_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for f in &files {
        // A test module in a file of its own (`#[cfg(test)] mod tests;`)
        // may reach anywhere, as an inline one may.
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            let decl = std::fs::read_to_string(f.parent().expect("a folder").join("mod.rs"))
                .or_else(|_| {
                    std::fs::read_to_string(f.parent().expect("a folder").with_extension("rs"))
                })
                .unwrap_or_default();
            assert!(
                decl.contains("#[cfg(test)]\nmod tests;")
                    || decl.contains("#[cfg(test)]\npub(crate) mod tests;"),
                "{}: a tests.rs that is not a #[cfg(test)] module",
                f.display()
            );
            continue;
        }
        let layer = layer_of(&src, f);
        let text = std::fs::read_to_string(f).expect("reads");
        let code = code(&text);
        for m in crate_imports(&code) {
            // Glob-free names that are not modules (Error, Result at the
            // root) belong to `error`.
            let m = match m.as_str() {
                "Error" | "Result" => "error".to_string(),
                _ => m,
            };
            if m != layer && !allowed(&layer).contains(&m.as_str()) {
                problems.push(format!(
                    "{}: {layer} imports crate::{m}",
                    f.strip_prefix(&src).expect("under src").display()
                ));
            }
        }
        if NO_IO.contains(&layer.as_str()) {
            for io in ["std::fs", "File::", "libc::", "TcpStream", "TcpListener"] {
                let found = code.match_indices(io).any(|(at, _)| {
                    !code[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if found {
                    problems.push(format!(
                        "{}: {layer} must do no I/O, but uses {io}",
                        f.strip_prefix(&src).expect("under src").display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports that break the layering:\n  {}",
        problems.join("\n  ")
    );
}

/// What a front end outside the library may reach in the core: the
/// application layer, plain data, renderers, errors; the binary also
/// `serve` (the serve command runs it), the lab also `collect::netns` (it
/// makes and enters the namespaces its scenarios run in).
fn front_end_may_import(front: &str, module: &str) -> bool {
    matches!(
        module,
        "ops" | "model" | "render" | "error" | "Error" | "Result"
    ) || (front == "binary" && module == "serve")
}

#[test]
fn the_front_ends_reach_the_core_through_the_application_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut problems = Vec::new();
    for (front, dir) in [("binary", "src"), ("lab", "crates/tcpdoctor-lab/src")] {
        let mut files = Vec::new();
        sources(&root.join(dir), &mut files);
        files.sort();
        assert!(!files.is_empty(), "{dir}: no sources found");
        for f in &files {
            let text = std::fs::read_to_string(f).expect("reads");
            let code = code(&text);
            for m in imports_of(&code, "tcpdoctor_core::") {
                let plumbing = front == "lab"
                    && m == "collect"
                    && code
                        .match_indices("tcpdoctor_core::collect::")
                        .all(|(at, p)| code[at + p.len()..].starts_with("netns"));
                if !front_end_may_import(front, &m) && !plumbing {
                    problems.push(format!(
                        "{}: the {front} imports tcpdoctor_core::{m}: use tcpdoctor_core::ops",
                        f.strip_prefix(&root).unwrap_or(f).display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "front ends that assemble the pipeline themselves:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_import_scanner_reads_groups_and_paths() {
    let got = crate_imports(
        "use crate::model::{A, B};\nuse crate::{collect::plan, diagnose::{Rule, x}};\nlet y = \
            crate::render::json(v); tcpdoctor_core::serve::x",
    );
    let want: BTreeSet<String> = ["model", "collect", "diagnose", "render"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(got, want);
}
