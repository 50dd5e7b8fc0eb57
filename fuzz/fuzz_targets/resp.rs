#![no_main]
//! Feeds arbitrary bytes to the RESP2 decoder (percore-redis), with small
//! limits picked by the first byte.
//!
//! Asserts: no panic; never more buffered than `max_buffered`; the same
//! values and the same verdict whether the input is fed whole or in pieces
//! of the size the second byte picks; every value within the limits.

use libfuzzer_sys::fuzz_target;
use percore_redis::{Decoder, RespLimits, Value};

fn limits(sel: u8) -> RespLimits {
    RespLimits::default()
        .max_bulk_len(if sel & 1 != 0 { 16 } else { 4096 })
        .max_array_len(if sel & 2 != 0 { 4 } else { 1024 })
        .max_depth(if sel & 4 != 0 { 2 } else { 16 })
        .max_line_len(if sel & 8 != 0 { 8 } else { 256 })
        .max_buffered(if sel & 16 != 0 { 64 } else { 1 << 16 })
}

fn check(v: &Value, l: &RespLimits, depth: usize) {
    match v {
        Value::Bulk(b) => assert!(b.len() <= l.max_bulk_len),
        Value::Status(b) | Value::Error(b) => assert!(b.len() <= l.max_line_len),
        Value::Array(items) => {
            // An empty array holds nothing deeper: only non-empty ones count.
            assert!((items.is_empty() || depth < l.max_depth) && items.len() <= l.max_array_len);
            items.iter().for_each(|i| check(i, l, depth + 1));
        }
        Value::Int(_) | Value::Nil => {}
    }
}

/// Values decoded, and whether it stopped on an error.
fn run(data: &[u8], l: RespLimits, piece: usize) -> (Vec<Value>, bool) {
    let mut dec = Decoder::new(l);
    let mut out = Vec::new();
    for chunk in data.chunks(piece.max(1)) {
        if dec.feed(chunk).is_err() {
            return (out, true);
        }
        assert!(dec.buffered() <= l.max_buffered);
        loop {
            match dec.decode() {
                Ok(Some(v)) => {
                    check(&v, &l, 0);
                    out.push(v);
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let [sel, piece, rest @ ..] = data else { return };
    let l = limits(*sel);
    let whole = run(rest, l, rest.len());
    let pieces = run(rest, l, usize::from(*piece % 16) + 1);
    // Feeding in pieces decodes values as soon as they are complete, so the
    // buffer limit can only bite later than with the whole input at once.
    if !whole.1 {
        assert_eq!(whole, pieces);
    } else if !pieces.1 {
        // Only the buffer limit may fail the whole input and not the pieces.
        assert!(rest.len() > l.max_buffered);
    }
});
