#![no_main]
//! Feeds arbitrary bytes to a WebSocket codec, in the server or the client
//! role.
//!
//! The first byte picks the role, the configuration (deflate or not, context
//! takeover, auto-fragmentation for the re-encode) and the split size.
//! Asserts: no panic, every message within the configured limits, the same
//! outcome whether the input is fed whole or in pieces, and every decoded
//! message re-encodes: the same role encodes each one without error, and the
//! opposite role decodes that encoding back into the same messages.

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use percore_ws::{Codec, Config, DeflateConfig, Message, Role};

const MAX_MSG: usize = 64 * 1024;

/// Bits 0-3 of `sel`: deflate, server and client no-context-takeover,
/// auto-fragmentation.
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

/// Bit 4 of `sel`: the client role.
fn role(sel: u8) -> Role {
    if sel & 0x10 != 0 {
        Role::Client
    } else {
        Role::Server
    }
}

fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
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
fn run(role: Role, cfg: &Config, data: &[u8], step: usize) -> (Vec<Message>, Option<u16>) {
    let mut codec = Codec::new(role, cfg.clone());
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

/// Encodes `msgs` as `role` would send them, decodes that as its peer and
/// checks that the same messages come back.
fn round_trip(role: Role, cfg: &Config, msgs: &[Message]) {
    let mut tx = Codec::new(role, cfg.clone());
    let mut wire = BytesMut::new();
    for m in msgs {
        if let Err(e) = tx.encode(m, &mut wire) {
            panic!("decoded message does not re-encode: {e:?}: {m:?}");
        }
    }
    // Compression may make a message a little larger than it was: the
    // peer's limits leave room for that.
    let mut rx = Codec::new(
        peer(role),
        Config {
            max_frame_size: 2 * MAX_MSG,
            max_message_size: 2 * MAX_MSG,
            ..cfg.clone()
        },
    );
    let mut back = Vec::new();
    loop {
        match rx.decode(&mut wire) {
            Ok(Some(m)) => back.push(m),
            Ok(None) => break,
            Err(e) => panic!("the peer rejects the re-encoding: {e:?}"),
        }
    }
    assert!(wire.is_empty(), "{} bytes left undecoded", wire.len());
    assert_eq!(back, msgs, "the re-encoding decodes differently");
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (role, cfg) = (role(sel), config(sel));
    let whole = run(role, &cfg, rest, 0);
    let step = 1 + (sel >> 5) as usize * 3;
    let split = run(role, &cfg, rest, step);
    assert_eq!(whole, split, "split-dependent result");
    round_trip(role, &cfg, &whole.0);
});
