//! The HPACK encoder (RFC 7541 §6, §4.2 size updates).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};

use super::primitive::{encode_integer, encode_string, encode_string_plain};
use super::table::{static_entries_named, DynamicTable, STATIC_TABLE};
use super::{entry_size, DEFAULT_TABLE_SIZE};

/// Encodes header blocks; one per connection, blocks sent in the order
/// they were encoded.
///
/// Policy: exact matches in the static or dynamic table are sent as an
/// index; other fields are literals with incremental indexing (so repeated
/// response headers cost one octet), except values that rarely repeat
/// (`:path`, `content-length`, `etag`, …), which are not indexed, and
/// credentials (`authorization`, `proxy-authorization`, `cookie`,
/// `set-cookie`), which are sent never-indexed. Strings are Huffman-coded
/// when that is shorter.
///
/// ```
/// use bytes::BytesMut;
/// use http::{header, HeaderMap, HeaderValue, StatusCode};
/// use percore_http::h2::hpack::Encoder;
/// let mut enc = Encoder::new(4096);
/// let mut headers = HeaderMap::new();
/// headers.insert(header::SERVER, HeaderValue::from_static("percore"));
/// let mut first = BytesMut::new();
/// enc.encode_response(StatusCode::OK, &headers, &mut first);
/// let mut second = BytesMut::new();
/// enc.encode_response(StatusCode::OK, &headers, &mut second);
/// assert_eq!(&second[..], &[0x88, 0xbe]); // :status 200 (static), server (dynamic)
/// ```
#[derive(Debug, Clone)]
pub struct Encoder {
    table: DynamicTable,
    /// Our own cap on the table size, whatever the peer allows.
    limit: usize,
    /// Size updates owed at the start of the next block: (smallest, final).
    pending_update: Option<(usize, usize)>,
    huffman: bool,
    /// The last `:path` sent as a literal and its encoded string: a
    /// client sending to the same path again copies it instead of
    /// Huffman-coding it again.
    last_path: (Vec<u8>, BytesMut),
}

/// The longest `:path` [`Encoder`] keeps encoded for the next request.
const PATH_MEMO_MAX: usize = 256;

/// Connection-specific fields, forbidden in HTTP/2 (RFC 9113 §8.2.2).
pub(crate) fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade"
    )
}

fn is_sensitive(name: &[u8]) -> bool {
    matches!(
        name,
        b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie"
    )
}

fn not_worth_indexing(name: &[u8]) -> bool {
    matches!(
        name,
        b":path"
            | b"content-length"
            | b"age"
            | b"etag"
            | b"last-modified"
            | b"if-modified-since"
            | b"if-none-match"
            | b"content-range"
    )
}

impl Encoder {
    /// An encoder whose dynamic table never exceeds `max_table_size`
    /// (our cap, e.g. `Limits::h2_max_encoder_table_size`) nor the peer's
    /// SETTINGS_HEADER_TABLE_SIZE (4096 until it says otherwise). A cap
    /// below 4096 is announced by a size update in the first block.
    pub fn new(max_table_size: usize) -> Encoder {
        let size = max_table_size.min(DEFAULT_TABLE_SIZE);
        Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            limit: max_table_size,
            pending_update: (size != DEFAULT_TABLE_SIZE).then_some((size, size)),
            huffman: true,
            last_path: (Vec::new(), BytesMut::new()),
        }
    }

    /// An encoder that never indexes and refers only to the static table:
    /// its blocks leave the peer's dynamic table as it is, so one block
    /// can be sent again and again, at any point of any connection (after
    /// the size updates the connection's own encoder owes).
    pub(crate) fn without_table() -> Encoder {
        Encoder {
            table: DynamicTable::new(0),
            limit: 0,
            pending_update: None,
            huffman: true,
            last_path: (Vec::new(), BytesMut::new()),
        }
    }

    /// Whether the next block must start with a table size update.
    pub(crate) fn owes_size_update(&self) -> bool {
        self.pending_update.is_some()
    }

    /// Applies the peer's SETTINGS_HEADER_TABLE_SIZE: the table size
    /// becomes `min(peer, our cap)`, announced at the start of the next block.
    pub fn set_max_table_size(&mut self, peer_table_size: usize) {
        let new = peer_table_size.min(self.limit);
        let (current_min, current) = self
            .pending_update
            .unwrap_or((self.table.max_size(), self.table.max_size()));
        if new == current && self.pending_update.is_none() {
            return;
        }
        self.pending_update = Some((current_min.min(new), new));
    }

    /// Whether strings may be Huffman-coded (default: yes, when shorter).
    pub fn set_huffman(&mut self, enabled: bool) {
        self.huffman = enabled;
        self.last_path.0.clear();
        self.last_path.1.clear();
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Encodes a response header block: `:status`, then `headers`
    /// (connection-specific fields are skipped).
    pub fn encode_response(&mut self, status: StatusCode, headers: &HeaderMap, dst: &mut BytesMut) {
        self.begin_block(dst);
        self.encode_field(b":status", status.as_str().as_bytes(), dst);
        self.encode_map(headers, dst);
    }

    /// Encodes a request header block: `:method`, `:scheme`, `:authority`
    /// (when given), `:path`, then `headers` (connection-specific fields
    /// are skipped).
    pub fn encode_request(
        &mut self,
        method: &Method,
        scheme: &str,
        authority: Option<&str>,
        path: &str,
        headers: &HeaderMap,
        dst: &mut BytesMut,
    ) {
        self.begin_block(dst);
        self.encode_field(b":method", method.as_str().as_bytes(), dst);
        self.encode_field(b":scheme", scheme.as_bytes(), dst);
        if let Some(authority) = authority {
            self.encode_field(b":authority", authority.as_bytes(), dst);
        }
        self.encode_field(b":path", path.as_bytes(), dst);
        self.encode_map(headers, dst);
    }

    /// Encodes an extended CONNECT's head (RFC 8441 §4): `:method CONNECT`,
    /// `:protocol`, `:scheme`, `:authority`, `:path`, then `headers` as
    /// [`encode_request`](Self::encode_request) does.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_http::h2::hpack::{Decoder, Encoder};
    /// let mut block = BytesMut::new();
    /// Encoder::new(4096).encode_extended_connect("websocket", "https", "x", "/ws", &http::HeaderMap::new(), &mut block);
    /// let fields = Decoder::new(4096).decode(&block.freeze(), 1 << 16).unwrap();
    /// assert_eq!(&fields[1].name[..], b":protocol");
    /// assert_eq!(&fields[1].value[..], b"websocket");
    /// ```
    pub fn encode_extended_connect(
        &mut self,
        protocol: &str,
        scheme: &str,
        authority: &str,
        path: &str,
        headers: &HeaderMap,
        dst: &mut BytesMut,
    ) {
        self.begin_block(dst);
        self.encode_field(b":method", b"CONNECT", dst);
        self.encode_field(b":protocol", protocol.as_bytes(), dst);
        self.encode_field(b":scheme", scheme.as_bytes(), dst);
        self.encode_field(b":authority", authority.as_bytes(), dst);
        self.encode_field(b":path", path.as_bytes(), dst);
        self.encode_map(headers, dst);
    }

    /// Encodes a trailer block (no pseudo-headers); fields a trailer
    /// section may not carry (RFC 9110 §6.5.1) are skipped.
    pub fn encode_trailers(&mut self, headers: &HeaderMap, dst: &mut BytesMut) {
        self.begin_block(dst);
        for (name, value) in headers {
            if crate::body::allowed_in_trailers(name) {
                self.encode_field(name.as_str().as_bytes(), value.as_bytes(), dst);
            }
        }
    }

    /// Encodes raw `(name, value)` pairs as one block, as given (names
    /// should be lowercase, pseudo-headers first).
    pub fn encode_fields<'a, I>(&mut self, fields: I, dst: &mut BytesMut)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        self.begin_block(dst);
        for (name, value) in fields {
            self.encode_field(name, value, dst);
        }
    }

    fn encode_map(&mut self, headers: &HeaderMap, dst: &mut BytesMut) {
        for (name, value) in headers {
            let name = name.as_str().as_bytes();
            if !is_connection_specific(name) {
                self.encode_field(name, value.as_bytes(), dst);
            }
        }
    }

    /// Emits the size updates owed since the last block.
    /// Starts a header block: the table size updates owed, if any.
    pub(crate) fn begin_block(&mut self, dst: &mut BytesMut) {
        if let Some((min, new)) = self.pending_update.take() {
            if min < new {
                encode_integer(min, 5, 0x20, dst);
            }
            encode_integer(new, 5, 0x20, dst);
            self.table.set_max_size(new);
        }
    }

    fn string(&self, s: &[u8], dst: &mut BytesMut) {
        if self.huffman {
            encode_string(s, dst);
        } else {
            encode_string_plain(s, dst);
        }
    }

    /// [`string`](Self::string) of a `:path`, from the memo when it
    /// repeats the last one.
    fn path_string(&mut self, value: &[u8], dst: &mut BytesMut) {
        let mut memo = std::mem::take(&mut self.last_path);
        if memo.0 != value || memo.1.is_empty() {
            memo.0.clear();
            memo.0.extend_from_slice(value);
            memo.1.clear();
            self.string(value, &mut memo.1);
        }
        dst.extend_from_slice(&memo.1);
        self.last_path = memo;
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], dst: &mut BytesMut) {
        let sensitive = is_sensitive(name);
        let (exact, name_index) = self.find(name, value);
        if let (Some(index), false) = (exact, sensitive) {
            encode_integer(index, 7, 0x80, dst);
            return;
        }
        let indexing = !sensitive
            && !not_worth_indexing(name)
            && entry_size(name, value) <= self.table.max_size() * 3 / 4;
        let (first, prefix) = if sensitive {
            (0x10, 4)
        } else if indexing {
            (0x40, 6)
        } else {
            (0x00, 4)
        };
        encode_integer(name_index.unwrap_or(0), prefix, first, dst);
        if name_index.is_none() {
            self.string(name, dst);
        }
        if name == b":path" && !indexing && value.len() <= PATH_MEMO_MAX {
            self.path_string(value, dst);
        } else {
            self.string(value, dst);
        }
        if indexing {
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
    }

    /// (index of an exact match, index of a name match), static table first.
    fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut name_index = None;
        if let Some((first, count)) = static_entries_named(name) {
            let mut same_name = STATIC_TABLE.iter().skip(first - 1).take(count);
            if let Some(offset) = same_name.position(|(_, v)| v.as_bytes() == value) {
                return (Some(first + offset), Some(first));
            }
            name_index = Some(first);
        }
        for (i, (n, v)) in self.table.iter().enumerate() {
            if &n[..] == name {
                if &v[..] == value {
                    return (Some(i + 62), name_index.or(Some(i + 62)));
                }
                name_index.get_or_insert(i + 62);
            }
        }
        (None, name_index)
    }
}
