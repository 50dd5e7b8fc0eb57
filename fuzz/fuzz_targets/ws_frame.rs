#![no_main]
//! Feeds arbitrary bytes to a Server-role WebSocket codec.
//!
//! The first byte picks the configuration (deflate or not, context takeover,
//! auto-fragmentation for the re-encode) and the split size. Asserts: no
//! panic, every message within the configured limits, the same outcome whether
//! the input is fed whole or in pieces, and every decoded message re-encodes.

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_ws::{Codec, Config, DeflateConfig, Message, Role};

const MAX_MSG: usize = 64 * 1024;

fn config(sel: u8) -> Config {
    let deflate = (sel & 1 != 0).then(|| DeflateConfig {
        server_no_context_takeover: sel & 2 != 0,
        client_no_context_takeover: sel & 4 != 0,
        ..DeflateConfig::default()
    });
    Config {
        max_frame_size: 16 * 1024,
        max_message_size: MAX_MSG,
        auto_fragment_size: (sel & 8 != 0).then_some(100),
        deflate,
    }
}

fn msg_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(c) => c.as_ref().map_or(0, |c| 2 + c.reason.len()),
    }
}

/// Decodes `data` fed in pieces of `step` bytes (0 = whole).
fn run(cfg: &Config, data: &[u8], step: usize) -> (Vec<Message>, Option<u16>) {
    let mut codec = Codec::new(Role::Server, cfg.clone());
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    let step = if step == 0 { data.len().max(1) } else { step };
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(m)) => {
                    let limit = if m.is_control() { 125 } else { MAX_MSG };
                    assert!(msg_len(&m) <= limit, "message over limit");
                    msgs.push(m);
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                    return (msgs, Some(e.close_code()));
                }
            }
        }
        // A partial frame never holds more than a header plus max_frame_size.
        assert!(buf.len() <= 14 + cfg.max_frame_size + step);
    }
    (msgs, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let cfg = config(sel);
    let whole = run(&cfg, rest, 0);
    let step = 1 + (sel >> 4) as usize * 3;
    let split = run(&cfg, rest, step);
    assert_eq!(whole, split, "split-dependent result");

    // Re-encode what was decoded.
    let mut tx = Codec::new(Role::Server, cfg);
    let mut out = BytesMut::new();
    for m in &whole.0 {
        let _ = tx.encode(m, &mut out);
    }
});
