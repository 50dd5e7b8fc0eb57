//! HPACK: Huffman round trips and rejections, decoder rejections, encoder
//! policy and encode → decode round trips.

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use super::Rng;
use crate::h2::hpack::{
    decode_integer, encode_integer, huffman, Decoder, Encoder, HeaderField, HpackError,
    STATIC_TABLE,
};

fn decode(dec: &mut Decoder, block: &[u8]) -> Result<Vec<HeaderField>, HpackError> {
    dec.decode(&Bytes::copy_from_slice(block), 16 * 1024)
}

fn pairs(fields: &[HeaderField]) -> Vec<(&[u8], &[u8])> {
    fields.iter().map(|f| (&f.name[..], &f.value[..])).collect()
}

#[test]
fn huffman_round_trip_random() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let len = rng.below(64);
        let s = rng.bytes(len);
        let mut enc = Vec::new();
        huffman::encode(&s, &mut enc);
        assert_eq!(enc.len(), huffman::encoded_len(&s));
        let mut dec = Vec::new();
        huffman::decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, s);
    }
    // Every symbol alone, and all 256 in a row.
    let all: Vec<u8> = (0..=255).collect();
    for s in all.chunks(1).chain([&all[..]]) {
        let mut enc = Vec::new();
        huffman::encode(s, &mut enc);
        let mut dec = Vec::new();
        huffman::decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, s);
    }
}

#[test]
fn huffman_rejections() {
    let mut out = Vec::new();
    // Empty is fine.
    assert_eq!(huffman::decode(&[], &mut out), Ok(()));
    // 'a' = 00011 + 3 bits of padding.
    assert_eq!(huffman::decode(&[0b0001_1111], &mut out), Ok(()));
    assert_eq!(out, b"a");
    // Padding not all ones.
    assert_eq!(
        huffman::decode(&[0b0001_1000], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    assert_eq!(
        huffman::decode(&[0b0001_1110], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    // Padding longer than 7 bits (a whole octet of ones after 'a').
    assert_eq!(
        huffman::decode(&[0b0001_1111, 0xff], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    assert_eq!(
        huffman::decode(&[0xff], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    // EOS (30 ones) in the data.
    assert_eq!(
        huffman::decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    assert_eq!(
        huffman::decode(&[0b0001_1111, 0xff, 0xff, 0xff, 0xfc], &mut out),
        Err(HpackError::InvalidHuffman)
    );
    // EOS, then a 0 and a 1: decoding must stop at EOS, not go on from
    // the node above it (where "0" would complete the code of 0x16).
    assert_eq!(
        huffman::decode(&[0xff, 0xff, 0xff, 0xfd], &mut out),
        Err(HpackError::InvalidHuffman)
    );
}

#[test]
fn integer_limits() {
    // u32::MAX takes the prefix and five more octets, the fifth carrying
    // bits 28..32; one more is an overflow.
    for n in [1, 4, 5, 6, 7, 8] {
        let mut buf = BytesMut::new();
        encode_integer(u32::MAX as usize, n, 0, &mut buf);
        let mut pos = 0;
        assert_eq!(
            decode_integer(&buf, &mut pos, n),
            Ok(u32::MAX),
            "prefix {n}"
        );
        assert_eq!(pos, buf.len());
        buf.clear();
        encode_integer(u32::MAX as usize + 1, n, 0, &mut buf);
        assert_eq!(
            decode_integer(&buf, &mut 0, n),
            Err(HpackError::IntegerOverflow),
            "prefix {n}"
        );
    }
}

#[test]
fn decoder_rejections() {
    let cases: &[(&[u8], HpackError)] = &[
        (&[0x80], HpackError::InvalidIndex),                   // index 0
        (&[0xbe], HpackError::InvalidIndex),                   // 62, empty dynamic table
        (&[0xff, 0x80, 0x01], HpackError::InvalidIndex),       // 255
        (&[0x7f, 0x00, 0x01, b'a'], HpackError::InvalidIndex), // literal name index 63
        (&[0x0f, 0x30, 0x01, b'a'], HpackError::InvalidIndex), // literal name index 63 (no indexing)
        (&[0xff], HpackError::Truncated),                      // integer ends
        (&[0xff, 0x80], HpackError::Truncated),                // continuation ends
        (
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f],
            HpackError::IntegerOverflow,
        ),
        (
            &[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            HpackError::IntegerOverflow,
        ),
        (&[0x40, 0x05, b'a'], HpackError::Truncated), // string ends
        (&[0x40], HpackError::Truncated),             // name length missing
        (&[0x40, 0x81, 0x18, 0x00], HpackError::InvalidHuffman), // bad padding in a name
        (
            &[0x41, 0x84, 0xff, 0xff, 0xff, 0xff],
            HpackError::InvalidHuffman,
        ), // EOS in a value
        (&[0x3f, 0xe2, 0x1f], HpackError::SizeUpdateTooLarge), // 4097
        (&[0x82, 0x20], HpackError::SizeUpdateNotAtStart),
        (&[0x82, 0x3f, 0x01], HpackError::SizeUpdateNotAtStart),
    ];
    for (block, err) in cases {
        let mut dec = Decoder::new(4096);
        assert_eq!(decode(&mut dec, block), Err(*err), "{block:02x?}");
        assert!(err.into_h2_error(1).is_connection());
    }
}

#[test]
fn string_longer_than_the_list_limit() {
    let mut dec = Decoder::new(4096);
    let mut block = vec![0x40, 0x7f, 0x00];
    block.extend_from_slice(&[b'a'; 127]);
    assert_eq!(
        dec.decode(&Bytes::from(block), 100),
        Err(HpackError::StringTooLong)
    );
    // A name of exactly the limit is no string error (the list is still
    // too large), plain or Huffman-coded; one octet more is.
    for len in [100, 101] {
        let name = vec![b'a'; len];
        let mut huff = Vec::new();
        huffman::encode(&name, &mut huff);
        let mut plain = vec![0x40, len as u8];
        plain.extend_from_slice(&name);
        let mut coded = vec![0x40, 0x80 | huff.len() as u8];
        coded.extend_from_slice(&huff);
        for mut block in [plain, coded] {
            block.push(0x00); // empty value
            let want = if len == 100 {
                HpackError::HeaderListTooLarge
            } else {
                HpackError::StringTooLong
            };
            let mut dec = Decoder::new(4096);
            assert_eq!(dec.decode(&Bytes::from(block), 100), Err(want), "{len}");
        }
    }
}

#[test]
fn size_updates() {
    let mut dec = Decoder::new(4096);
    // Two updates at the start are fine (shrink, then grow back).
    assert_eq!(
        decode(&mut dec, &[0x20, 0x3f, 0xe1, 0x1f, 0x82])
            .unwrap()
            .len(),
        1
    );
    assert_eq!(dec.table().max_size(), 4096);
    // A shrunken SETTINGS value requires an update at the next block start.
    decode(&mut dec, &[0x41, 0x01, b'x']).unwrap();
    dec.set_max_allowed_size(100);
    assert_eq!(
        decode(&mut dec, &[0x82]),
        Err(HpackError::SizeUpdateMissing)
    );
    let mut dec2 = Decoder::new(4096);
    decode(&mut dec2, &[0x41, 0x01, b'x']).unwrap();
    dec2.set_max_allowed_size(100);
    assert_eq!(
        decode(&mut dec2, &[0x3f, 0x46, 0x82]),
        Err(HpackError::SizeUpdateTooLarge)
    ); // 101
    let mut dec3 = Decoder::new(4096);
    decode(&mut dec3, &[0x41, 0x01, b'x']).unwrap();
    dec3.set_max_allowed_size(100);
    assert_eq!(decode(&mut dec3, &[0x3f, 0x45, 0x82]).unwrap().len(), 1); // 100
    assert_eq!(dec3.table().max_size(), 100);
    assert_eq!(dec3.table().len(), 1); // :authority x = 42 octets still fits
}

#[test]
fn an_unchanged_or_larger_setting_needs_no_size_update() {
    for setting in [4096, 8192] {
        let mut dec = Decoder::new(4096);
        dec.set_max_allowed_size(setting);
        assert_eq!(decode(&mut dec, &[0x82]).unwrap().len(), 1, "{setting}");
        assert_eq!(dec.table().max_size(), 4096);
    }
}

#[test]
fn table_fills_to_exactly_its_size() {
    // A literal with incremental indexing of `name: value`.
    let literal = |name: &[u8], value_len: usize| {
        let mut b = vec![0x40, name.len() as u8];
        b.extend_from_slice(name);
        b.push(value_len as u8);
        b.extend(std::iter::repeat_n(b'v', value_len));
        b
    };
    let mut dec = Decoder::new(100);
    // Two entries of 50 octets fill the table of 100: both stay.
    decode(&mut dec, &literal(b"a", 17)).unwrap();
    decode(&mut dec, &literal(b"b", 17)).unwrap();
    assert_eq!((dec.table().len(), dec.table().size()), (2, 100));
    // One of exactly 100 replaces them.
    decode(&mut dec, &literal(b"c", 67)).unwrap();
    assert_eq!((dec.table().len(), dec.table().size()), (1, 100));
    assert_eq!(&dec.table().get(0).unwrap().0[..], b"c");
    // One of 101 does not fit: the table ends up empty.
    decode(&mut dec, &literal(b"d", 68)).unwrap();
    assert_eq!((dec.table().len(), dec.table().size()), (0, 0));
}

#[test]
fn header_list_too_large_keeps_the_table_in_sync() {
    let mut enc = Encoder::new(4096);
    let mut dec = Decoder::new(4096);
    let big = vec![b'v'; 600];
    let fields: Vec<(&[u8], &[u8])> = vec![(b"x-a", &big), (b"x-b", &big)];
    let mut block = BytesMut::new();
    enc.encode_fields(fields.iter().copied(), &mut block);
    let mut seen = Vec::new();
    let r = dec.decode_with(&block.freeze(), 1000, |f| seen.push(f));
    assert_eq!(r, Err(HpackError::HeaderListTooLarge));
    assert_eq!(seen.len(), 1); // the first fits: 3 + 600 + 32
    assert!(!HpackError::HeaderListTooLarge
        .into_h2_error(3)
        .is_connection());
    // Both were indexed: the next block refers to them.
    let mut block = BytesMut::new();
    enc.encode_fields(fields.iter().copied(), &mut block);
    assert_eq!(&block[..], &[0xbf, 0xbe]);
    let got = dec.decode(&block.freeze(), 16 * 1024).unwrap();
    assert_eq!(pairs(&got), fields);
}

#[test]
fn header_list_of_exactly_the_limit() {
    // Two literals without indexing: "ab: cd" (36) and "x: y" (34) = 70.
    let block = Bytes::from_static(b"\x00\x02ab\x02cd\x00\x01x\x01y");
    let mut dec = Decoder::new(4096);
    let got = dec.decode(&block, 70).unwrap();
    assert_eq!(pairs(&got), [(&b"ab"[..], &b"cd"[..]), (b"x", b"y")]);
    let mut seen = Vec::new();
    assert_eq!(
        dec.decode_with(&block, 69, |f| seen.push(f)),
        Err(HpackError::HeaderListTooLarge)
    );
    assert_eq!(pairs(&seen), [(&b"ab"[..], &b"cd"[..])]);
}

#[test]
fn sensitive_only_for_never_indexed_literals() {
    // Indexed; two literals with incremental indexing (the second's name
    // index, 16, sets the bit that marks never-indexed in a 4-bit prefix);
    // without indexing; never indexed (new name, then name index 1).
    let block = b"\x82\x41\x01a\x50\x01g\x00\x01b\x01c\x10\x01d\x01e\x11\x01f";
    let mut dec = Decoder::new(4096);
    let got = decode(&mut dec, block).unwrap();
    let summary: Vec<(&[u8], &[u8], bool)> = got
        .iter()
        .map(|f| (&f.name[..], &f.value[..], f.sensitive))
        .collect();
    assert_eq!(
        summary,
        [
            (&b":method"[..], &b"GET"[..], false),
            (b":authority", b"a", false),
            (b"accept-encoding", b"g", false),
            (b"b", b"c", false),
            (b"d", b"e", true),
            (b":authority", b"f", true),
        ]
    );
    // Only the incremental literals entered the table.
    assert_eq!(dec.table().len(), 2);
    assert!(!dec.table().is_empty());
}

#[test]
fn encoder_size_update_sequence() {
    let mut enc = Encoder::new(4096);
    enc.set_max_table_size(100);
    enc.set_max_table_size(8192); // capped at 4096
    let mut block = BytesMut::new();
    enc.encode_fields([], &mut block);
    // min (100) then final (4096).
    assert_eq!(&block[..], &[0x3f, 0x45, 0x3f, 0xe1, 0x1f]);
    let mut dec = Decoder::new(4096);
    decode(&mut dec, &block).unwrap();
    // No change → no update.
    enc.set_max_table_size(4096);
    let mut block = BytesMut::new();
    enc.encode_fields([], &mut block);
    assert!(block.is_empty());
    // To zero: table emptied.
    enc.encode_fields([(&b"x-a"[..], &b"1"[..])], &mut block);
    enc.set_max_table_size(0);
    let mut block = BytesMut::new();
    enc.encode_fields([(&b"x-a"[..], &b"1"[..])], &mut block);
    assert_eq!(block[0], 0x20);
    assert!(enc.table().is_empty());
}

#[test]
fn encoder_policy() {
    let mut enc = Encoder::new(4096);
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1234"));
    h.insert(header::SET_COOKIE, HeaderValue::from_static("id=1"));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    let mut a = BytesMut::new();
    enc.encode_response(StatusCode::NOT_FOUND, &h, &mut a);
    let mut b = BytesMut::new();
    enc.encode_response(StatusCode::NOT_FOUND, &h, &mut b);
    // content-type indexed, content-length not, set-cookie never-indexed.
    assert_eq!(enc.table().len(), 1);
    assert!(b.len() < a.len());
    let mut dec = Decoder::new(4096);
    for block in [a, b] {
        let got = dec.decode(&block.freeze(), 16 * 1024).unwrap();
        assert_eq!(
            pairs(&got),
            vec![
                (&b":status"[..], &b"404"[..]),
                (b"content-type", b"text/html"),
                (b"content-length", b"1234"),
                (b"set-cookie", b"id=1"),
            ]
        );
        assert!(got[3].sensitive && !got[1].sensitive);
    }
}

#[test]
fn entries_over_three_quarters_of_the_table_are_not_indexed() {
    // 4096 * 3 / 4 = 3072 octets: name (5) + value + 32.
    for (value_len, indexed) in [(3035, true), (3036, false)] {
        let mut enc = Encoder::new(4096);
        let value = vec![b'v'; value_len];
        let mut block = BytesMut::new();
        enc.encode_fields([(&b"x-big"[..], &value[..])], &mut block);
        assert_eq!(enc.table().len(), usize::from(indexed), "{value_len}");
        // 01xxxxxx: incremental indexing; 0000xxxx: without indexing.
        let want = if indexed { 0x40 } else { 0x00 };
        assert_eq!(block[0] & 0xf0, want, "{value_len}");
    }
}

#[test]
fn huffman_only_when_shorter() {
    // '&' has an 8-bit code: "&&" is 2 octets either way, so it goes plain;
    // "aa" (5-bit codes) is 2 octets plain, 2 Huffman-coded: plain too;
    // "aaa" is 2 Huffman-coded octets instead of 3.
    let mut enc = Encoder::new(4096);
    let mut block = BytesMut::new();
    enc.encode_fields([(&b"&&"[..], &b"aa"[..])], &mut block);
    assert_eq!(&block[..], b"\x40\x02&&\x02aa");
    block.clear();
    enc.encode_fields([(&b"aaa"[..], &b""[..])], &mut block);
    assert_eq!(block[1], 0x82);
}

#[test]
fn every_static_entry_is_sent_as_its_index() {
    for (i, &(name, value)) in STATIC_TABLE.iter().enumerate() {
        let mut enc = Encoder::new(4096);
        let mut block = BytesMut::new();
        // A value the table holds: the entry's index alone.
        if !value.is_empty() {
            enc.encode_fields([(name.as_bytes(), value.as_bytes())], &mut block);
            assert_eq!(&block[..], [0x80 | (i as u8 + 1)], "{name}: {value}");
            block.clear();
        }
        // Another value: the first index of the name, then the value.
        enc.encode_fields([(name.as_bytes(), &b"no such value"[..])], &mut block);
        // 01xxxxxx: indexing, 6-bit name index; 000xxxxx: 4-bit.
        let prefix = if block[0] & 0x40 != 0 { 6 } else { 4 };
        let index = decode_integer(&block, &mut 0, prefix).unwrap() as usize;
        let first = STATIC_TABLE.iter().position(|(n, _)| *n == name).unwrap();
        assert_eq!(index, first + 1, "{name}");
    }
}

#[test]
fn encode_request_round_trip() {
    let mut enc = Encoder::new(4096);
    let mut dec = Decoder::new(4096);
    let mut h = HeaderMap::new();
    h.append(header::ACCEPT, HeaderValue::from_static("text/html"));
    h.append(header::ACCEPT, HeaderValue::from_static("*/*"));
    h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
    for _ in 0..3 {
        let mut block = BytesMut::new();
        enc.encode_request(
            &Method::POST,
            "https",
            Some("example.com"),
            "/a?b",
            &h,
            &mut block,
        );
        let got = dec.decode(&block.freeze(), 16 * 1024).unwrap();
        assert_eq!(
            pairs(&got),
            vec![
                (&b":method"[..], &b"POST"[..]),
                (b":scheme", b"https"),
                (b":authority", b"example.com"),
                (b":path", b"/a?b"),
                (b"accept", b"text/html"),
                (b"accept", b"*/*"),
                (b"authorization", b"Bearer x"),
            ]
        );
    }
    assert_eq!(dec.table().size(), enc.table().size());
}

#[test]
fn encode_decode_random_fields_small_table() {
    let mut rng = Rng(42);
    for table in [0usize, 64, 256, 4096] {
        let mut enc = Encoder::new(table);
        let mut dec = Decoder::new(4096);
        dec.set_max_allowed_size(table);
        let names: Vec<Vec<u8>> = (0..8).map(|i| format!("x-name-{i}").into_bytes()).collect();
        for _ in 0..200 {
            let n = rng.below(6);
            let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                .map(|_| {
                    let name = if rng.below(4) == 0 {
                        {
                            let l = rng.below(10);
                            rng.bytes(l)
                        }
                    } else {
                        names[rng.below(8)].clone()
                    };
                    let len = rng.below(3) * 20;
                    (name, rng.bytes(len))
                })
                .collect();
            let mut block = BytesMut::new();
            enc.encode_fields(fields.iter().map(|(n, v)| (&n[..], &v[..])), &mut block);
            let got = dec.decode(&block.freeze(), 16 * 1024).unwrap();
            let want: Vec<(&[u8], &[u8])> = fields.iter().map(|(n, v)| (&n[..], &v[..])).collect();
            assert_eq!(pairs(&got), want);
            assert_eq!(dec.table().size(), enc.table().size());
            assert!(enc.table().size() <= table);
        }
    }
}

/// The HTTP/2 server driver hands HTTP/1.1-minded headers to the encoder
/// unchanged: the encoder alone keeps connection-specific fields off the
/// wire (RFC 9113 §8.2.2), in responses and in trailers.
#[test]
fn connection_specific_fields_are_never_encoded() {
    let mut headers = HeaderMap::new();
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.insert(name, HeaderValue::from_static("x"));
    }
    headers.insert("x-kept", HeaderValue::from_static("y"));
    let mut enc = Encoder::new(4096);
    let mut dec = Decoder::new(4096);
    let mut block = BytesMut::new();
    enc.encode_response(StatusCode::OK, &headers, &mut block);
    let fields = decode(&mut dec, &block).unwrap();
    assert_eq!(
        pairs(&fields),
        vec![(&b":status"[..], &b"200"[..]), (&b"x-kept"[..], &b"y"[..])]
    );
    let mut block = BytesMut::new();
    enc.encode_trailers(&headers, &mut block);
    let fields = decode(&mut dec, &block).unwrap();
    assert_eq!(pairs(&fields), vec![(&b"x-kept"[..], &b"y"[..])]);
}

/// The encoder keeps the last `:path` encoded: the same, a different, an
/// empty, a long (not kept) and the first path again, with Huffman on and
/// off, all decode to what was sent, byte for byte as a fresh encoder's.
#[test]
fn repeated_paths_encode_as_a_fresh_encoder_would() {
    let long = format!("/{}", "x".repeat(300));
    let paths = [
        "/plaintext",
        "/plaintext",
        "/json?a=1",
        "",
        "/plaintext",
        &long,
        &long,
        "/",
    ];
    for huffman in [true, false, true] {
        let mut enc = Encoder::new(4096);
        let mut dec = Decoder::new(4096);
        enc.set_huffman(huffman);
        for path in paths {
            let mut block = BytesMut::new();
            enc.encode_request(
                &Method::GET,
                "http",
                Some("a"),
                path,
                &HeaderMap::new(),
                &mut block,
            );
            let fields = decode(&mut dec, &block).expect("decodes");
            assert_eq!(&fields[3].name[..], b":path");
            assert_eq!(&fields[3].value[..], path.as_bytes());
            // The path's literal is what an encoder without the memo writes.
            let mut fresh = Encoder::new(4096);
            fresh.set_huffman(huffman);
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            fresh.encode_fields([(&b":path"[..], path.as_bytes())], &mut a);
            let mut again = enc.clone();
            again.encode_fields([(&b":path"[..], path.as_bytes())], &mut b);
            assert_eq!(a, b, "path {path:?}, huffman {huffman}");
        }
    }
}
