//! Every example of RFC 7541 Appendix C, decoded (with the dynamic table
//! checked after each block) and, where our encoder's choices coincide
//! with the RFC's, encoded byte for byte.

use bytes::{Bytes, BytesMut};

use super::hex;
use crate::h2::hpack::{decode_integer, encode_integer, Decoder, Encoder, HpackError};

type Fields = &'static [(&'static str, &'static str)];

/// Decodes `block` and checks the header list, then the dynamic table
/// (newest first) and its size.
fn check(dec: &mut Decoder, block: &str, fields: Fields, table: Fields, size: usize) {
    let got = dec.decode(&Bytes::from(hex(block)), 16 * 1024).unwrap();
    let got: Vec<(&[u8], &[u8])> = got.iter().map(|f| (&f.name[..], &f.value[..])).collect();
    let want: Vec<(&[u8], &[u8])> = fields
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    assert_eq!(got, want);
    let t: Vec<(&[u8], &[u8])> = dec.table().iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let want: Vec<(&[u8], &[u8])> = table
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    assert_eq!(t, want);
    assert_eq!(dec.table().size(), size);
}

fn encode(enc: &mut Encoder, fields: Fields) -> Vec<u8> {
    let mut out = BytesMut::new();
    enc.encode_fields(
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut out,
    );
    out.to_vec()
}

#[test]
fn c1_integers() {
    let mut buf = BytesMut::new();
    encode_integer(10, 5, 0, &mut buf);
    assert_eq!(&buf[..], &[0b01010]);
    buf.clear();
    encode_integer(1337, 5, 0, &mut buf);
    assert_eq!(&buf[..], &[0b11111, 0b1001_1010, 0b0000_1010]);
    buf.clear();
    encode_integer(42, 8, 0, &mut buf);
    assert_eq!(&buf[..], &[42]);
    for (bytes, n, v) in [
        (&[0b1110_1010u8][..], 5, 10),
        (&[0xff, 0x9a, 0x0a][..], 5, 1337),
        (&[42][..], 8, 42),
    ] {
        let mut pos = 0;
        assert_eq!(decode_integer(bytes, &mut pos, n), Ok(v));
        assert_eq!(pos, bytes.len());
    }
}

#[test]
fn c2_field_representations() {
    let mut dec = Decoder::new(4096);
    check(
        &mut dec,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        &[("custom-key", "custom-header")],
        55,
    );
    let mut dec = Decoder::new(4096);
    check(
        &mut dec,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        &[],
        0,
    );
    let mut dec = Decoder::new(4096);
    let f = dec
        .decode(
            &Bytes::from(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")),
            1024,
        )
        .unwrap();
    assert_eq!(
        (&f[0].name[..], &f[0].value[..], f[0].sensitive),
        (&b"password"[..], &b"secret"[..], true)
    );
    assert!(dec.table().is_empty());
    let mut dec = Decoder::new(4096);
    check(&mut dec, "82", &[(":method", "GET")], &[], 0);
}

const REQ1: Fields = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: Fields = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: Fields = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: Fields = &[(":authority", "www.example.com")];
const REQ_T2: Fields = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: Fields = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

const C3: [&str; 3] = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

fn requests(blocks: [&str; 3], huffman: bool) {
    let mut dec = Decoder::new(4096);
    check(&mut dec, blocks[0], REQ1, REQ_T1, 57);
    check(&mut dec, blocks[1], REQ2, REQ_T2, 110);
    check(&mut dec, blocks[2], REQ3, REQ_T3, 164);
    let mut enc = Encoder::new(4096);
    enc.set_huffman(huffman);
    for (fields, block) in [REQ1, REQ2, REQ3].into_iter().zip(blocks) {
        assert_eq!(encode(&mut enc, fields), hex(block));
    }
    assert_eq!(enc.table().size(), 164);
}

#[test]
fn c3_requests_without_huffman() {
    requests(C3, false);
}

#[test]
fn c4_requests_with_huffman() {
    requests(C4, true);
}

const RESP1: Fields = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: Fields = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: Fields = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];
const RESP_T1: Fields = &[
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
    (":status", "302"),
];
const RESP_T2: Fields = &[
    (":status", "307"),
    ("location", "https://www.example.com"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("cache-control", "private"),
];
const RESP_T3: Fields = &[
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
    ("content-encoding", "gzip"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
];

const C5: [&str; 3] = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
     6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
     3d31",
];
const C6: [&str; 3] = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

fn responses(blocks: [&str; 3], huffman: bool) {
    let mut dec = Decoder::new(256);
    check(&mut dec, blocks[0], RESP1, RESP_T1, 222);
    check(&mut dec, blocks[1], RESP2, RESP_T2, 222);
    check(&mut dec, blocks[2], RESP3, RESP_T3, 215);

    // Our encoder, capped at 256 octets, announces the size first (3f e1 01:
    // 256 on a 5-bit prefix); then its first block matches the RFC's.
    let mut enc = Encoder::new(256);
    enc.set_huffman(huffman);
    let first = encode(&mut enc, RESP1);
    assert_eq!(first[..3], [0x3f, 0xe1, 0x01]);
    assert_eq!(first[3..], hex(blocks[0]));
    let second = encode(&mut enc, RESP2);
    if !huffman {
        // (With Huffman, the RFC codes "307" in 3 octets; we keep it plain.)
        assert_eq!(second, hex(blocks[1]));
    }
    // The third differs (we never index set-cookie); it must still decode
    // to the same list with a decoder that followed our blocks.
    let third = encode(&mut enc, RESP3);
    let mut dec = Decoder::new(4096);
    for (block, fields) in [(first, RESP1), (second, RESP2), (third, RESP3)] {
        let got = dec.decode(&Bytes::from(block), 16 * 1024).unwrap();
        let got: Vec<(&[u8], &[u8])> = got.iter().map(|f| (&f.name[..], &f.value[..])).collect();
        let want: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(got, want);
    }
    assert_eq!(dec.table().size(), enc.table().size());
}

#[test]
fn c5_responses_without_huffman() {
    responses(C5, false);
}

#[test]
fn c6_responses_with_huffman() {
    responses(C6, true);
}

#[test]
fn c5_size_256_is_enforced() {
    // A decoder limited to 256 refuses a size update to 257.
    let mut dec = Decoder::new(256);
    assert_eq!(
        dec.decode(&Bytes::from_static(&[0x3f, 0xe2, 0x01]), 1024),
        Err(HpackError::SizeUpdateTooLarge)
    );
}
