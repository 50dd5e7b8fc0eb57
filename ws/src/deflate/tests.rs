//! Unit tests of permessage-deflate.

use super::negotiation::*;
use super::*;

#[test]
fn rfc_example_hello() {
    // RFC 7692 §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
    let mut inf = Inflater::new(&DeflateConfig::context_takeover(), true);
    let mut out = Vec::new();
    inf.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
        .unwrap();
    inf.finish(&mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
    // Context takeover: second "Hello" is f2 00 11 00 00.
    let mut out = Vec::new();
    inf.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 100)
        .unwrap();
    inf.finish(&mut out, 100).unwrap();
    assert_eq!(out, b"Hello");
}

fn config(nct: bool, bits: u8, mem_level: u8) -> DeflateConfig {
    DeflateConfig {
        server_no_context_takeover: nct,
        client_no_context_takeover: nct,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
        mem_level,
        threshold: 0,
        ..DeflateConfig::default()
    }
}

#[test]
fn round_trip_and_limit() {
    for (nct, bits, mem) in [(false, 15, 8), (true, 15, 8), (false, 9, 1), (true, 12, 5)] {
        let cfg = config(nct, bits, mem);
        let mut d = Deflater::new(&cfg, true);
        let mut i = Inflater::new(&cfg, false);
        for size in [0usize, 1, 100, 10_000, 300_000] {
            let data: Vec<u8> = (0..size)
                .map(|x| (x % 251) as u8 ^ (x / 1000) as u8)
                .collect();
            let mut z = Vec::new();
            assert_eq!(d.compress(&data, &mut z), Compressed::Yes);
            let mut out = Vec::new();
            i.inflate(&z, &mut out, size).unwrap();
            i.finish(&mut out, size).unwrap();
            assert_eq!(out, data, "nct {nct} bits {bits} mem {mem} size {size}");
        }
    }
    let mut d = Deflater::new(
        &DeflateConfig {
            level: 9,
            threshold: 0,
            ..DeflateConfig::default()
        },
        true,
    );
    let zeros = vec![0u8; 10 << 20];
    let mut z = Vec::new();
    assert_eq!(d.compress(&zeros, &mut z), Compressed::Yes);
    assert!(z.len() < 40_000, "{}", z.len());
    let mut i = Inflater::new(&DeflateConfig::default(), true);
    let mut out = Vec::new();
    assert_eq!(i.inflate(&z, &mut out, 1 << 20), Err(InflateError::TooBig));
    assert!(out.capacity() <= (1 << 20) + 1);
}

#[test]
fn threshold_skips_short_messages() {
    let cfg = DeflateConfig {
        threshold: 100,
        ..DeflateConfig::default()
    };
    let mut d = Deflater::new(&cfg, true);
    let mut z = Vec::new();
    assert_eq!(d.compress(&[b'a'; 99], &mut z), Compressed::Skipped);
    assert_eq!(d.compress(&[b'a'; 100], &mut z), Compressed::Yes);
    assert!(z.len() < 20);
}

#[test]
fn state_is_held_only_with_context_takeover() {
    let msg = br#"{"type":"chat","room":"general","user":"alice","text":"hello hello hello"}"#;
    for nct in [true, false] {
        let cfg = config(nct, 12, 5);
        let mut d = Deflater::new(&cfg, true);
        let mut i = Inflater::new(&cfg, false);
        assert!(
            !d.holds_state() && !i.holds_state(),
            "lazy before any message"
        );
        for _ in 0..3 {
            let mut z = Vec::new();
            assert_eq!(d.compress(msg, &mut z), Compressed::Yes);
            let mut out = Vec::new();
            i.inflate(&z, &mut out, 1000).unwrap();
            // Mid-message (a fragmented message) the state is held.
            assert!(i.holds_state());
            i.finish(&mut out, 1000).unwrap();
            assert_eq!(out, msg);
        }
        assert_eq!(d.holds_state(), !nct);
        assert_eq!(i.holds_state(), !nct);
    }
}

#[test]
fn context_takeover_shrinks_repeats_and_shared_state_does_not_leak() {
    let msg = br#"{"type":"chat","room":"general","user":"alice","text":"the same text again"}"#;
    let take = config(false, 12, 5);
    let lean = config(true, 12, 5);
    let (mut a, mut b) = (Deflater::new(&take, true), Deflater::new(&lean, true));
    let (mut za, mut zb) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        a.compress(msg, &mut za);
        // Another connection on this core using the shared compressor
        // must not see this one's context.
        Deflater::new(&lean, true).compress(b"unrelated data unrelated data", &mut Vec::new());
        b.compress(msg, &mut zb);
    }
    assert!(
        za.len() < 15,
        "second message refers to the first: {}",
        za.len()
    );
    let mut fresh = Vec::new();
    Deflater::new(&lean, true).compress(msg, &mut fresh);
    assert_eq!(zb, fresh, "no context kept without takeover");
}

#[test]
fn negotiation() {
    let prefs = DeflateConfig::context_takeover();
    let cases: &[(&str, Option<&str>)] = &[
        ("permessage-deflate", Some("permessage-deflate")),
        (
            "permessage-deflate; client_max_window_bits",
            Some("permessage-deflate"),
        ),
        (
            "permessage-deflate; server_max_window_bits=15",
            Some("permessage-deflate; server_max_window_bits=15"),
        ),
        (
            "permessage-deflate; server_max_window_bits=\"15\"",
            Some("permessage-deflate; server_max_window_bits=15"),
        ),
        (
            "permessage-deflate; server_max_window_bits=9",
            Some("permessage-deflate; server_max_window_bits=9"),
        ),
        ("permessage-deflate; server_max_window_bits=8", None),
        (
            "permessage-deflate; client_max_window_bits=10",
            Some("permessage-deflate; client_max_window_bits=10"),
        ),
        ("permessage-deflate; server_max_window_bits", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        ("permessage-deflate; server_max_window_bits=015", None),
        // A leading zero is refused even where the number is in range.
        ("permessage-deflate; server_max_window_bits=09", None),
        ("permessage-deflate; server_max_window_bits=+9", None),
        ("permessage-deflate; client_max_window_bits=7", None),
        ("permessage-deflate; foo", None),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            None,
        ),
        ("permessage-deflate; server_no_context_takeover=1", None),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate",
            Some("permessage-deflate"),
        ),
        ("x-webkit-deflate-frame", None),
        ("", None),
    ];
    for (offer, want) in cases {
        let got = negotiate(&prefs, &parse_offers([*offer])).map(|x| x.1);
        assert_eq!(got.as_deref(), *want, "offer {offer:?}");
    }
    // Our defaults: no context takeover both ways, 12-bit windows.
    let lean = DeflateConfig::default();
    let nct = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    let lean_cases: &[(&str, String, u8, u8)] = &[
        (
            "permessage-deflate",
            format!("{nct}; server_max_window_bits=12"),
            12,
            15,
        ),
        (
            "permessage-deflate; client_max_window_bits",
            format!("{nct}; server_max_window_bits=12; client_max_window_bits=12"),
            12,
            12,
        ),
        (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9",
            format!("{nct}; server_max_window_bits=10; client_max_window_bits=9"),
            10,
            9,
        ),
    ];
    for (offer, want, server_bits, client_bits) in lean_cases {
        let (cfg, got) = negotiate(&lean, &parse_offers([*offer])).unwrap();
        assert_eq!(&got, want, "offer {offer:?}");
        assert_eq!(cfg.server_max_window_bits, *server_bits);
        assert_eq!(cfg.client_max_window_bits, *client_bits);
        assert_eq!(
            (cfg.mem_level, cfg.threshold),
            (lean.mem_level, lean.threshold)
        );
    }
    let forced = DeflateConfig {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..prefs
    };
    let (cfg, s) = negotiate(&forced, &parse_offers(["permessage-deflate"])).unwrap();
    assert!(cfg.server_no_context_takeover && cfg.client_no_context_takeover);
    assert_eq!(
        s,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
}

#[test]
fn client_response() {
    let prefs = DeflateConfig::context_takeover();
    assert!(parse_response("permessage-deflate", &prefs).is_some());
    let c = parse_response("permessage-deflate; server_max_window_bits=10", &prefs).unwrap();
    assert_eq!(c.server_max_window_bits, 10);
    assert!(parse_response("permessage-deflate; client_max_window_bits=10", &prefs).is_none());
    assert!(parse_response("permessage-deflate, permessage-deflate", &prefs).is_none());
    assert!(parse_response("x-foo", &prefs).is_none());
    let snct = DeflateConfig {
        server_no_context_takeover: true,
        ..prefs
    };
    assert!(parse_response("permessage-deflate", &snct).is_none());
    // The server's context takeover flags are taken from its answer; the
    // client's also from our preferences.
    let answer = "permessage-deflate; server_no_context_takeover";
    let c = parse_response(answer, &prefs).unwrap();
    assert!(c.server_no_context_takeover && !c.client_no_context_takeover);
    let answer = "permessage-deflate; client_no_context_takeover";
    let c = parse_response(answer, &prefs).unwrap();
    assert!(!c.server_no_context_takeover && c.client_no_context_takeover);
    let cnct = DeflateConfig {
        client_no_context_takeover: true,
        ..prefs
    };
    let c = parse_response("permessage-deflate", &cnct).unwrap();
    assert!(!c.server_no_context_takeover && c.client_no_context_takeover);
    assert_eq!(
        (c.server_max_window_bits, c.client_max_window_bits),
        (15, 15)
    );
}

#[test]
fn empty_messages_with_context_takeover() {
    // zlib-rs writes nothing for a second empty message in a row.
    let cfg = DeflateConfig::context_takeover();
    let mut d = Deflater::new(&cfg, true);
    let mut i = Inflater::new(&cfg, false);
    for data in [&b""[..], b"", b"ab", b"", b"ab"] {
        let mut z = Vec::new();
        assert_eq!(d.compress(data, &mut z), Compressed::Yes);
        assert!(!z.is_empty());
        let mut out = Vec::new();
        i.inflate(&z, &mut out, 100).unwrap();
        i.finish(&mut out, 100).unwrap();
        assert_eq!(out, data);
    }
}

/// `n` bytes that deflate cannot shrink (a linear congruential sequence).
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

#[test]
fn incompressible_messages_round_trip() {
    // Deflate output larger than the first output buffer (half the input,
    // at least 256 bytes): the compressor must be drained to the end.
    for nct in [true, false] {
        let cfg = config(nct, 15, 8);
        let mut d = Deflater::new(&cfg, true);
        let mut i = Inflater::new(&cfg, false);
        for size in [300, 5_000, 200_000] {
            let data = noise(size, size as u32);
            let mut z = Vec::new();
            assert_eq!(d.compress(&data, &mut z), Compressed::Yes, "{size}");
            assert!(z.len() > size, "stored blocks: {} for {size}", z.len());
            let mut out = Vec::new();
            i.inflate(&z, &mut out, size).unwrap();
            i.finish(&mut out, size).unwrap();
            assert_eq!(out, data, "nct {nct} size {size}");
        }
    }
}

#[test]
fn shared_compressors_are_kept_per_parameters() {
    // 1000 random bytes twice: a 15-bit window finds the repeat, a 9-bit
    // one (512 bytes) cannot.
    let block = noise(1000, 7);
    let data = [&block[..], &block[..]].concat();
    let mut sizes = Vec::new();
    for bits in [9, 15, 9, 15] {
        let mut z = Vec::new();
        Deflater::new(&config(true, bits, 8), true).compress(&data, &mut z);
        sizes.push(z.len());
    }
    assert!(sizes[0] > 1900 && sizes[2] > 1900, "{sizes:?}");
    assert!(sizes[1] < 1100 && sizes[3] < 1100, "{sizes:?}");
    // At most MAX_SHARED_DEFLATERS parameter sets are kept; the oldest goes.
    for level in 0..6 {
        let cfg = DeflateConfig {
            level,
            ..config(true, 12, 5)
        };
        Deflater::new(&cfg, true).compress(b"abc", &mut Vec::new());
    }
    SHARED_DEFLATERS.with_borrow(|s| {
        assert_eq!(s.len(), MAX_SHARED_DEFLATERS);
        assert_eq!(s[MAX_SHARED_DEFLATERS - 1].0.level, 5);
    });
}

#[test]
fn decompressors_go_back_to_a_bounded_pool() {
    POOLED_INFLATERS.with_borrow_mut(Vec::clear);
    let pooled = || POOLED_INFLATERS.with_borrow(Vec::len);
    let cfg = config(true, 12, 5);
    let mut z = Vec::new();
    Deflater::new(&cfg, true).compress(b"hello hello", &mut z);
    let mid_message = || {
        let mut i = Inflater::new(&cfg, false);
        i.inflate(&z, &mut Vec::new(), 100).unwrap();
        assert!(i.holds_state());
        i
    };
    // A finished message gives its decompressor back.
    let mut i = mid_message();
    i.finish(&mut Vec::new(), 100).unwrap();
    assert_eq!((i.holds_state(), pooled()), (false, 1));
    // So does a reset mid-message, and a drop.
    let mut i = mid_message();
    assert_eq!(pooled(), 0, "taken from the pool");
    i.reset();
    assert_eq!((i.holds_state(), pooled()), (false, 1));
    drop(mid_message());
    assert_eq!(pooled(), 1);
    // Up to MAX_POOLED_INFLATERS are kept.
    let held: Vec<Inflater> = (0..MAX_POOLED_INFLATERS + 2)
        .map(|_| mid_message())
        .collect();
    assert_eq!(pooled(), 0);
    drop(held);
    assert_eq!(pooled(), MAX_POOLED_INFLATERS);
}

#[test]
fn the_output_buffer_never_grows_past_the_limit() {
    // Limits that are not powers of two: growth by doubling alone would
    // pass them.
    let mut z = Vec::new();
    Deflater::new(&config(true, 15, 8), true).compress(&vec![b'x'; 3 << 20], &mut z);
    for limit in [5_000, 100_000, 1_000_000] {
        let mut i = Inflater::new(&config(true, 15, 8), false);
        let mut out = Vec::new();
        assert_eq!(i.inflate(&z, &mut out, limit), Err(InflateError::TooBig));
        assert!(
            out.capacity() <= limit + 1,
            "{} > {limit} + 1",
            out.capacity()
        );
        // A message under the limit.
        let mut i = Inflater::new(&config(true, 15, 8), false);
        let data = vec![b'y'; limit - 1];
        let mut zy = Vec::new();
        Deflater::new(&config(true, 15, 8), true).compress(&data, &mut zy);
        let mut out = Vec::new();
        i.inflate(&zy, &mut out, limit).unwrap();
        i.finish(&mut out, limit).unwrap();
        assert_eq!(out, data);
        assert!(
            out.capacity() <= limit + 1,
            "{} > {limit} + 1",
            out.capacity()
        );
    }
    // Growth follows the output, not the limit.
    let mut i = Inflater::new(&config(true, 15, 8), false);
    let mut zy = Vec::new();
    Deflater::new(&config(true, 15, 8), true).compress(&[b'y'; 10_000], &mut zy);
    let mut out = Vec::new();
    i.inflate(&zy, &mut out, 64 << 20).unwrap();
    i.finish(&mut out, 64 << 20).unwrap();
    assert_eq!(out.len(), 10_000);
    assert!(out.capacity() < 64 << 10, "{}", out.capacity());
}

#[test]
fn a_final_empty_block_may_be_followed_by_more_bytes() {
    // An empty final block (BFINAL, fixed Huffman: 03 00) and then the
    // tail, in one frame: the bytes after the end of the stream are ignored.
    for cfg in [config(true, 15, 8), config(false, 15, 8)] {
        let mut i = Inflater::new(&cfg, false);
        let mut out = Vec::new();
        i.inflate(&[0x03, 0x00, 0x00, 0x00, 0xff, 0xff], &mut out, 100)
            .unwrap();
        i.finish(&mut out, 100).unwrap();
        assert!(out.is_empty());
        // The next message starts a fresh stream.
        i.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        i.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }
}
