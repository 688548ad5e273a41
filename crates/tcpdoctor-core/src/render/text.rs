//! Helpers shared by the text renderers.

use std::io::{self, Write};

/// The one way text output shows an untrusted name (see `untrusted`).
pub use super::untrusted::{Shown, shown};

/// Wraps `text` at `width` columns, each line indented by `indent`. The
/// text is shown (`untrusted::shown`): a newline or a control in it is
/// escaped, never obeyed.
pub fn wrap(text: &str, width: usize, indent: &str, out: &mut dyn Write) -> io::Result<()> {
    let text = shown(text);
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            writeln!(out, "{indent}{line}")?;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}
