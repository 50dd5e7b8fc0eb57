//! Tests of the HTTP/1.1 codec as a whole: table tests of heads, bodies and
//! responses, every input fed whole, byte by byte and split at every point.

mod bodies;
mod encode;
mod fast_checks;
mod heads;
mod memo;
mod pipeline;
mod scan_vs_reference;
mod wide;

use bytes::BytesMut;
use http::HeaderMap;

use super::*;
use crate::Limits;

/// The outcome of parsing a head, in a comparable form.
pub(super) fn head_outcome(r: &Result<Option<RequestHead>, ParseError>, rest: &[u8]) -> String {
    format!("{r:?} rest={rest:?}")
}

/// Parses `input` in one go.
pub(super) fn parse_whole(input: &[u8], limits: &Limits) -> String {
    let mut buf = BytesMut::from(input);
    let r = parse_request_head(&mut buf, limits);
    head_outcome(&r, if r.is_ok() { &buf } else { b"" })
}

/// Parses `input` arriving in pieces that end at `cuts` (then the rest):
/// the first result that is not `Ok(None)`, or `Ok(None)` at the end.
pub(super) fn parse_in_pieces(input: &[u8], cuts: &[usize], limits: &Limits) -> String {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        let end = end.clamp(fed, input.len());
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        let r = parse_request_head(&mut buf, limits);
        if !matches!(r, Ok(None)) || fed == input.len() {
            // Bytes not yet fed belong after what the parser left.
            buf.extend_from_slice(&input[fed..]);
            return head_outcome(&r, if r.is_ok() { &buf } else { b"" });
        }
    }
    unreachable!("the last cut is the input's end")
}

/// Asserts that a head parses the same whole, byte by byte, and split in
/// two at every point; returns the outcome.
pub(super) fn parse_every_way(input: &[u8], limits: &Limits) -> String {
    let whole = parse_whole(input, limits);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        parse_in_pieces(input, &bytewise, limits),
        whole,
        "byte by byte: {:?}",
        String::from_utf8_lossy(input)
    );
    for cut in 0..input.len() {
        assert_eq!(
            parse_in_pieces(input, &[cut], limits),
            whole,
            "split at {cut}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}

/// What decoding a whole body produced.
#[derive(Debug, PartialEq)]
pub(super) enum Decoded {
    /// `End` arrived: body, trailers, bytes left after the body.
    Complete(Vec<u8>, Option<HeaderMap>, Vec<u8>),
    /// The input ran out first: body so far.
    Incomplete(Vec<u8>),
    /// An error: body so far, error.
    Failed(Vec<u8>, DecodeError),
}

/// Decodes a body framed as `kind` from `input` arriving in pieces that end
/// at `cuts` (then the rest).
pub(super) fn decode_in_pieces(
    kind: BodyKind,
    input: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> Decoded {
    let mut dec = BodyDecoder::new(kind, limits);
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut ends = cuts.iter().copied().chain(std::iter::once(input.len()));
    let mut fed = 0;
    loop {
        match dec.decode(&mut buf) {
            Ok(BodyEvent::Data(d)) => {
                assert!(!d.is_empty(), "empty Data event");
                body.extend_from_slice(&d);
            }
            Ok(BodyEvent::End { trailers }) => {
                buf.extend_from_slice(&input[fed..]);
                return Decoded::Complete(body, trailers, buf.to_vec());
            }
            Ok(BodyEvent::NeedMore) => {
                let Some(end) = ends.next() else {
                    return Decoded::Incomplete(body);
                };
                let end = end.clamp(fed, input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            Err(e) => {
                // A failed decoder keeps failing the same way.
                assert_eq!(dec.decode(&mut buf), Err(e.clone()));
                return Decoded::Failed(body, e);
            }
        }
    }
}

/// Asserts that a body decodes the same whole, byte by byte, and split in
/// two at every point; returns the outcome.
pub(super) fn decode_every_way(kind: BodyKind, input: &[u8], limits: &Limits) -> Decoded {
    let whole = decode_in_pieces(kind, input, &[], limits);
    let bytewise: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        decode_in_pieces(kind, input, &bytewise, limits),
        whole,
        "byte by byte: {:?}",
        String::from_utf8_lossy(input)
    );
    for cut in 0..input.len() {
        assert_eq!(
            decode_in_pieces(kind, input, &[cut], limits),
            whole,
            "split at {cut}: {:?}",
            String::from_utf8_lossy(input)
        );
    }
    whole
}
