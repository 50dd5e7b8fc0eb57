//! The request-head scanner against the httparse-based parser it replaced
//! (`h1::reference`): on every prefix of a set of heads, and on every
//! one-byte change of them, under tight and default limits, both give the
//! same verdict (the same error exactly, or the same head and the same rest
//! of the buffer). The fuzz target `h1_raw_head` does the same on random
//! bytes.

use bytes::BytesMut;

use super::*;

pub(super) use super::reference::verdict;

fn both(input: &[u8], limits: &Limits) -> (String, String) {
    let mut buf = BytesMut::from(input);
    let scanned = parse_raw_head(&mut buf, limits);
    let scanned = verdict(&scanned, &buf);
    let mut buf = BytesMut::from(input);
    let reference = reference::parse_raw_head(&mut buf, limits);
    (scanned, verdict(&reference, &buf))
}

fn assert_same(input: &[u8], limits: &Limits) {
    let (scanned, reference) = both(input, limits);
    assert_eq!(
        scanned,
        reference,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
}

pub(super) const HEADS: &[&[u8]] = &[
    b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:30001\r\nuser-agent: h2load nghttp2/1.52.0\r\n\r\n",
    b"POST /a/b?c=d&e HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc",
    b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX:\r\nY:  \t v \t \r\n\r\nGET",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"\r\n\r\nGET /%20{}\"|^ HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n",
    b"\nGET / HTTP/1.1\nHost: a\n\n",
    b"GET /a?b?c/#d HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"M-SEARCH /\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX-Obs: \x80\xff\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: a b\r\nContent-Length: 99999999999999999999999\r\n\r\n",
];

/// Bytes that play a part in the grammar, tried at every position.
pub(super) const PROBES: &[u8] = &[
    b'\r', b'\n', b' ', b'\t', b':', b'?', b'#', b'/', b'@', b'0', b'A', 0, 0x7f, 0x80, 0xff, b'"',
    b'{', b'\\',
];

pub(super) fn limit_sets() -> Vec<Limits> {
    vec![
        Limits::default(),
        Limits::default()
            .max_head_size(40)
            .max_headers(2)
            .max_uri_len(6)
            .max_body_size(2),
        Limits::default()
            .max_head_size(64)
            .max_headers(0)
            .max_uri_len(0),
    ]
}

#[test]
fn every_prefix_gets_the_reference_verdict() {
    for limits in limit_sets() {
        for head in HEADS {
            for end in 0..=head.len() {
                assert_same(&head[..end], &limits);
            }
        }
    }
}

/// What follows a head in [`every_one_byte_change_gets_the_reference_verdict`]'s
/// second pass: another request, so that every line of the head is in
/// the wide scan's whole chunks (its field lines then take the scan's
/// one-pass path, `simple_line`, where they have its shape).
const NEXT: &[u8] = b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn every_one_byte_change_gets_the_reference_verdict() {
    for limits in limit_sets() {
        for head in HEADS {
            for rest in [&b""[..], NEXT] {
                let with_rest = |mut head: Vec<u8>| {
                    head.extend_from_slice(rest);
                    head
                };
                for at in 0..head.len() {
                    for &probe in PROBES {
                        let mut changed = head.to_vec();
                        changed[at] = probe;
                        assert_same(&with_rest(changed.clone()), &limits);
                        changed.insert(at, probe);
                        assert_same(&with_rest(changed), &limits);
                    }
                    let mut removed = head.to_vec();
                    removed.remove(at);
                    assert_same(&with_rest(removed), &limits);
                }
            }
        }
    }
}

#[test]
fn many_and_far_fields_get_the_reference_verdict() {
    // Past the inline spans (8 fields, offsets under 64 KiB) and past the
    // reference's stack slots (32).
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..40 {
        head.extend_from_slice(format!("x-f{i}: v{i}\r\n").as_bytes());
        let mut whole = head.clone();
        whole.extend_from_slice(b"\r\n");
        assert_same(&whole, &Limits::default());
        assert_same(&whole, &Limits::default().max_headers(20));
    }
    let mut far = b"GET / HTTP/1.1\r\nHost: a\r\nx-big: ".to_vec();
    far.extend(std::iter::repeat_n(b'v', 70_000));
    far.extend_from_slice(b"\r\nx-after: 1\r\n\r\n");
    assert_same(&far, &Limits::default().max_head_size(100_000));
    assert_same(&far, &Limits::default());
}
