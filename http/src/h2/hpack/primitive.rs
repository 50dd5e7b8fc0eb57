//! HPACK primitive types: prefixed integers (RFC 7541 §5.1) and string
//! literals (§5.2).

use bytes::{BufMut, Bytes, BytesMut};

use super::{huffman, HpackError};

/// Decodes an integer with an `n`-bit prefix (1..=8) starting at
/// `src[*pos]`, advancing `*pos`. Values above `u32::MAX` (or encodings
/// longer than 5 continuation octets) are [`HpackError::IntegerOverflow`].
///
/// ```
/// use percore_http::h2::hpack::decode_integer;
/// let mut pos = 0;
/// assert_eq!(decode_integer(&[0b0001_1111, 0x9a, 0x0a], &mut pos, 5), Ok(1337)); // RFC 7541 C.1.2
/// assert_eq!(pos, 3);
/// ```
pub fn decode_integer(src: &[u8], pos: &mut usize, n: u8) -> Result<u32, HpackError> {
    let mask = (1u16 << n.clamp(1, 8)) - 1;
    let Some(&first) = src.get(*pos) else {
        return Err(HpackError::Truncated);
    };
    let mut i = *pos + 1;
    let mut value = u64::from(u16::from(first) & mask);
    if value < u64::from(mask) {
        *pos = i;
        return Ok(value as u32);
    }
    let mut shift = 0u32;
    loop {
        let Some(&b) = src.get(i) else {
            return Err(HpackError::Truncated);
        };
        i += 1;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            *pos = i;
            return Ok(value as u32);
        }
        shift += 7;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
    }
}

/// Appends `value` with an `n`-bit prefix (1..=8); `first` holds the bits
/// above the prefix (the representation type).
///
/// ```
/// use bytes::BytesMut;
/// use percore_http::h2::hpack::encode_integer;
/// let mut buf = BytesMut::new();
/// encode_integer(1337, 5, 0, &mut buf);
/// assert_eq!(&buf[..], &[31, 154, 10]);
/// ```
pub fn encode_integer(value: usize, n: u8, first: u8, dst: &mut BytesMut) {
    let mask = ((1u16 << n.clamp(1, 8)) - 1) as usize;
    if value < mask {
        dst.put_u8(first | value as u8);
        return;
    }
    dst.put_u8(first | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        dst.put_u8((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Decodes a string literal at `block[*pos]`, advancing `*pos`. Plain
/// strings are slices of `block`; Huffman strings are decoded into a new
/// buffer. Strings longer than `max_len` (raw or decoded) are rejected.
pub(crate) fn decode_string(
    block: &Bytes,
    pos: &mut usize,
    max_len: usize,
) -> Result<Bytes, HpackError> {
    let huff = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
    let len = decode_integer(block, pos, 7)? as usize;
    if len > max_len {
        return Err(HpackError::StringTooLong);
    }
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    if end > block.len() {
        return Err(HpackError::Truncated);
    }
    let start = *pos;
    *pos = end;
    if !huff {
        return Ok(block.slice(start..end));
    }
    let mut out = Vec::new();
    huffman::decode(&block[start..end], &mut out)?;
    if out.len() > max_len {
        return Err(HpackError::StringTooLong);
    }
    Ok(Bytes::from(out))
}

/// Appends a string literal, Huffman-coded when that is shorter.
pub(crate) fn encode_string(s: &[u8], dst: &mut BytesMut) {
    let hlen = huffman::encoded_len(s);
    if hlen < s.len() {
        encode_integer(hlen, 7, 0x80, dst);
        dst.reserve(hlen);
        huffman::encode(s, dst);
    } else {
        encode_integer(s.len(), 7, 0, dst);
        dst.put_slice(s);
    }
}

/// Appends a plain (non-Huffman) string literal.
pub(crate) fn encode_string_plain(s: &[u8], dst: &mut BytesMut) {
    encode_integer(s.len(), 7, 0, dst);
    dst.put_slice(s);
}
