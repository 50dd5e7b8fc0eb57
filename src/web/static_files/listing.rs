//! The HTML listing of a directory (only when enabled): names are
//! HTML-escaped in the text and percent-encoded in the links.

use std::fmt::Write;
use std::io;
use std::path::PathBuf;

use crate::web::percent;

/// Most entries listed; the rest are left out (the page says so).
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// One listed name.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) is_dir: bool,
}

/// The entries of the open directory `dir`, sorted; names that are not
/// UTF-8 (no request could name them) are skipped, and symbolic links too
/// unless followed. Read through `/proc/self/fd`, so it is the directory
/// that was opened (below the root), not whatever its path names now.
/// Blocking: run it on the blocking pool.
pub(crate) fn read_entries(
    dir: &std::fs::File,
    follow_symlinks: bool,
) -> io::Result<(Vec<Entry>, bool)> {
    use std::os::fd::AsRawFd;
    let mut entries = Vec::new();
    let mut truncated = false;
    let path = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type()?;
        if kind.is_symlink() && !follow_symlinks {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            truncated = true;
            break;
        }
        let is_dir = if kind.is_symlink() {
            entry.path().is_dir()
        } else {
            kind.is_dir()
        };
        entries.push(Entry { name, is_dir });
    }
    entries.sort_unstable();
    Ok((entries, truncated))
}

/// The page listing `entries` of the directory at URL path `url_path`.
pub(crate) fn render(url_path: &str, entries: &[Entry], truncated: bool) -> String {
    let title = escape_html(url_path);
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    for e in entries {
        let slash = if e.is_dir { "/" } else { "" };
        let _ = writeln!(
            page,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            encode_href(&e.name),
            escape_html(&e.name)
        );
    }
    page.push_str("</ul>\n");
    if truncated {
        let _ = writeln!(
            page,
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>"
        );
    }
    page.push_str("</body></html>\n");
    page
}

/// Escapes text for HTML content and quoted attributes.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a name for a relative link: every byte but the
/// unreserved ones, so `:` or `?` in a name cannot change the link's meaning.
fn encode_href(name: &str) -> String {
    percent::encode(name, percent::UNRESERVED).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_in_text_and_links() {
        let entries = [
            Entry {
                name: "<script>alert('x')</script>&\".txt".into(),
                is_dir: false,
            },
            Entry {
                name: "sub dir".into(),
                is_dir: true,
            },
            Entry {
                name: "javascript:x?y#z".into(),
                is_dir: false,
            },
        ];
        let page = render("/static/<b>/", &entries, false);
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;.txt"));
        assert!(page.contains("href=\"%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22.txt\""));
        assert!(page.contains("<a href=\"sub%20dir/\">sub dir/</a>"));
        assert!(page.contains("href=\"javascript%3Ax%3Fy%23z\""));
        assert!(!page.contains("entries are listed"));
        assert!(render("/", &[], true).contains("Only the first 10000 entries"));
    }
}
