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
