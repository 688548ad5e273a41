//! Golden files: an output compared with the file committed for it.

use std::path::Path;

/// The variable that rewrites golden files instead of failing on them.
pub const BLESS: &str = "TCPDOCTOR_BLESS";

/// Fails unless `actual` is exactly the committed file at `path`. With
/// `TCPDOCTOR_BLESS=1` in the environment the file is first rewritten
/// with `actual` (then review the diff).
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os(BLESS).is_some() {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    let want = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} ({BLESS}=1 creates it)", path.display()));
    assert_eq!(
        actual,
        want,
        "output differs from {} ({BLESS}=1 rewrites it: review the diff)",
        path.display()
    );
}
