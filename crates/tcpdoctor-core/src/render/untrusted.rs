//! Names other processes and other machines chose, made safe to print.
//!
//! A comm, a command line, a cgroup path, a namespace name, a sysctl value
//! from a dump or a recording can hold bytes a terminal obeys: ESC and the
//! 8-bit CSI start sequences that set the window title or clear the screen,
//! a newline splits a table row, a bidi override turns the rest of the
//! line around. Every text renderer (and the TUI) prints such strings
//! through [`shown`] or [`Shown`]; JSON, the HTML page and `/metrics`
//! escape in their own syntax and do not use it.
//!
//! The notation is Rust's string-literal escapes, so a shown name can be
//! pasted into a test or a `printf`-like tool as is:
//!
//! - `\n`, `\r`, `\t` for newline, carriage return and tab;
//! - `\xNN` (two lowercase hex digits) for the other C0 controls and DEL:
//!   ESC is `\x1b`, BEL `\x07`, NUL `\x00`;
//! - `\u{N}` (lowercase hex, no leading zeros) for everything else that is
//!   escaped: the C1 controls (`\u{9b}`, the 8-bit CSI), bidi embeddings,
//!   overrides, isolates and marks (`\u{202e}`, `\u{2066}`, `\u{200f}`,
//!   `\u{61c}`), the line and paragraph separators (`\u{2028}`,
//!   `\u{2029}`), and invisible characters that make one name look like
//!   another or like nothing: zero-width space, word joiner, invisible
//!   operators, BOM, soft hyphen, Hangul fillers, interlinear annotation
//!   marks, tag characters (`\u{e0041}`).
//!
//! Everything else passes unchanged: é, 中, emoji, and the zero-width
//! joiner and non-joiner that emoji sequences and some scripts need. A
//! backslash is not escaped either, so a process really named `\x1b` (four
//! printable characters) reads the same as one named with an ESC byte: the
//! point is that the terminal sees no control, not that the name round
//! trips.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is printed as an escape rather than as itself.
pub fn escaped(c: char) -> bool {
    c.is_control() // C0, DEL and C1: U+0000..U+001F, U+007F..U+009F
        || matches!(
            c,
            '\u{ad}'                      // soft hyphen
            | '\u{61c}'                   // Arabic letter mark
            | '\u{115f}' | '\u{1160}'     // Hangul fillers
            | '\u{180e}'                  // Mongolian vowel separator
            | '\u{200b}'                  // zero-width space
            | '\u{200e}' | '\u{200f}'     // LRM, RLM
            | '\u{2028}' | '\u{2029}'     // line, paragraph separator
            | '\u{202a}'..='\u{202e}'     // bidi embeddings, overrides
            | '\u{2060}'..='\u{2064}'     // word joiner, invisible operators
            | '\u{2066}'..='\u{206f}'     // bidi isolates, deprecated formats
            | '\u{3164}' | '\u{ffa0}'     // Hangul fillers
            | '\u{feff}'                  // BOM, zero-width no-break space
            | '\u{fff9}'..='\u{fffb}'     // interlinear annotation
            | '\u{1d173}'..='\u{1d17a}'   // musical formatting
            | '\u{e0000}'..='\u{e007f}'   // tags
        )
}

/// Writes the escape of one escaped character.
fn write_escape(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if c.is_ascii() => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

/// Writes `s` with every escaped character replaced by its escape.
fn write_shown(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some((at, c)) = rest.char_indices().find(|(_, c)| escaped(*c)) {
        out.write_str(&rest[..at])?;
        write_escape(out, c)?;
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `s` as a terminal may safely print it: borrowed, without allocating,
/// when nothing in it needs escaping.
pub fn shown(s: &str) -> Cow<'_, str> {
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write_shown(&mut out, s);
    Cow::Owned(out)
}

/// `s` shown as [`shown`] does, for `format!` and `write!`. It honours
/// width, alignment and precision (`{:<12}`), counted on what is shown.
#[derive(Clone, Copy, Debug)]
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_none() && f.precision().is_none() {
            write_shown(f, self.0)
        } else {
            f.pad(&shown(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(s: &str) -> String {
        match shown(s) {
            Cow::Owned(o) => o,
            Cow::Borrowed(b) => panic!("{b:?} should have been escaped"),
        }
    }

    #[test]
    fn c0_controls_newline_and_tab_are_escaped() {
        assert_eq!(owned("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(owned("\x1b[2J\x1b[H"), "\\x1b[2J\\x1b[H");
        assert_eq!(owned("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(
            owned("\0\x01\x08\x0b\x0c\x1f"),
            "\\x00\\x01\\x08\\x0b\\x0c\\x1f"
        );
        for c in (0u8..0x20).map(char::from) {
            assert!(escaped(c), "{:#x}", c as u32);
        }
    }

    #[test]
    fn del_and_c1_are_escaped() {
        assert_eq!(owned("x\x7fy"), "x\\x7fy");
        assert_eq!(owned("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(
            owned("\u{80}\u{85}\u{9d}\u{9f}"),
            "\\u{80}\\u{85}\\u{9d}\\u{9f}"
        );
        for c in (0x80u32..0xa0).filter_map(char::from_u32) {
            assert!(escaped(c), "{:#x}", c as u32);
        }
        assert!(!escaped('\u{a0}'), "no-break space prints");
    }

    #[test]
    fn bidi_overrides_isolates_and_marks_are_escaped() {
        assert_eq!(owned("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in ('\u{202a}'..='\u{202e}').chain('\u{2066}'..='\u{2069}') {
            assert!(escaped(c), "{:#x}", c as u32);
        }
        assert_eq!(
            owned("\u{200e}\u{200f}\u{61c}"),
            "\\u{200e}\\u{200f}\\u{61c}"
        );
    }

    #[test]
    fn invisible_and_line_breaking_format_characters_are_escaped() {
        assert_eq!(owned("a\u{2028}b\u{2029}"), "a\\u{2028}b\\u{2029}");
        assert_eq!(owned("\u{200b}\u{feff}\u{ad}"), "\\u{200b}\\u{feff}\\u{ad}");
        assert_eq!(owned("\u{2060}\u{3164}"), "\\u{2060}\\u{3164}");
        assert_eq!(owned("ok\u{e0041}\u{e007f}"), "ok\\u{e0041}\\u{e007f}");
    }

    #[test]
    fn ordinary_text_passes_unchanged_and_borrowed() {
        for s in [
            "",
            "nginx",
            "java -jar app.jar --port=8080",
            "/system.slice/nginx.service",
            "café",
            "中文进程",
            "Привет",
            "🦀 crab",
            "👨\u{200d}👩\u{200d}👧",
            "back\\slash \\x1b",
            "~!@#$%^&*()_+{}|:\"<>?`-=[];',./",
        ] {
            assert!(matches!(shown(s), Cow::Borrowed(b) if b == s), "{s:?}");
            assert_eq!(Shown(s).to_string(), s);
        }
    }

    #[test]
    fn mixed_text_keeps_its_utf8_around_the_escapes() {
        assert_eq!(owned("é\x1b中\u{9b}🦀"), "é\\x1b中\\u{9b}🦀");
        let s = owned("\u{202e}\u{202e}");
        assert_eq!(s, "\\u{202e}\\u{202e}");
        assert!(
            !s.chars().any(escaped),
            "the shown text needs no escape itself"
        );
    }

    #[test]
    fn the_wrapper_shows_the_same_and_pads_what_is_shown() {
        let hostile = "a\x1b[2Jb";
        assert_eq!(Shown(hostile).to_string(), shown(hostile));
        assert_eq!(format!("[{:<10}]", Shown(hostile)), "[a\\x1b[2Jb ]");
        assert_eq!(format!("[{:>4}]", Shown("é")), "[   é]");
        assert_eq!(format!("[{:.3}]", Shown("\n12")), "[\\n1]");
    }
}
