//! Finding a checked request path on disk without leaving the root.
//! Blocking (`canonicalize`, `stat`): run on the blocking pool.
//!
//! The root and the candidate are both made canonical (every symbolic link
//! resolved); the candidate must then lie inside the root, and, unless
//! symbolic links are allowed, must be exactly the path asked for, which it
//! is only if no component on the way is a link. The file is then opened by
//! that canonical path with `O_NOFOLLOW` (see `open`), and only regular
//! files are served: never a FIFO, device or socket.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

/// What a path inside the root names.
#[derive(Debug)]
pub(crate) enum Found {
    /// A regular file, by its canonical path.
    File(PathBuf),
    /// A directory, by its canonical path.
    Dir(PathBuf),
}

fn not_found() -> io::Error {
    io::ErrorKind::NotFound.into()
}

/// The canonical root.
pub(crate) fn canonical_root(root: &Path) -> io::Result<PathBuf> {
    std::fs::canonicalize(root)
}

/// Resolves `segments` (already checked by `SafePath`) below the canonical
/// `root`.
pub(crate) fn resolve(
    root: &Path,
    segments: &[String],
    follow_symlinks: bool,
) -> io::Result<Found> {
    let mut candidate = root.to_path_buf();
    candidate.extend(segments);
    resolve_candidate(root, candidate, follow_symlinks)
}

/// The sibling of the canonical `file` with `suffix` appended (`a.css.br`),
/// if it is a regular file inside `root`.
pub(crate) fn sibling(
    root: &Path,
    file: &Path,
    suffix: &str,
    follow_symlinks: bool,
) -> Option<PathBuf> {
    let mut name = OsString::from(file.as_os_str());
    name.push(suffix);
    match resolve_candidate(root, PathBuf::from(name), follow_symlinks) {
        Ok(Found::File(path)) => Some(path),
        _ => None,
    }
}

fn resolve_candidate(root: &Path, candidate: PathBuf, follow_symlinks: bool) -> io::Result<Found> {
    let real = std::fs::canonicalize(&candidate)?;
    if !real.starts_with(root) || (!follow_symlinks && real != candidate) {
        return Err(not_found());
    }
    kind(real)
}

fn kind(real: PathBuf) -> io::Result<Found> {
    let meta: Metadata = std::fs::metadata(&real)?;
    if meta.is_file() {
        Ok(Found::File(real))
    } else if meta.is_dir() {
        Ok(Found::Dir(real))
    } else {
        Err(not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(name: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("percore-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        symlink(base.join("secret.txt"), root.join("out")).unwrap();
        symlink(root.join("sub/a.txt"), root.join("in")).unwrap();
        symlink("..", root.join("up")).unwrap();
        (base, canonical_root(&root).unwrap())
    }

    fn seg(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn links_out_of_the_root_are_refused_links_inside_only_when_allowed() {
        let (base, root) = tree("links");
        assert!(matches!(
            resolve(&root, &seg(&["sub", "a.txt"]), false),
            Ok(Found::File(_))
        ));
        assert!(matches!(
            resolve(&root, &seg(&["sub"]), false),
            Ok(Found::Dir(_))
        ));
        assert!(matches!(resolve(&root, &[], false), Ok(Found::Dir(_))));
        for follow in [false, true] {
            assert!(resolve(&root, &seg(&["out"]), follow).is_err());
            assert!(resolve(&root, &seg(&["up", "secret.txt"]), follow).is_err());
            assert!(resolve(&root, &seg(&["missing"]), follow).is_err());
        }
        assert!(resolve(&root, &seg(&["in"]), false).is_err());
        match resolve(&root, &seg(&["in"]), true) {
            Ok(Found::File(p)) => assert_eq!(p, root.join("sub/a.txt")),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn only_regular_siblings_inside_the_root() {
        let (base, root) = tree("siblings");
        let file = root.join("sub/a.txt");
        std::fs::write(root.join("sub/a.txt.gz"), "gz").unwrap();
        std::fs::create_dir(root.join("sub/a.txt.br")).unwrap();
        assert_eq!(
            sibling(&root, &file, ".gz", false),
            Some(root.join("sub/a.txt.gz"))
        );
        assert_eq!(sibling(&root, &file, ".br", false), None);
        symlink(base.join("secret.txt"), root.join("sub/a.txt.zst")).unwrap();
        assert_eq!(sibling(&root, &file, ".zst", true), None);
        std::fs::remove_dir_all(base).unwrap();
    }
}
