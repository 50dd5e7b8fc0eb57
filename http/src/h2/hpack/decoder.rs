//! The HPACK decoder (RFC 7541 §3, §6).

use bytes::Bytes;

use super::primitive::{decode_integer, decode_string};
use super::table::{DynamicTable, STATIC_TABLE};
use super::{entry_size, HpackError};

/// Fields a decoded block is expected to hold (a browser request has
/// about a dozen).
const TYPICAL_FIELDS: usize = 12;

/// One decoded header field. Names are not validated (the connection
/// checks them); `sensitive` is set for never-indexed literals, which an
/// intermediary must re-encode as never-indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name, as sent (should be lowercase).
    pub name: Bytes,
    /// The field value.
    pub value: Bytes,
    /// Sent as a never-indexed literal.
    pub sensitive: bool,
}

/// Decodes header blocks; one per connection, blocks decoded in order.
///
/// ```
/// use bytes::Bytes;
/// use percore_http::h2::hpack::Decoder;
/// let mut dec = Decoder::new(4096);
/// // RFC 7541 C.3.1: GET http://www.example.com/
/// let block = Bytes::from_static(b"\x82\x86\x84\x41\x0fwww.example.com");
/// let fields = dec.decode(&block, 16_384).unwrap();
/// let pairs: Vec<_> = fields.iter().map(|f| (&f.name[..], &f.value[..])).collect();
/// assert_eq!(pairs, [
///     (&b":method"[..], &b"GET"[..]),
///     (b":scheme", b"http"),
///     (b":path", b"/"),
///     (b":authority", b"www.example.com"),
/// ]);
/// assert_eq!(dec.table().size(), 57);
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// SETTINGS_HEADER_TABLE_SIZE in force: the most a size update may ask.
    max_allowed: usize,
    /// The next block must start with a size update (our setting shrank).
    update_required: bool,
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size` octets:
    /// the SETTINGS_HEADER_TABLE_SIZE in force (4096 until we advertise
    /// another value and the peer acknowledges it).
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_allowed: max_table_size,
            update_required: false,
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE once the peer acknowledged
    /// it. When it is smaller than the current table maximum, the next
    /// block must start with a size update (RFC 7541 §4.2).
    pub fn set_max_allowed_size(&mut self, max_table_size: usize) {
        if max_table_size < self.table.max_size() {
            self.update_required = true;
        }
        self.max_allowed = max_table_size;
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION fragments
    /// concatenated). `max_header_list_size` bounds the sum of
    /// name + value + 32 over all fields (and the length of any string).
    ///
    /// On [`HpackError::HeaderListTooLarge`] the whole block was still
    /// processed, so the dynamic table is in sync and the connection can go
    /// on; every other error is fatal to the connection.
    pub fn decode(
        &mut self,
        block: &Bytes,
        max_header_list_size: usize,
    ) -> Result<Vec<HeaderField>, HpackError> {
        // Room for a typical request's fields up front: growing from empty
        // costs a reallocation and a copy per block.
        let mut out = Vec::with_capacity(TYPICAL_FIELDS);
        self.decode_with(block, max_header_list_size, |f| out.push(f))?;
        Ok(out)
    }

    /// Like [`Decoder::decode`], handing each field to `emit` as soon as it
    /// is decoded. After the list exceeded the limit no more fields are
    /// emitted and the result is `Err(HeaderListTooLarge)`.
    pub fn decode_with(
        &mut self,
        block: &Bytes,
        max_header_list_size: usize,
        mut emit: impl FnMut(HeaderField),
    ) -> Result<(), HpackError> {
        let src = &block[..];
        let mut pos = 0usize;
        let mut at_start = true;
        let mut list_size = 0usize;
        let mut too_large = false;
        if self.update_required && src.first().is_none_or(|b| b & 0xe0 != 0x20) {
            return Err(HpackError::SizeUpdateMissing);
        }
        while let Some(&b) = src.get(pos) {
            let field = if b & 0x80 != 0 {
                // Indexed header field (§6.1).
                let index = decode_integer(src, &mut pos, 7)? as usize;
                let (name, value) = self.lookup(index)?;
                HeaderField {
                    name,
                    value,
                    sensitive: false,
                }
            } else if b & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !at_start {
                    return Err(HpackError::SizeUpdateNotAtStart);
                }
                let size = decode_integer(src, &mut pos, 5)? as usize;
                if size > self.max_allowed {
                    return Err(HpackError::SizeUpdateTooLarge);
                }
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            } else {
                // Literals (§6.2): 01 incremental, 0000 without, 0001 never.
                let (prefix, indexing) = if b & 0x40 != 0 { (6, true) } else { (4, false) };
                let sensitive = !indexing && b & 0x10 != 0;
                let index = decode_integer(src, &mut pos, prefix)? as usize;
                let name = if index == 0 {
                    decode_string(block, &mut pos, max_header_list_size)?
                } else {
                    self.lookup(index)?.0
                };
                let value = decode_string(block, &mut pos, max_header_list_size)?;
                if indexing {
                    self.table.insert(name.clone(), value.clone());
                }
                HeaderField {
                    name,
                    value,
                    sensitive,
                }
            };
            at_start = false;
            list_size = list_size.saturating_add(entry_size(&field.name, &field.value));
            if list_size > max_header_list_size {
                too_large = true;
            }
            if !too_large {
                emit(field);
            }
        }
        if too_large {
            Err(HpackError::HeaderListTooLarge)
        } else {
            Ok(())
        }
    }

    /// The entry at HPACK `index` (1-based, static then dynamic).
    fn lookup(&self, index: usize) -> Result<(Bytes, Bytes), HpackError> {
        match index {
            0 => Err(HpackError::InvalidIndex),
            1..=61 => {
                let (n, v) = STATIC_TABLE[index - 1];
                Ok((
                    Bytes::from_static(n.as_bytes()),
                    Bytes::from_static(v.as_bytes()),
                ))
            }
            _ => self
                .table
                .get(index - 62)
                .map(|(n, v)| (n.clone(), v.clone()))
                .ok_or(HpackError::InvalidIndex),
        }
    }
}
