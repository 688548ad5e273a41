//! The mirrors' layouts checked against records.h and the committed
//! objects' BTF: a change on one side only fails here.

use super::*;
use libbpf_rs::btf::types::{Array, DataSec, MemberAttr, Struct, Var};
use libbpf_rs::btf::{Btf, BtfKind, BtfType, HasSize, ReferencesType};
use std::collections::BTreeMap;

const RECORDS_H: &str = include_str!("../../../../bpf/records.h");

/// A struct's size, and each field's name, offset and size, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    size: usize,
    fields: Vec<(String, usize, usize)>,
}

impl Layout {
    pub(crate) fn new(size: usize, fields: &[(&str, usize, usize)]) -> Layout {
        Layout {
            size,
            fields: fields
                .iter()
                .map(|&(n, o, s)| (n.to_string(), o, s))
                .collect(),
        }
    }
}

/// The mirrors of records.h's structs, by C name.
fn mirrors() -> BTreeMap<&'static str, Layout> {
    BTreeMap::from([
        ("tcpd_fd_record", tcpd_fd_record::layout()),
        ("tcpd_closer", tcpd_closer::layout()),
        ("tcpd_event", tcpd_event::layout()),
        ("tcpd_conn", tcpd_conn::layout()),
        ("tcpd_open_key", tcpd_open_key::layout()),
        ("tcpd_walk_args", tcpd_walk_args::layout()),
    ])
}

/// records.h's #defines with a number, as Rust has them.
fn defines() -> BTreeMap<String, u64> {
    [
        ("TCPD_FAMILIES", TCPD_FAMILIES as u64),
        ("TCPD_STATES", TCPD_STATES as u64),
        ("TCPD_CLOSERS_MAX", u64::from(TCPD_CLOSERS_MAX)),
        ("TCPD_SIDE_FIRST", u64::from(TCPD_SIDE_FIRST)),
        ("TCPD_SIDE_LAST", u64::from(TCPD_SIDE_LAST)),
        ("TCPD_OPENED_CONNECTED", u64::from(TCPD_OPENED_CONNECTED)),
        ("TCPD_OPENED_ACCEPTED", u64::from(TCPD_OPENED_ACCEPTED)),
        ("TCPD_OPEN_GROUPS_MAX", u64::from(TCPD_OPEN_GROUPS_MAX)),
        ("TCPD_FD_TCP", u64::from(TCPD_FD_TCP)),
        ("TCPD_FD_COUNT", u64::from(TCPD_FD_COUNT)),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect()
}

/// `enum tcpd_walk_info` as Rust has it, in order.
fn walk_info() -> Vec<(String, u64)> {
    [
        ("TCPD_WALK_EHASH_BUCKETS", TCPD_WALK_EHASH_BUCKETS),
        ("TCPD_WALK_LHASH_BUCKETS", TCPD_WALK_LHASH_BUCKETS),
        ("TCPD_WALK_MOVED", TCPD_WALK_MOVED),
        ("TCPD_WALK_LONG_CHAINS", TCPD_WALK_LONG_CHAINS),
        ("TCPD_WALK_UNREADABLE", TCPD_WALK_UNREADABLE),
        ("TCPD_WALK_INFO", TCPD_WALK_INFO),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), u64::from(v)))
    .collect()
}

/// The objects the crate embeds (the same bytes: the modules' statics).
fn objects() -> [(&'static str, &'static [u8]); 4] {
    [
        ("census", super::super::census::OBJECT),
        ("walk", super::super::walk::OBJECT),
        ("owners", super::super::owners::OBJECT),
        ("closers", super::super::closers::OBJECT),
    ]
}

// ---- records.h, read as text ----

/// What records.h declares: each struct with its C layout and the size
/// its comment gives ("N bytes"), each enum's entries, each #define's
/// number.
#[derive(Debug, Default)]
struct Header {
    structs: BTreeMap<String, (Layout, usize, Option<usize>)>,
    enums: BTreeMap<String, Vec<(String, u64)>>,
    defines: BTreeMap<String, u64>,
}

/// Splits C into code (each comment replaced by a space) and the
/// comments, each with where it stood in the code.
fn strip_comments(src: &str) -> (String, Vec<(usize, String)>) {
    let (mut code, mut comments) = (String::new(), Vec::new());
    let mut rest = src;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        let (start, end_mark) = match (block, line) {
            (Some(b), Some(l)) if l < b => (l, "\n"),
            (Some(b), _) => (b, "*/"),
            (None, Some(l)) => (l, "\n"),
            (None, None) => break,
        };
        code.push_str(&rest[..start]);
        let body = &rest[start + 2..];
        let end = body
            .find(end_mark)
            .unwrap_or_else(|| panic!("records.h: an unterminated comment"));
        comments.push((code.len(), body[..end].to_string()));
        code.push(' ');
        rest = &body[end + end_mark.len()..];
        if end_mark == "\n" {
            code.push('\n');
        }
    }
    code.push_str(rest);
    (code, comments)
}

/// "... 40 bytes ..." in a comment: the 40.
fn size_in(comment: &str) -> Option<usize> {
    let words: Vec<&str> = comment.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        (w[1].trim_end_matches(['.', ',', ';', ')']) == "bytes")
            .then(|| w[0].parse().ok())
            .flatten()
    })
}

/// The words and punctuation of C code, each with where it starts.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut word: Option<(usize, String)> = None;
    for (at, c) in code.char_indices() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.get_or_insert_with(|| (at, String::new())).1.push(c);
            continue;
        }
        out.extend(word.take());
        if !c.is_whitespace() {
            out.push((at, c.to_string()));
        }
    }
    out.extend(word);
    out
}

fn parse_header(src: &str) -> Header {
    let (code, comments) = strip_comments(src);
    let mut h = Header::default();
    // Preprocessor lines: #define NAME NUMBER is a number; the others
    // (the include guard) say nothing about layouts. Blanked, so that
    // positions in `body` are those in `code`.
    let mut body = String::new();
    for line in code.split_inclusive('\n') {
        let t = line.trim();
        if let Some(def) = t.strip_prefix("#define") {
            let mut w = def.split_whitespace();
            if let (Some(name), Some(value)) = (w.next(), w.next()) {
                let v = value
                    .parse()
                    .unwrap_or_else(|_| panic!("records.h: #define {name} {value}"));
                h.defines.insert(name.to_string(), v);
            }
        }
        if t.starts_with('#') {
            body.extend(line.chars().map(|c| if c == '\n' { c } else { ' ' }));
        } else {
            body.push_str(line);
        }
    }
    // The comment right before `pos` (nothing but blanks between).
    let comment_before = |pos: usize| -> Option<&String> {
        comments
            .iter()
            .rev()
            .find(|(p, _)| *p <= pos && body[*p..pos].trim().is_empty())
            .map(|(_, c)| c)
    };
    let toks = tokens(&body);
    let t: Vec<&str> = toks.iter().map(|(_, w)| w.as_str()).collect();
    let expect = |i: &mut usize, what: &str| {
        assert_eq!(
            t.get(*i).copied(),
            Some(what),
            "records.h: after {:?}",
            &t[i.saturating_sub(4)..*i]
        );
        *i += 1;
    };
    let number = |h: &Header, s: &str| -> u64 {
        s.parse()
            .ok()
            .or_else(|| h.defines.get(s).copied())
            .unwrap_or_else(|| panic!("records.h: {s} is no number"))
    };
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            "struct" => {
                let name = t[i + 1].to_string();
                let size_comment = comment_before(toks[i].0).and_then(|c| size_in(c));
                i += 2;
                expect(&mut i, "{");
                let (mut offset, mut align, mut fields) = (0usize, 1usize, Vec::new());
                while t[i] != "}" {
                    // A field: a type (a word, or struct and a word), a
                    // name, maybe [N], then ;.
                    let (size, field_align) = match t[i] {
                        "__u8" | "__s8" | "char" => (1, 1),
                        "__u16" | "__s16" => (2, 2),
                        "__u32" | "__s32" | "int" => (4, 4),
                        "__u64" | "__s64" => (8, 8),
                        "struct" => {
                            i += 1;
                            let (l, a, _) = h.structs.get(t[i]).unwrap_or_else(|| {
                                panic!("records.h: struct {} before its definition", t[i])
                            });
                            (l.size, *a)
                        }
                        other => panic!("records.h: a field of type {other} in {name}"),
                    };
                    let field = t[i + 1].to_string();
                    i += 2;
                    let mut count = 1;
                    if t[i] == "[" {
                        count = number(&h, t[i + 1]) as usize;
                        i += 2;
                        expect(&mut i, "]");
                    }
                    expect(&mut i, ";");
                    offset = offset.next_multiple_of(field_align);
                    fields.push((field, offset, size * count));
                    offset += size * count;
                    align = align.max(field_align);
                }
                i += 1;
                expect(&mut i, ";");
                let layout = Layout {
                    size: offset.next_multiple_of(align),
                    fields,
                };
                h.structs.insert(name, (layout, align, size_comment));
            }
            "enum" => {
                let name = t[i + 1].to_string();
                i += 2;
                expect(&mut i, "{");
                let (mut next, mut entries) = (0u64, Vec::new());
                while t[i] != "}" {
                    let entry = t[i].to_string();
                    i += 1;
                    if t[i] == "=" {
                        next = number(&h, t[i + 1]);
                        i += 2;
                    }
                    entries.push((entry, next));
                    next += 1;
                    if t[i] == "," {
                        i += 1;
                    }
                }
                i += 1;
                expect(&mut i, ";");
                h.enums.insert(name, entries);
            }
            other => panic!("records.h: {other} where a struct or an enum was expected"),
        }
    }
    h
}

#[test]
fn records_h_is_read_as_the_c_compiler_lays_it_out() {
    let h = parse_header(
        "/* A thing. 12 bytes. */\nstruct a { __u8 x; __u32 y; char z[3]; };\n\
         #define N 2\n// none\nstruct b { struct a a[N]; __u64 w; };\n\
         enum e { E0, E1 = 5, E2 };",
    );
    let (a, a_align, a_comment) = &h.structs["a"];
    assert_eq!(
        a,
        &Layout::new(12, &[("x", 0, 1), ("y", 4, 4), ("z", 8, 3)])
    );
    assert_eq!((*a_align, *a_comment), (4, Some(12)));
    let (b, _, b_comment) = &h.structs["b"];
    assert_eq!(b, &Layout::new(32, &[("a", 0, 24), ("w", 24, 8)]));
    assert_eq!(*b_comment, None);
    let e: Vec<_> = h.enums["e"].iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(e, [("E0", 0), ("E1", 5), ("E2", 6)]);
}

#[test]
fn every_struct_of_records_h_is_mirrored_field_for_field() {
    let h = parse_header(RECORDS_H);
    let mirrors = mirrors();
    for (name, (layout, _, size_comment)) in &h.structs {
        let mirror = mirrors
            .get(name.as_str())
            .unwrap_or_else(|| panic!("struct {name} of records.h has no Rust mirror"));
        assert_eq!(mirror, layout, "struct {name}: Rust, then records.h");
        if let Some(size) = size_comment {
            assert_eq!(
                *size, layout.size,
                "struct {name}: the size its comment says"
            );
        }
    }
    for name in mirrors.keys() {
        assert!(h.structs.contains_key(*name), "{name} is not in records.h");
    }
}

#[test]
fn the_numbers_of_records_h_are_rusts() {
    let h = parse_header(RECORDS_H);
    assert_eq!(h.defines, defines(), "#defines: records.h, then Rust");
    assert_eq!(h.enums.keys().collect::<Vec<_>>(), ["tcpd_walk_info"]);
    assert_eq!(h.enums["tcpd_walk_info"], walk_info());
}

#[test]
fn a_field_changed_in_records_h_alone_fails_the_check() {
    let changed = RECORDS_H.replace("__u16 sport; /* the local", "__u32 sport; /* the local");
    assert_ne!(changed, RECORDS_H, "the line to change is there");
    let (layout, _, _) = &parse_header(&changed).structs["tcpd_closer"];
    assert_ne!(layout, &tcpd_closer::layout());
}

// ---- the objects' BTF ----

fn btf_of(name: &'static str, bytes: &'static [u8]) -> Btf<'static> {
    Btf::from_raw(name, bytes)
        .unwrap_or_else(|e| panic!("{name}.bpf.o opens: {e}"))
        .unwrap_or_else(|| panic!("{name}.bpf.o has BTF"))
}

fn name_of(t: &BtfType<'_>) -> String {
    t.name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The size of a type, in bytes.
fn size_of_type(btf: &Btf<'_>, t: BtfType<'_>) -> usize {
    use libbpf_rs::btf::types::{Enum, Int, Union};
    let t = t.skip_mods_and_typedefs();
    let size = match t.kind() {
        BtfKind::Array => Array::try_from(t)
            .ok()
            .map(|a| a.capacity() * size_of_type(btf, a.contained_type())),
        BtfKind::Ptr => btf.ptr_size().ok().map(|s| s.get()),
        BtfKind::Int => Int::try_from(t).ok().map(|x| x.size()),
        BtfKind::Struct => Struct::try_from(t).ok().map(|x| x.size()),
        BtfKind::Union => Union::try_from(t).ok().map(|x| x.size()),
        BtfKind::Enum => Enum::try_from(t).ok().map(|x| x.size()),
        _ => None,
    };
    size.unwrap_or_else(|| panic!("{:?} {}: no size", t.kind(), name_of(&t)))
}

fn struct_layout(btf: &Btf<'_>, s: &Struct<'_>) -> Layout {
    let fields = (0..s.len())
        .filter_map(|i| s.get(i))
        .map(|m| {
            let name = m
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let MemberAttr::Normal { offset } = m.attr else {
                panic!("{name}: a bit field")
            };
            assert_eq!(offset % 8, 0, "{name}: a bit offset");
            let ty = btf
                .type_by_id::<BtfType<'_>>(m.ty)
                .unwrap_or_else(|| panic!("{name}: its type"));
            (name, offset as usize / 8, size_of_type(btf, ty))
        })
        .collect();
    Layout {
        size: s.size(),
        fields,
    }
}

/// The variables of a data section as a struct: name, offset, size.
fn datasec_layout(btf: &Btf<'_>, d: &DataSec<'_>) -> Layout {
    let fields = (0..d.len())
        .filter_map(|i| d.get(i))
        .map(|v| {
            let var = btf
                .type_by_id::<BtfType<'_>>(v.ty)
                .unwrap_or_else(|| panic!("a variable"));
            (name_of(&var), v.offset as usize, v.size)
        })
        .collect();
    Layout {
        size: d.size(),
        fields,
    }
}

#[test]
fn every_record_in_the_objects_btf_is_its_mirror() {
    let mirrors = mirrors();
    let mut checked = Vec::new();
    for (object, bytes) in objects() {
        let btf = btf_of(object, bytes);
        for s in btf.type_by_kind::<Struct<'_>>() {
            let name = name_of(&s);
            if !name.starts_with("tcpd_") {
                continue; // the kernel's types, or a program's own state
            }
            let mirror = mirrors
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{object}.bpf.o: struct {name} has no Rust mirror"));
            assert_eq!(
                mirror,
                &struct_layout(&btf, &s),
                "{object}.bpf.o: struct {name}: Rust, then the BTF"
            );
            checked.push(format!("{object}:{name}"));
        }
    }
    // The ones the objects' BTF carries today (tcpd_event and
    // tcpd_fd_record are only locals, so records.h checks those).
    for want in [
        "closers:tcpd_closer",
        "closers:tcpd_conn",
        "closers:tcpd_open_key",
    ] {
        assert!(
            checked.iter().any(|c| c == want),
            "{want} checked: {checked:?}"
        );
    }
}

#[test]
fn every_objects_rodata_is_the_rust_rodata() {
    for (object, bytes) in objects() {
        let btf = btf_of(object, bytes);
        let d = btf
            .type_by_name::<DataSec<'_>>(".rodata")
            .unwrap_or_else(|| panic!("{object}.bpf.o has a .rodata"));
        assert_eq!(
            rodata::layout(),
            datasec_layout(&btf, &d),
            "{object}.bpf.o: .rodata: Rust, then the BTF"
        );
    }
}

/// A map's key and value (type name, size) and max_entries, from its
/// BTF definition (`__type(key, ...)` is a pointer to the key's type,
/// `__uint(max_entries, N)` a pointer to an array of N).
type MapDef = (Option<(String, usize)>, Option<(String, usize)>, usize);

fn maps_of(btf: &Btf<'_>) -> BTreeMap<String, MapDef> {
    let Some(d) = btf.type_by_name::<DataSec<'_>>(".maps") else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for v in (0..d.len()).filter_map(|i| d.get(i)) {
        let var = btf
            .type_by_id::<Var<'_>>(v.ty)
            .unwrap_or_else(|| panic!("a map variable"));
        let def = Struct::try_from(var.referenced_type().skip_mods_and_typedefs())
            .unwrap_or_else(|_| panic!("{}: a struct", name_of(&var)));
        let mut map: MapDef = (None, None, 0);
        for m in (0..def.len()).filter_map(|i| def.get(i)) {
            let field = m.name.map(|n| n.to_string_lossy().into_owned());
            let pointee = btf
                .type_by_id::<BtfType<'_>>(m.ty)
                .and_then(|p| p.next_type())
                .unwrap_or_else(|| panic!("{}: {field:?} points", name_of(&var)));
            match field.as_deref() {
                Some("key") => {
                    let k = pointee.skip_mods_and_typedefs();
                    map.0 = Some((name_of(&k), size_of_type(btf, pointee)));
                }
                Some("value") => {
                    let k = pointee.skip_mods_and_typedefs();
                    map.1 = Some((name_of(&k), size_of_type(btf, pointee)));
                }
                Some("max_entries") => {
                    map.2 = Array::try_from(pointee).map_or(0, |a| a.capacity());
                }
                _ => {}
            }
        }
        out.insert(name_of(&var), map);
    }
    out
}

#[test]
fn every_map_holds_the_keys_and_values_its_reader_reads() {
    let int = |size: usize| Some((String::new(), size));
    let rec = |name: &str, size: usize| Some((name.to_string(), size));
    let counts = || ("tcpd_counts", (int(4), int(8), TCPD_FAMILIES * TCPD_STATES));
    let want: [(&str, Vec<(&str, MapDef)>); 4] = [
        ("census", vec![counts()]),
        (
            "walk",
            vec![
                counts(),
                ("tcpd_walk", (int(4), int(8), TCPD_WALK_INFO as usize)),
            ],
        ),
        ("owners", vec![]),
        (
            "closers",
            vec![
                (
                    "tcpd_closers",
                    (
                        int(8),
                        rec("tcpd_closer", size_of::<tcpd_closer>()),
                        TCPD_CLOSERS_MAX as usize,
                    ),
                ),
                (
                    "tcpd_conns",
                    (int(4), rec("tcpd_conn", size_of::<tcpd_conn>()), 0),
                ),
                (
                    "tcpd_opens",
                    (
                        rec("tcpd_open_key", size_of::<tcpd_open_key>()),
                        int(8),
                        TCPD_OPEN_GROUPS_MAX as usize,
                    ),
                ),
                ("tcpd_events", (None, None, 4 << 20)),
                ("tcpd_lost", (int(4), int(8), 1)),
            ],
        ),
    ];
    for ((object, bytes), (named, maps)) in objects().into_iter().zip(want) {
        assert_eq!(object, named);
        let mut found = maps_of(&btf_of(object, bytes));
        // Integers by size alone: their names are the compiler's.
        for def in found.values_mut() {
            for kv in [&mut def.0, &mut def.1].into_iter().flatten() {
                if !kv.0.starts_with("tcpd_") {
                    kv.0.clear();
                }
            }
        }
        let want: BTreeMap<String, MapDef> =
            maps.into_iter().map(|(n, d)| (n.to_string(), d)).collect();
        assert_eq!(
            found, want,
            "{object}.bpf.o: its maps, then what Rust reads"
        );
    }
}

#[test]
fn records_read_back_as_written() {
    let c = tcpd_closer {
        ts_ns: 1,
        cgroup_id: 2,
        pid: 3,
        side: TCPD_SIDE_LAST,
        pad: 0,
        sport: 4,
        comm: *b"sixteen bytes!!\0",
    };
    let bytes = bytes_of(&c);
    assert_eq!(bytes.len(), 40);
    assert_eq!(read::<tcpd_closer>(bytes), Some(c));
    let mut longer = bytes.to_vec();
    longer.push(9);
    assert_eq!(read::<tcpd_closer>(&bytes[1..]), None, "short by a byte");
    assert_eq!(
        read::<tcpd_closer>(&longer),
        Some(c),
        "a longer buffer's start"
    );
}
