//! Arbitrary bytes as a sequence of HPACK header blocks (each prefixed by a
//! length octet) into one `Decoder` with a small table. Checks: no panic;
//! the dynamic table never exceeds its limit; every decoded header list
//! re-encodes (through an `Encoder` with its own small table) and decodes
//! back to the same list; Huffman coding round-trips the raw input.
#![no_main]
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use percore_http::h2::hpack::{huffman, Decoder, Encoder, HpackError};

fuzz_target!(|data: &[u8]| {
    let [table_sel, limit_sel, rest @ ..] = data else {
        return;
    };
    let table = usize::from(*table_sel) * 2; // 0..=510 octets
    let list_limit = 64 + usize::from(*limit_sel) * 16;
    let mut dec = Decoder::new(table);
    let mut enc = Encoder::new(usize::from(*limit_sel));
    let mut dec2 = Decoder::new(4096);

    let mut huff = Vec::new();
    huffman::encode(rest, &mut huff);
    assert_eq!(huff.len(), huffman::encoded_len(rest));
    let mut back = Vec::new();
    huffman::decode(&huff, &mut back).unwrap();
    assert_eq!(back, rest);
    let _ = huffman::decode(rest, &mut Vec::new());

    let mut input = rest;
    while let [len, tail @ ..] = input {
        let n = usize::from(*len).min(tail.len());
        let block = Bytes::copy_from_slice(&tail[..n]);
        input = &tail[n..];
        match dec.decode(&block, list_limit) {
            Ok(fields) => {
                let size: usize = fields
                    .iter()
                    .map(|f| f.name.len() + f.value.len() + 32)
                    .sum();
                assert!(size <= list_limit);
                let mut re = BytesMut::new();
                enc.encode_fields(fields.iter().map(|f| (&f.name[..], &f.value[..])), &mut re);
                let again = dec2.decode(&re.freeze(), usize::MAX).unwrap();
                assert_eq!(again.len(), fields.len());
                for (a, b) in again.iter().zip(&fields) {
                    assert_eq!((&a.name, &a.value), (&b.name, &b.value));
                }
                assert_eq!(dec2.table().size(), enc.table().size());
            }
            Err(HpackError::HeaderListTooLarge) => {}
            Err(_) => break,
        }
        assert!(dec.table().size() <= dec.table().max_size());
        assert!(dec.table().max_size() <= table);
    }
});
