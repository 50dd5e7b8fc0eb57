//! Several requests back to back in one stream, as a connection loop sees
//! them: heads and bodies split cleanly whatever the read boundaries.

use bytes::BytesMut;

use super::*;

const STREAM: &[u8] = b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\n\
\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\nGET /4 HTTP/1.1\r\nHo";

/// One request as the loop saw it: path, body, trailers.
type Seen = (String, Vec<u8>, Option<HeaderMap>);

/// Drives heads and bodies over `input` arriving in pieces ending at `cuts`,
/// like a connection loop; returns the requests and the bytes left.
fn serve(input: &[u8], cuts: &[usize], limits: &Limits) -> (Vec<Seen>, Vec<u8>) {
    let mut buf = BytesMut::new();
    let mut ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    let mut fed = 0;
    let mut read = |buf: &mut BytesMut| -> bool {
        match ends.next() {
            Some(end) => {
                let end = end.clamp(fed, input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
                true
            }
            None => false,
        }
    };
    let mut seen = Vec::new();
    loop {
        let head = match parse_request_head(&mut buf, limits).unwrap() {
            Some(h) => h,
            None if read(&mut buf) => continue,
            None => return (seen, buf.to_vec()),
        };
        let mut dec = BodyDecoder::new(head.body, limits);
        let mut body = Vec::new();
        let trailers = loop {
            match dec.decode(&mut buf).unwrap() {
                BodyEvent::Data(d) => body.extend_from_slice(&d),
                BodyEvent::End { trailers } => break trailers,
                BodyEvent::NeedMore => assert!(read(&mut buf), "body cut short"),
            }
        };
        seen.push((head.uri.path().to_string(), body, trailers));
    }
}

#[test]
fn three_requests_back_to_back() {
    let limits = Limits::default();
    let (seen, rest) = serve(STREAM, &[], &limits);
    let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
    assert_eq!(seen[0].1, b"abc");
    assert_eq!(seen[1].1, b"de");
    assert_eq!(seen[1].2.as_ref().unwrap()["x-t"], "1");
    assert_eq!(seen[2].1, b"");
    // The start of the fourth request is intact.
    assert_eq!(rest, b"GET /4 HTTP/1.1\r\nHo");
}

#[test]
fn any_read_boundaries_give_the_same_requests() {
    let limits = Limits::default();
    let whole = serve(STREAM, &[], &limits);
    let bytewise: Vec<usize> = (1..STREAM.len()).collect();
    assert_eq!(serve(STREAM, &bytewise, &limits), whole);
    for cut in 0..STREAM.len() {
        assert_eq!(serve(STREAM, &[cut], &limits), whole, "split at {cut}");
    }
    for step in [2, 3, 5, 7, 11, 64] {
        let cuts: Vec<usize> = (1..)
            .map(|i| i * step)
            .take_while(|&c| c < STREAM.len())
            .collect();
        assert_eq!(serve(STREAM, &cuts, &limits), whole, "step {step}");
    }
}
