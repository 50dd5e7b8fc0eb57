//! The head memo (`h1::HeadMemo`) against a fresh parse: primed with each
//! head of `scan_vs_reference::HEADS` under each set of limits, then given
//! the same head, the head followed by more bytes, every prefix of it,
//! every one-byte change of it (replace, insert, remove), under every set
//! of limits: the same verdict and the same rest of the buffer as
//! `parse_raw_head`, every time.

use bytes::BytesMut;

use super::scan_vs_reference::{limit_sets, verdict, HEADS, PROBES};
use super::*;

/// A memo that kept `head` (parsed under `limits`, twice, so that it
/// keeps the parsed head), or an empty one when that head is not accepted.
fn primed(head: &[u8], limits: &Limits) -> HeadMemo {
    let mut memo = HeadMemo::new();
    for _ in 0..2 {
        let mut buf = BytesMut::from(head);
        let _ = memo.parse(&mut buf, limits);
    }
    memo
}

/// The memo and a fresh parse agree on `input` under `limits`; returns
/// whether the memo answered without scanning.
fn assert_agree(memo: &HeadMemo, input: &[u8], limits: &Limits) -> bool {
    let mut memo = memo.clone();
    let hits = memo.hits;
    let mut buf = BytesMut::from(input);
    let remembered = memo.parse(&mut buf, limits);
    let remembered = verdict(&remembered, &buf);
    let mut buf = BytesMut::from(input);
    let fresh = parse_raw_head(&mut buf, limits);
    let fresh = verdict(&fresh, &buf);
    assert_eq!(
        remembered,
        fresh,
        "input {:?}",
        String::from_utf8_lossy(input)
    );
    memo.hits > hits
}

/// Parses the heads of `input` one after the other with `memo` and
/// afresh, asserting the same verdict and rest of the buffer each time;
/// returns how many heads were parsed.
fn parse_all_agreeing(memo: &mut HeadMemo, input: &[u8], limits: &Limits) -> usize {
    let mut with_memo = BytesMut::from(input);
    let mut fresh = BytesMut::from(input);
    let mut parsed = 0;
    loop {
        let m = memo.parse(&mut with_memo, limits);
        let f = parse_raw_head(&mut fresh, limits);
        assert_eq!(verdict(&m, &with_memo), verdict(&f, &fresh));
        if !matches!(f, Ok(Some(_))) {
            return parsed;
        }
        parsed += 1;
    }
}

#[test]
fn the_same_head_comes_from_the_memo() {
    let limits = Limits::default();
    let mut hit = 0;
    for head in HEADS {
        let memo = primed(head, &limits);
        let mut again = head.to_vec();
        // The rest after the head is unknown to the memo and left in the buffer.
        again.extend_from_slice(b"GET / HTTP/1.1\r\n");
        if assert_agree(&memo, head, &limits) {
            hit += 1;
            assert!(assert_agree(&memo, &again, &limits));
        }
    }
    // Every head of the set the default limits accept.
    assert_eq!(hit, 9);
}

#[test]
fn every_prefix_and_extension_agrees() {
    for primed_with in limit_sets() {
        for head in HEADS {
            let memo = primed(head, &primed_with);
            for limits in limit_sets() {
                for end in 0..=head.len() {
                    assert_agree(&memo, &head[..end], &limits);
                }
                for &probe in PROBES {
                    let mut longer = head.to_vec();
                    longer.push(probe);
                    assert_agree(&memo, &longer, &limits);
                }
            }
        }
    }
}

#[test]
fn every_one_byte_change_agrees() {
    for primed_with in limit_sets() {
        for head in HEADS {
            let memo = primed(head, &primed_with);
            // Where the kept head ends: a change past it may still hit.
            let mut rest = BytesMut::from(*head);
            let head_end = match parse_raw_head(&mut rest, &primed_with) {
                Ok(Some(_)) => head.len() - rest.len(),
                _ => 0,
            };
            for limits in limit_sets() {
                for at in 0..head.len() {
                    for &probe in PROBES {
                        let mut changed = head.to_vec();
                        changed[at] = probe;
                        assert!(
                            !assert_agree(&memo, &changed, &limits)
                                || changed == *head
                                || at >= head_end
                        );
                        changed.insert(at, probe);
                        assert_agree(&memo, &changed, &limits);
                    }
                    let mut removed = head.to_vec();
                    removed.remove(at);
                    assert_agree(&memo, &removed, &limits);
                }
            }
        }
    }
}

#[test]
fn each_limit_is_part_of_the_key() {
    let head = b"GET /abcdef HTTP/1.1\r\nHost: a\r\nX: 1\r\nContent-Length: 5\r\n\r\n";
    let limits = Limits::default();
    let memo = primed(head, &limits);
    assert!(assert_agree(&memo, head, &limits));
    for tighter in [
        Limits::default().max_head_size(head.len() - 1),
        Limits::default().max_uri_len(6),
        Limits::default().max_headers(2),
        Limits::default().max_body_size(4),
    ] {
        assert!(!assert_agree(&memo, head, &tighter));
    }
    // A limit that does not change the verdict still misses (then agrees).
    assert!(!assert_agree(
        &memo,
        head,
        &Limits::default().max_headers(99)
    ));
}

#[test]
fn a_sequence_of_heads_agrees() {
    // Pipelined heads, some repeated, some differing, one too long to keep.
    let mut long = b"GET /l HTTP/1.1\r\nHost: a\r\nx: ".to_vec();
    long.extend(std::iter::repeat_n(b'v', MEMO_MAX_HEAD));
    long.extend_from_slice(b"\r\n\r\n");
    let a: &[u8] = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
    let b: &[u8] = b"GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    let input: Vec<u8> = [
        a,
        a,
        a,
        b,
        a,
        &long,
        &long,
        a,
        a,
        a,
        b"\r\n",
        a,
        b"GET /a HTTP/1.1\r\n",
    ]
    .concat();
    let limits = Limits::default();
    let mut memo = HeadMemo::new();
    parse_all_agreeing(&mut memo, &input, &limits);
    // Hits: the third a of each run of three, and the a after the empty
    // line; the first two of each run, b, the a after b, both longs and
    // the last part are scanned (the parsed head is kept the second time).
    assert_eq!(memo.hits, 3);
}

#[test]
fn heads_that_keep_differing_are_sampled_and_repeats_are_found_again() {
    use super::super::memo::{MEMO_SAMPLE, MEMO_STREAK};
    let limits = Limits::default();
    let head = |i: usize| format!("GET /v{i} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes();
    // A long run of differing heads, then one head over and over.
    let mut input = Vec::new();
    for i in 0..(3 * MEMO_STREAK as usize) {
        input.extend_from_slice(&head(i));
    }
    let repeats = MEMO_SAMPLE as usize + 6;
    for _ in 0..repeats {
        input.extend_from_slice(&head(999));
    }
    let mut memo = HeadMemo::new();
    let parsed = parse_all_agreeing(&mut memo, &input, &limits);
    assert_eq!(parsed, 3 * MEMO_STREAK as usize + repeats);
    // The repeated head is kept within `MEMO_SAMPLE` of its copies, kept
    // parsed at the next, and answered by the memo from then on.
    assert!(
        memo.hits >= repeats - MEMO_SAMPLE as usize - 1,
        "{} hits",
        memo.hits
    );
}

#[test]
fn a_head_from_the_memo_outlives_the_memo_and_its_next_head() {
    let limits = Limits::default();
    let first = b"GET /kept?q=1 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n";
    let mut memo = primed(first, &limits);
    let hits = memo.hits;
    let from_memo = memo
        .parse(&mut BytesMut::from(&first[..]), &limits)
        .unwrap()
        .unwrap();
    assert_eq!(memo.hits, hits + 1, "answered by the memo");
    let expected = verdict(&Ok(Some(from_memo.clone())), b"");
    // The memo moves on to another head (twice: it keeps that one), then goes.
    for _ in 0..2 {
        let next = b"POST /other HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n";
        memo.parse(&mut BytesMut::from(&next[..]), &limits).unwrap();
    }
    drop(memo);
    assert_eq!(verdict(&Ok(Some(from_memo.clone())), b""), expected);
    assert_eq!(from_memo.path(), "/kept");
    assert_eq!(from_memo.headers()["x-a"], "1");
}
