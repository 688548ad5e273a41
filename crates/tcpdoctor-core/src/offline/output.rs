//! Creating the files tcpdoctor writes where it is told (`snapshot -o`,
//! `watch --record`). It often runs as root, and the path is often in a
//! directory others may write (/tmp): opening it the ordinary way
//! (O_CREAT|O_TRUNC) would follow a symbolic link another user put there,
//! or truncate a hard link to a file of root's, and keep the mode of a file
//! that was there (0644) although what is written names processes and may
//! hold their command lines.
//!
//! What is done instead:
//!
//! - nothing at the path: the file is created with O_CREAT|O_EXCL|O_NOFOLLOW
//!   (which never follows a link, even a dangling one) and mode 0600;
//! - a regular file of the user's own: a new file, made the same way under
//!   a unique name in the same directory, is renamed over it at once (before
//!   anything is written, so that `watch --record` streams into the file at
//!   its final name and a killed watch leaves what it wrote). rename(2)
//!   replaces the name, never what a link points to: the old file's inode,
//!   and any other name it has, is left as it was;
//! - a symbolic link: an error. Following it is what must not happen, and
//!   silently replacing the link with a file would surprise whoever made it
//!   point somewhere on purpose: the error says to name the target itself.
//!   (A link put there after the check is replaced by the rename, never
//!   followed.)
//! - a FIFO, a device, a socket or a directory: an error naming what it is
//!   (writing to a FIFO would block until someone reads it);
//! - a file owned by another user: an error; root replacing another user's
//!   file is not what `-o` asks for.
//!
//! Whatever was there, the result is a regular file of mode 0600 (set with
//! fchmod, whatever the umask) owned by the user who runs tcpdoctor.

use crate::error::{Error, Result};
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How often a path that appears and disappears meanwhile is tried again.
const ATTEMPTS: usize = 8;

/// Creates `path` as a new regular file readable by its owner only (0600),
/// replacing a regular file of the caller's own; see the module's comment.
pub(super) fn create_private(path: &Path) -> Result<File> {
    let fail = |e: io::Error| Error::write(path, e);
    for _ in 0..ATTEMPTS {
        match create_new(path) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail(e)),
        }
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            // Removed since: create it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(fail(e)),
        };
        refuse(&meta).map_err(fail)?;
        return replace(path).map_err(fail);
    }
    Err(fail(io::Error::other(
        "it was created and removed again while tcpdoctor tried to create it",
    )))
}

/// A new file at `path`: never through a link, never an existing file.
fn create_new(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // The umask may have taken bits away; 0600 is what is promised.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Why what is at the path is not replaced, if it is not.
fn refuse(meta: &Metadata) -> io::Result<()> {
    let t = meta.file_type();
    if t.is_symlink() {
        return Err(io::Error::other(
            "it is a symbolic link, and tcpdoctor does not write through links \
             (name the file it points to, or remove the link)",
        ));
    }
    if let Some(what) = file_kind(t) {
        return Err(io::Error::other(format!(
            "it is {what}: tcpdoctor writes regular files only (name a file)"
        )));
    }
    // SAFETY: geteuid has no preconditions and never fails.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(io::Error::other(format!(
            "the file there belongs to uid {}, not to uid {me} who runs tcpdoctor: \
             it is not replaced (remove it, or name another file)",
            meta.uid()
        )));
    }
    Ok(())
}

/// A fresh 0600 file renamed over `path`.
fn replace(path: &Path) -> io::Result<File> {
    let (tmp, f) = create_beside(path)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(f)
}

/// A new file in the directory of `path`, under a name no one else uses.
fn create_beside(path: &Path) -> io::Result<(PathBuf, File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let base = path.file_name().unwrap_or_default().to_string_lossy();
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{base}.tcpdoctor-{}-{n}-{nanos:x}",
            std::process::id()
        ));
        match create_new(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no unique name")))
}

/// What a file that is not a regular one is, in words ("a FIFO (named
/// pipe)"), for errors about a path tcpdoctor will neither read nor write;
/// None for a regular file.
pub fn file_kind(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    Some(if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tcpdoctor-output-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("metadata").mode() & 0o7777
    }

    #[test]
    fn a_new_file_is_0600_and_an_old_one_is_replaced() {
        let d = scratch("new");
        let p = d.join("out.json");
        create_private(&p)
            .expect("creates")
            .write_all(b"one")
            .expect("writes");
        assert_eq!(mode(&p), 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let other = d.join("other-name");
        std::fs::hard_link(&p, &other).expect("hard link");
        create_private(&p)
            .expect("replaces")
            .write_all(b"two")
            .expect("writes");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(std::fs::read(&p).expect("reads"), b"two");
        // The old inode, under its other name, is untouched.
        assert_eq!(std::fs::read(&other).expect("reads"), b"one");
        let left: Vec<_> = std::fs::read_dir(&d).expect("lists").collect();
        assert_eq!(left.len(), 2, "no temporary file is left");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn links_and_special_files_are_refused() {
        let d = scratch("refused");
        let victim = d.join("victim");
        std::fs::write(&victim, b"keep").expect("writes");
        let link = d.join("link.gz");
        std::os::unix::fs::symlink(&victim, &link).expect("symlink");
        let e = create_private(&link).expect_err("a link");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let dangling = d.join("dangling");
        std::os::unix::fs::symlink(d.join("nowhere"), &dangling).expect("symlink");
        create_private(&dangling).expect_err("a dangling link");
        assert!(!d.join("nowhere").exists());
        let e = create_private(&d).expect_err("a directory");
        assert!(e.to_string().contains("a directory"), "{e}");
        assert_eq!(std::fs::read(&victim).expect("reads"), b"keep");
        let _ = std::fs::remove_dir_all(&d);
    }
}
