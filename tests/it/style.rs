//! Every line of Rust in the workspace fits in rustfmt's 100 columns.
//! rustfmt leaves a whole statement as it is when one of its lines cannot
//! fit (a long string literal, say), and `cargo fmt --check` then passes
//! over it silently; with every line short, rustfmt formats them all. Long
//! texts are constants or string continuations (`\` at the end of a line).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_line_is_longer_than_rustfmt_formats() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests", "fuzz", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found the sources");
    for tree in ["tests/it/main.rs", "crates/tcpdoctor-core/tests/it/main.rs"] {
        assert!(files.contains(&root.join(tree)), "{tree} is checked too");
    }
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("reads");
        for (i, line) in text.lines().enumerate() {
            if line.chars().count() > 100 {
                long.push(format!(
                    "{}:{}",
                    f.strip_prefix(root).expect("in the workspace").display(),
                    i + 1
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over 100 characters (rustfmt leaves their statements unformatted):\n  {}",
        long.join("\n  ")
    );
}

/// The test binaries are trees of modules (tests/it, each crate's
/// tests/it): a test file that outgrows 600 lines is split by topic, as
/// tests/it/cli/ is by command.
#[test]
fn no_test_file_is_longer_than_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("tests"), &mut files);
    for krate in std::fs::read_dir(root.join("crates"))
        .expect("crates")
        .flatten()
    {
        rust_files(&krate.path().join("tests"), &mut files);
    }
    assert!(files.len() > 20, "found the tests: {files:?}");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).expect("reads").lines().count();
            (n > 600).then(|| format!("{}: {n} lines", f.strip_prefix(root).unwrap_or(f).display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by topic:\n  {}",
        long.join("\n  ")
    );
}
