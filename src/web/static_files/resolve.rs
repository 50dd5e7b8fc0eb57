//! Opening a checked request path below the root without leaving it.
//! Blocking (lookups may wait for the disk): run on the blocking pool.
//!
//! The root is held open as a directory descriptor ([`RootDir`]) and every
//! file is opened relative to it by `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, plus `RESOLVE_NO_SYMLINKS` unless links are
//! followed (or, where the kernel lacks `openat2`, by a walk with
//! `openat(O_NOFOLLOW)` that applies the same rules). The check is the
//! open: a link swapped in after any earlier look at the tree still cannot
//! lead out, and a link target that is absolute or climbs above the root
//! is refused. What was opened is then looked at through its descriptor
//! (`fstat`): only regular files are served, never a FIFO, device or
//! socket, and directories only for their index file or listing.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use percore_runtime::fs::{Resolver, RootDir};

/// What a path inside the root names, opened.
#[derive(Debug)]
pub(crate) enum Found {
    /// A regular file, and what `fstat` says about it.
    File(File, Metadata),
    /// A directory (opened for reading, so that it can be listed).
    Dir(File),
}

fn not_found() -> io::Error {
    io::ErrorKind::NotFound.into()
}

/// The root, held open.
pub(crate) fn open_root(root: &Path) -> io::Result<RootDir> {
    RootDir::open(root)
}

/// Opens `segments` (already checked by `SafePath`) below `root`.
pub(crate) fn resolve(
    root: &RootDir,
    segments: &[String],
    follow_symlinks: bool,
    resolver: Resolver,
) -> io::Result<Found> {
    let rel: PathBuf = segments.iter().collect();
    let file = root.open_file(&rel, follow_symlinks, resolver)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok(Found::File(file, meta))
    } else if meta.is_dir() {
        Ok(Found::Dir(file))
    } else {
        Err(not_found())
    }
}

/// The sibling of the file at `segments` with `suffix` appended to its
/// name (`a.css.br`), if it is a regular file inside `root`.
pub(crate) fn sibling(
    root: &RootDir,
    segments: &[String],
    suffix: &str,
    follow_symlinks: bool,
    resolver: Resolver,
) -> io::Result<(File, Metadata)> {
    let (last, dirs) = segments.split_last().ok_or_else(not_found)?;
    let mut named = dirs.to_vec();
    named.push(format!("{last}{suffix}"));
    match resolve(root, &named, follow_symlinks, resolver)? {
        Found::File(file, meta) => Ok((file, meta)),
        Found::Dir(_) => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn tree(name: &str) -> (PathBuf, RootDir) {
        let base =
            std::env::temp_dir().join(format!("percore-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "a").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        symlink(base.join("secret.txt"), root.join("out")).unwrap();
        symlink("sub/a.txt", root.join("in")).unwrap();
        symlink(root.join("sub/a.txt"), root.join("in_abs")).unwrap();
        symlink("..", root.join("up")).unwrap();
        let dir = open_root(&root).unwrap();
        (base, dir)
    }

    fn seg(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn links_out_of_the_root_are_refused_links_inside_only_when_allowed() {
        let (base, root) = tree("links");
        assert!(matches!(
            resolve(&root, &seg(&["sub", "a.txt"]), false, Resolver::Auto),
            Ok(Found::File(..))
        ));
        assert!(matches!(
            resolve(&root, &seg(&["sub"]), false, Resolver::Auto),
            Ok(Found::Dir(_))
        ));
        assert!(matches!(
            resolve(&root, &[], false, Resolver::Auto),
            Ok(Found::Dir(_))
        ));
        for follow in [false, true] {
            assert!(resolve(&root, &seg(&["out"]), follow, Resolver::Auto).is_err());
            assert!(resolve(&root, &seg(&["up", "secret.txt"]), follow, Resolver::Auto).is_err());
            assert!(resolve(&root, &seg(&["missing"]), follow, Resolver::Auto).is_err());
            // An absolute target is refused even when it lies inside.
            assert!(resolve(&root, &seg(&["in_abs"]), follow, Resolver::Auto).is_err());
        }
        assert!(resolve(&root, &seg(&["in"]), false, Resolver::Auto).is_err());
        match resolve(&root, &seg(&["in"]), true, Resolver::Auto) {
            Ok(Found::File(mut file, meta)) => {
                let mut text = String::new();
                file.read_to_string(&mut text).unwrap();
                assert_eq!((text.as_str(), meta.len()), ("a", 1));
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn only_regular_siblings_inside_the_root() {
        let (base, root) = tree("siblings");
        let file = seg(&["sub", "a.txt"]);
        std::fs::write(base.join("root/sub/a.txt.gz"), "gz").unwrap();
        std::fs::create_dir(base.join("root/sub/a.txt.br")).unwrap();
        let (mut gz, _) = sibling(&root, &file, ".gz", false, Resolver::Auto).unwrap();
        let mut text = String::new();
        gz.read_to_string(&mut text).unwrap();
        assert_eq!(text, "gz");
        assert!(sibling(&root, &file, ".br", false, Resolver::Auto).is_err());
        symlink(base.join("secret.txt"), base.join("root/sub/a.txt.zst")).unwrap();
        assert!(sibling(&root, &file, ".zst", true, Resolver::Auto).is_err());
        std::fs::remove_dir_all(base).unwrap();
    }
}
