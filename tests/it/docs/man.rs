//! docs/man is what `tcpdoctor man` writes; the config page names every key.

use super::*;

fn read_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&p).expect("read a page"))
        })
        .collect()
}

fn generate_pages(tag: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = TempDir::new(tag);
    let o = bin()
        .arg("man")
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .expect("runs tcpdoctor man");
    assert!(
        o.status.success(),
        "tcpdoctor man --out-dir: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    read_pages(dir.path())
}

/// Where two texts first differ, as "line N: committed / generated".
fn first_difference(committed: &[u8], generated: &[u8]) -> String {
    let (a, b) = (
        String::from_utf8_lossy(committed),
        String::from_utf8_lossy(generated),
    );
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => break,
            (x, y) if x != y => {
                return format!(
                    "line {n}:\n      committed: {}\n      generated: {}",
                    x.unwrap_or("(end)"),
                    y.unwrap_or("(end)")
                );
            }
            _ => {}
        }
    }
    "line endings".into()
}

#[test]
fn docs_man_is_what_tcpdoctor_man_writes() {
    let generated = generate_pages("man-a");
    assert!(generated.contains_key("tcpdoctor.1"));
    assert!(generated.contains_key("tcpdoctor-config.1"));
    assert_eq!(
        generated,
        generate_pages("man-b"),
        "two runs of `tcpdoctor man` write different pages (a date, a path, an order?)"
    );
    let o = output(&["man"]);
    assert!(o.status.success());
    assert_eq!(
        Some(&o.stdout),
        generated.get("tcpdoctor.1"),
        "`tcpdoctor man` prints tcpdoctor.1"
    );

    let dir = root_dir().join("docs/man");
    if bless() {
        std::fs::create_dir_all(&dir).expect("mkdir docs/man");
        for name in read_pages(&dir).keys() {
            if !generated.contains_key(name) {
                std::fs::remove_file(dir.join(name)).expect("remove a stale page");
            }
        }
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).expect("write a page");
        }
    }
    let committed = read_pages(&dir);
    let mut problems = Vec::new();
    for (name, text) in &generated {
        match committed.get(name) {
            None => problems.push(format!("{name}: missing")),
            Some(c) if c != text => {
                problems.push(format!("{name}: differs at {}", first_difference(c, text)))
            }
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
        problems.push(format!("{name}: extra (tcpdoctor man does not write it)"));
    }
    assert!(
        problems.is_empty(),
        "docs/man is not what `tcpdoctor man` writes:\n  {}\n\nRegenerate and review the diff:\n  \
         rm docs/man/*.1 && cargo run -- man --out-dir docs/man\n(or TCPDOCTOR_BLESS=1 cargo test \
         --test docs)",
        problems.join("\n  ")
    );
}

#[test]
fn the_config_page_documents_every_key_of_the_default_file() {
    let default = stdout_of(&["config", "--default"]);
    let pages = generate_pages("man-config");
    let page = String::from_utf8_lossy(&pages["tcpdoctor-config.1"]).into_owned();
    let mut table = String::new();
    let mut keys = 0;
    for line in default.lines() {
        if let Some(t) = line.strip_prefix('[') {
            table = t.trim_end_matches(']').to_string();
            assert!(
                page.contains(&format!(".SS [{table}]")),
                "tcpdoctor-config(1) has no [{table}] section"
            );
            continue;
        }
        let Some((key, value)) = line.strip_prefix("# ").and_then(|kv| kv.split_once(" = ")) else {
            continue;
        };
        keys += 1;
        // roff escapes '-' and turns ' into \*(Aq.
        let esc = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
        let entry = format!("\\fB{}\\fR", esc(key));
        let at = page
            .find(&format!("\n{entry}"))
            .unwrap_or_else(|| panic!("tcpdoctor-config(1) does not list [{table}] {key}"));
        let rest = &page[at..];
        let end = rest[1..].find("\n.TP").map_or(rest.len(), |e| e + 1);
        assert!(
            rest[..end].contains(&format!("Default: {}.", esc(value))),
            "tcpdoctor-config(1): {key} does not show its default {value}:\n{}",
            &rest[..end]
        );
    }
    assert!(keys >= 20, "config --default lists {keys} keys");
    for section in [
        ".SH FILES",
        ".SH \"CONFIGURATION FILE\"",
        "/etc/tcpdoctor/config.toml",
    ] {
        assert!(
            page.contains(section),
            "tcpdoctor-config(1) has no {section}"
        );
    }
}
