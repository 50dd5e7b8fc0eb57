//! The HPACK static table (RFC 7541 Appendix A) and the dynamic table
//! (§4): FIFO, entry size name + value + 32, eviction on insert and on
//! maximum size changes.

use std::collections::VecDeque;

use bytes::Bytes;

use super::entry_size;

/// The static table; HPACK index `i` (1..=61) is `STATIC_TABLE[i - 1]`.
pub static STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The static entries named `name`, as (first HPACK index, count): a
/// `match` on the name instead of a scan comparing all 61 names.
pub(crate) fn static_entries_named(name: &[u8]) -> Option<(usize, usize)> {
    let found = match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return None,
    };
    Some(found)
}

/// The dynamic table. Entry 0 is the newest (HPACK index 62).
///
/// ```
/// use percore_http::h2::hpack::DynamicTable;
/// let mut t = DynamicTable::new(100);
/// t.insert("a".into(), "b".into()); // 34 octets
/// t.insert("c".into(), "d".into());
/// t.insert("e".into(), "f".into()); // evicts a: b
/// assert_eq!((t.len(), t.size()), (2, 68));
/// assert_eq!(&t.get(0).unwrap().0[..], b"e");
/// t.set_max_size(40);
/// assert_eq!(t.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct DynamicTable {
    entries: VecDeque<(Bytes, Bytes)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    /// An empty table holding at most `max_size` octets.
    pub fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Current size: the sum of entry sizes (name + value + 32 each).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Maximum size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Entry `i`, 0 being the newest.
    pub fn get(&self, i: usize) -> Option<(&Bytes, &Bytes)> {
        self.entries.get(i).map(|(n, v)| (n, v))
    }

    /// Entries, newest first.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.entries.iter().map(|(n, v)| (n, v))
    }

    /// Adds an entry, evicting the oldest ones to make room; an entry larger
    /// than the maximum size empties the table and is not added.
    pub fn insert(&mut self, name: Bytes, value: Bytes) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.size += size;
        self.entries.push_front((name, value));
    }

    /// Changes the maximum size, evicting entries to fit.
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= entry_size(&n, &v),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_entries_named_matches_a_scan_of_the_table() {
        for (i, (name, _)) in STATIC_TABLE.iter().enumerate() {
            let indices: Vec<usize> = STATIC_TABLE
                .iter()
                .enumerate()
                .filter(|(_, (n, _))| n == name)
                .map(|(j, _)| j + 1)
                .collect();
            let (first, count) = static_entries_named(name.as_bytes())
                .unwrap_or_else(|| panic!("entry {} ({name}) not found", i + 1));
            assert_eq!(
                (first..first + count).collect::<Vec<_>>(),
                indices,
                "{name}"
            );
        }
        for unknown in [
            &b""[..],
            b"x-custom",
            b":statu",
            b"content-typ",
            b"Content-Type",
        ] {
            assert_eq!(static_entries_named(unknown), None);
        }
    }
}
