//! The JSON layouts a `--help` names, parsed out of its text.

use super::*;

/// A part of a JSON layout as a help text writes it: `{"a", "b": {...},
/// "c": [{...}], ...}`. `"k" (remark)` is a key; `...` leaves an object
/// open (a map, its names examples); `STATE: {...}` (an unquoted name) is
/// a map whose every value has that layout. Anything else is prose.
#[derive(Debug, Default)]
pub(super) struct Node {
    path: String,
    keys: Vec<(String, Option<usize>)>,
    open: bool,
    each: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Open(char),
    Close,
    Colon,
    Comma,
    Str(String),
    Word(String),
}

/// Tokens of a help paragraph; (remarks) are left out.
pub(super) fn tokens(text: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut parens = 0;
    while let Some(c) = chars.next() {
        if parens > 0 {
            match c {
                '(' => parens += 1,
                ')' => parens -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '(' => parens = 1,
            '{' | '[' => out.push(Tok::Open(c)),
            '}' | ']' => out.push(Tok::Close),
            ':' => out.push(Tok::Colon),
            ',' => out.push(Tok::Comma),
            '"' => {
                let s: String = chars.by_ref().take_while(|&c| c != '"').collect();
                out.push(Tok::Str(s));
            }
            c if c.is_whitespace() => {}
            c => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "{}[]:,\"()".contains(n) {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    out
}

pub(super) fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.starts_with('[')) {
        (true, _) | (_, true) => format!("{path}{key}"),
        _ => format!("{path}.{key}"),
    }
}

pub(super) fn parse_object(t: &[Tok], i: &mut usize, path: String, nodes: &mut Vec<Node>) -> usize {
    assert_eq!(t.get(*i), Some(&Tok::Open('{')));
    *i += 1;
    let id = nodes.len();
    nodes.push(Node {
        path: path.clone(),
        ..Node::default()
    });
    loop {
        match t.get(*i) {
            None => panic!("a JSON layout in the help is not closed: {path}"),
            Some(Tok::Close) => {
                *i += 1;
                break;
            }
            Some(Tok::Str(k)) => {
                let k = k.clone();
                *i += 1;
                let child = if t.get(*i) == Some(&Tok::Colon) {
                    *i += 1;
                    parse_value(t, i, join(&path, &k), nodes)
                } else {
                    None
                };
                nodes[id].keys.push((k, child));
            }
            Some(Tok::Word(w)) if w == "..." => {
                nodes[id].open = true;
                *i += 1;
            }
            Some(Tok::Word(_)) if t.get(*i + 1) == Some(&Tok::Colon) => {
                *i += 2;
                let child = parse_value(t, i, join(&path, "*"), nodes);
                nodes[id].each = child;
                nodes[id].open |= child.is_none();
            }
            Some(_) => *i += 1,
        }
    }
    id
}

pub(super) fn parse_value(
    t: &[Tok],
    i: &mut usize,
    path: String,
    nodes: &mut Vec<Node>,
) -> Option<usize> {
    let mut node = None;
    match (t.get(*i), t.get(*i + 1)) {
        (Some(Tok::Open('{')), _) => node = Some(parse_object(t, i, path, nodes)),
        (Some(Tok::Open('[')), Some(Tok::Open('{'))) => {
            *i += 1;
            node = Some(parse_object(t, i, join(&path, "[]"), nodes));
            assert_eq!(t.get(*i), Some(&Tok::Close), "[{{...}}] in the help");
            *i += 1;
        }
        _ => {}
    }
    // The rest of the value (`or null`, `closed_first|reset`, `[...]`).
    let mut depth = 0;
    while let Some(tok) = t.get(*i) {
        match tok {
            Tok::Open(_) => depth += 1,
            Tok::Close | Tok::Comma if depth == 0 => break,
            Tok::Close => depth -= 1,
            _ => {}
        }
        *i += 1;
    }
    node
}

/// The JSON layouts one command's help names, and what was printed.
pub(super) struct Layout {
    pub(super) command: String,
    nodes: Vec<Node>,
    roots: Vec<usize>,
    seen: Vec<BTreeSet<String>>,
    problems: Vec<String>,
}

impl Layout {
    /// The layouts in the paragraph of `tcpdoctor CMD --help` that starts
    /// at `marker`, in order.
    pub(super) fn from_help(cmd: &[&str], marker: &str) -> Layout {
        let text = help(cmd);
        let start = text
            .find(marker)
            .unwrap_or_else(|| panic!("`tcpdoctor {} --help` has no {marker:?}", cmd.join(" ")));
        let para = &text[start..];
        let para = &para[..para.find("\n\n").unwrap_or(para.len())];
        let t = tokens(para);
        let mut nodes = Vec::new();
        let mut roots = Vec::new();
        let mut i = 0;
        while i < t.len() {
            if t[i] == Tok::Open('{') {
                let n = roots.len() + 1;
                let path = if n == 1 {
                    String::new()
                } else {
                    format!("#{n}")
                };
                roots.push(parse_object(&t, &mut i, path, &mut nodes));
            } else {
                i += 1;
            }
        }
        assert!(!roots.is_empty(), "no JSON layout in: {para}");
        Layout {
            command: cmd.join(" "),
            seen: vec![BTreeSet::new(); nodes.len()],
            nodes,
            roots,
            problems: Vec::new(),
        }
    }

    pub(super) fn name(&self, node: usize, key: &str) -> String {
        let p = &self.nodes[node].path;
        match p.strip_prefix('#') {
            Some(rest) => {
                let (n, p) = rest.split_at(rest.find(['.', '[']).unwrap_or(rest.len()));
                format!(
                    "{}#{n}: {}",
                    self.command,
                    join(p.trim_start_matches('.'), key)
                )
            }
            None => format!("{}: {}", self.command, join(p, key)),
        }
    }

    /// Checks `v` (an object, or an array of them) against root `root`.
    pub(super) fn check(&mut self, v: &Value, root: usize, from: &str) {
        let node = self.roots[root];
        self.check_node(v, node, from);
    }

    pub(super) fn check_node(&mut self, v: &Value, node: usize, from: &str) {
        match v {
            Value::Array(items) => {
                for x in items {
                    self.check_node(x, node, from);
                }
            }
            Value::Object(m) => {
                if let Some(each) = self.nodes[node].each {
                    for x in m.values() {
                        self.check_node(x, each, from);
                    }
                    return;
                }
                let listed: BTreeSet<&str> = self.nodes[node]
                    .keys
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect();
                for k in m.keys() {
                    if !self.nodes[node].open && !listed.contains(k.as_str()) {
                        let p = format!(
                            "{} is printed but not in the help ({from})",
                            self.name(node, k)
                        );
                        if !self.problems.contains(&p) {
                            self.problems.push(p);
                        }
                    }
                    self.seen[node].insert(k.clone());
                }
                let children: Vec<(String, usize)> = self.nodes[node]
                    .keys
                    .iter()
                    .filter_map(|(k, c)| c.map(|c| (k.clone(), c)))
                    .collect();
                for (k, child) in children {
                    if let Some(x) = m.get(&k) {
                        self.check_node(x, child, from);
                    }
                }
            }
            Value::Null => {}
            other => self.problems.push(format!(
                "{}: the help shows an object, {from} printed {other}",
                self.name(node, "")
            )),
        }
    }

    /// Listed keys never printed, as "command: path".
    pub(super) fn unseen(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, n) in self.nodes.iter().enumerate() {
            if n.open || n.each.is_some() {
                continue;
            }
            for (k, _) in &n.keys {
                if !self.seen[id].contains(k) {
                    out.push(self.name(id, k));
                }
            }
        }
        out
    }

    pub(super) fn seen(&self, name: &str) -> bool {
        let all: Vec<String> = self
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(id, _)| self.seen[id].iter().map(move |k| (id, k.clone())))
            .map(|(id, k)| self.name(id, &k))
            .collect();
        all.iter().any(|s| covers(name, s))
    }
}

/// Whether `allowance` ("sockets: closed_by", "trace", "census#2") names
/// `key` or a part it is in.
pub(super) fn covers(allowance: &str, key: &str) -> bool {
    key == allowance
        || [".", "[", ":", "#"]
            .iter()
            .any(|sep| key.starts_with(&format!("{allowance}{sep}")))
}

pub(super) fn parse_json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON: {e}\n{text}"))
}

pub(super) fn ndjson(text: &str, what: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_json(l, what))
        .collect()
}

/// The layouts of every command that prints JSON, by command.
pub(super) fn layouts() -> BTreeMap<&'static str, Layout> {
    let mut m = BTreeMap::new();
    for (name, cmd, marker) in [
        ("diagnose", &["diagnose"][..], "JSON:"),
        ("sysctl", &["sysctl"], "JSON:"),
        ("census", &["census"], "JSON:"),
        ("sockets", &["sockets"], "JSON:"),
        ("host", &["host"], "JSON:"),
        ("trace", &["trace"], "JSON (--json)"),
        ("watch", &["watch"], "one JSON object per sample"),
        ("lab run", &["lab", "run"], "JSON:"),
    ] {
        m.insert(name, Layout::from_help(cmd, marker));
    }
    m
}

/// The commands whose JSON is another's: analyze's views, replay's samples.
pub(super) const LAYOUT_OF_ANOTHER: [(&str, &str); 2] = [
    ("analyze", "`tcpdoctor diagnose --json`"),
    ("replay", "the layout of `watch --json`"),
];

/// Listed keys that appear only with root (or a tracer, several network
/// namespaces): the root tests below must see each of them.
pub(super) const NEEDS_ROOT: &[&str] = &[
    "trace",
    "lab run",
    "sockets: closed_by",
    "sockets: netns",
    "census: groups.*.top[].exact",
    "census#2",
    "diagnose: findings[].netns",
];

/// Runs `tcpdoctor ARGS` and checks what it prints: a document, NDJSON
/// lines, or a sysctl audit (whose findings and summary are diagnose's).
pub(super) fn check_run(
    layouts: &mut BTreeMap<&'static str, Layout>,
    layout: &'static str,
    args: &[&str],
) {
    let from = format!("tcpdoctor {}", args.join(" "));
    let out = stdout_of(args);
    let l = layouts.get_mut(layout).expect("a layout");
    match layout {
        "watch" | "trace" => {
            for v in ndjson(&out, &from) {
                let root = usize::from(layout == "trace" && v.get("summary").is_some());
                l.check(&v, root, &from);
            }
        }
        "census" => {
            let v = parse_json(&out, &from);
            let root = usize::from(v.get("namespaces").is_some());
            l.check(&v, root, &from);
        }
        _ => {
            let v = parse_json(&out, &from);
            l.check(&v, 0, &from);
            let mut rest = v.clone();
            let diagnosis = match (layout, rest.as_object_mut()) {
                ("sysctl", Some(o)) => {
                    o.remove("lines");
                    Some(rest)
                }
                ("lab run", _) => v.get("diagnosis").cloned(),
                _ => None,
            };
            if let Some(d) = diagnosis {
                let d_layout = layouts.get_mut("diagnose").expect("diagnose");
                d_layout.check(&d, 0, &from);
            }
        }
    }
}

pub(super) fn problems(layouts: &BTreeMap<&'static str, Layout>) -> Vec<String> {
    layouts.values().flat_map(|l| l.problems.clone()).collect()
}
