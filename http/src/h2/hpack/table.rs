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
