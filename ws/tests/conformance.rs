//! Table-driven conformance tests, organised like the Autobahn TestSuite
//! categories. Every case runs for both roles, and its input is decoded in one
//! piece, byte by byte and in pseudo-random splits: the result must not
//! depend on the split.

use bytes::{Bytes, BytesMut};
use percore_ws::deflate::{negotiate, parse_offers};
use percore_ws::mask::apply_mask;
use percore_ws::{
    CloseFrame, CloseState, Codec, Config, DeflateConfig, EncodeError, Message, ProtocolError, Role,
};

// ---------------------------------------------------------------- harness

/// A raw frame, possibly invalid.
#[derive(Clone)]
struct F {
    b0: u8,
    payload: Vec<u8>,
    /// Overrides the 7-bit length (for invalid control lengths etc.).
    raw_len: Option<u64>,
}

fn fr(fin: bool, opcode: u8, payload: impl AsRef<[u8]>) -> F {
    F {
        b0: (fin as u8) << 7 | opcode,
        payload: payload.as_ref().to_vec(),
        raw_len: None,
    }
}
fn text(p: impl AsRef<[u8]>) -> F {
    fr(true, 1, p)
}
fn bin(p: impl AsRef<[u8]>) -> F {
    fr(true, 2, p)
}
fn ping(p: impl AsRef<[u8]>) -> F {
    fr(true, 9, p)
}
fn pong(p: impl AsRef<[u8]>) -> F {
    fr(true, 10, p)
}
fn close_raw(p: impl AsRef<[u8]>) -> F {
    fr(true, 8, p)
}
fn close(code: u16, reason: &[u8]) -> F {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    close_raw(p)
}
fn rsv(mut f: F, bits: u8) -> F {
    f.b0 |= bits << 4;
    f
}

/// Serialises frames as sent *to* `receiver` (masked when the receiver is a
/// server).
fn wire(receiver: Role, frames: &[F]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        out.push(f.b0);
        let masked = receiver == Role::Server;
        let m = if masked { 0x80 } else { 0 };
        let len = f.raw_len.unwrap_or(f.payload.len() as u64);
        if len < 126 {
            out.push(m | len as u8);
        } else if len <= 0xffff {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(m | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        let mut p = f.payload.clone();
        if masked {
            let key = [
                0x11u8.wrapping_mul((i as u8).wrapping_add(1)),
                0x5a,
                0xc3,
                i as u8,
            ];
            out.extend_from_slice(&key);
            apply_mask(&mut p, key, 0);
        }
        out.extend_from_slice(&p);
    }
    out
}

type Outcome = (Vec<Message>, Option<u16>);

/// Feeds `input` in the pieces given by `cuts` (ascending positions).
fn run_split(role: Role, cfg: &Config, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut codec = Codec::new(role, cfg.clone());
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&input.len())) {
        buf.extend_from_slice(&input[last..c]);
        last = c;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break,
                Err(e) => {
                    // Sticky error.
                    assert_eq!(codec.decode(&mut buf), Err(e.clone()));
                    return (msgs, Some(e.close_code()));
                }
            }
        }
    }
    (msgs, None)
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Runs `input` whole, byte by byte (if small) and in random splits; asserts
/// identical outcomes and returns it.
fn run(role: Role, cfg: &Config, input: &[u8]) -> Outcome {
    let whole = run_split(role, cfg, input, &[]);
    if input.len() <= 4096 {
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            run_split(role, cfg, input, &bytewise),
            whole,
            "byte-by-byte"
        );
    }
    let mut rng = Lcg(input.len() as u64 * 31 + 7);
    for _ in 0..8 {
        let mut cuts: Vec<usize> = (0..1 + rng.next() % 6)
            .map(|_| (rng.next() as usize) % (input.len() + 1))
            .collect();
        cuts.sort_unstable();
        assert_eq!(run_split(role, cfg, input, &cuts), whole, "split {cuts:?}");
    }
    whole
}

/// Runs a case for both roles.
fn case(name: &str, cfg: &Config, frames: &[F], want_msgs: &[Message], want_err: Option<u16>) {
    for role in [Role::Server, Role::Client] {
        let (msgs, err) = run(role, cfg, &wire(role, frames));
        assert_eq!(msgs, want_msgs, "{name} ({role:?}) messages");
        assert_eq!(err, want_err, "{name} ({role:?}) error");
    }
}

fn t(s: &str) -> Message {
    Message::text(s.to_string())
}
fn b(p: &[u8]) -> Message {
    Message::Binary(Bytes::copy_from_slice(p))
}
fn cfg() -> Config {
    Config::default()
}
fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

// ------------------------------------------------------------ 1 framing

#[test]
fn c1_framing_lengths() {
    for len in [0usize, 1, 125, 126, 127, 128, 65535, 65536, 65537, 1 << 20] {
        let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let s = String::from_utf8(data.clone()).unwrap();
        case("1.1 text", &cfg(), &[text(&data)], &[t(&s)], None);
        case("1.2 binary", &cfg(), &[bin(&data)], &[b(&data)], None);
    }
}

#[test]
fn c1_encode_decode_both_roles() {
    for role in [Role::Server, Role::Client] {
        for len in [0usize, 125, 126, 65535, 65536, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut tx = Codec::new(role, cfg());
            let mut out = BytesMut::new();
            tx.encode(&b(&data), &mut out).unwrap();
            let hdr = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            } + if role == Role::Client { 4 } else { 0 };
            assert_eq!(out.len(), hdr + len);
            let (msgs, err) = run(peer(role), &cfg(), &out);
            assert_eq!((msgs, err), (vec![b(&data)], None));
        }
    }
}

#[test]
fn c1_vectored_encoding_matches_the_copying_one() {
    let configs = [
        cfg(),
        Config {
            deflate: Some(DeflateConfig::default()),
            ..cfg()
        },
        Config {
            auto_fragment_size: Some(50_000),
            ..cfg()
        },
    ];
    for role in [Role::Server, Role::Client] {
        for config in &configs {
            for len in [0usize, 100, 16 * 1024, 65536, 200_000] {
                let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                for msg in [b(&data), t(&"é".repeat(len / 2))] {
                    let mut copying = Codec::new(role, config.clone());
                    let mut vectored = Codec::new(role, config.clone());
                    let mut want = BytesMut::new();
                    copying.encode(&msg, &mut want).unwrap();
                    let mut got = BytesMut::new();
                    let payload = vectored.encode_vectored(&msg, &mut got).unwrap();
                    // Only a large server frame that needs no masking,
                    // compression or fragmentation is handed over uncopied.
                    let plain = role == Role::Server
                        && config.deflate.is_none()
                        && config.auto_fragment_size.is_none_or(|m| m >= data.len());
                    assert_eq!(payload.is_some(), plain && msg_len(&msg) >= 16 * 1024);
                    if let Some(p) = payload {
                        got.extend_from_slice(&p);
                    }
                    if role == Role::Client {
                        // Masking keys differ: compare what the peer decodes.
                        let (a, ea) = run(peer(role), config, &want);
                        let (b2, eb) = run(peer(role), config, &got);
                        assert_eq!((a, ea), (b2, eb));
                    } else if config.deflate.is_none() {
                        assert_eq!(got, want, "role {role:?} len {len}");
                    } else {
                        let (msgs, err) = run(peer(role), config, &got);
                        assert_eq!((msgs, err), (vec![msg.clone()], None));
                    }
                }
            }
        }
    }
}

fn msg_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

#[test]
fn c1_non_minimal_and_msb_lengths() {
    for role in [Role::Server, Role::Client] {
        let m = if role == Role::Server { 0x80 } else { 0 };
        let mut mk = vec![0x82, m | 126, 0, 5];
        if role == Role::Server {
            mk.extend_from_slice(&[0, 0, 0, 0]);
        }
        mk.extend_from_slice(b"hello");
        assert_eq!(run(role, &cfg(), &mk), (vec![], Some(1002)));
        let mut big = vec![0x82, m | 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        big.extend_from_slice(&[0; 4]);
        assert_eq!(run(role, &cfg(), &big), (vec![], Some(1002)));
        // Wrong masking for the role.
        let wrong = wire(peer(role), &[text("x")]);
        assert_eq!(run(role, &cfg(), &wrong), (vec![], Some(1002)));
    }
}

// ------------------------------------------------------------ 2 pings

#[test]
fn c2_pings() {
    let p125 = vec![0xfe; 125];
    case(
        "2.1",
        &cfg(),
        &[ping(b"")],
        &[Message::Ping(Bytes::new())],
        None,
    );
    case(
        "2.2",
        &cfg(),
        &[ping(b"Hello")],
        &[Message::Ping(Bytes::from_static(b"Hello"))],
        None,
    );
    case(
        "2.3",
        &cfg(),
        &[ping([0, 0xff, 0xfe, 0x80])],
        &[Message::Ping(Bytes::from_static(&[0, 0xff, 0xfe, 0x80]))],
        None,
    );
    case(
        "2.4",
        &cfg(),
        &[ping(&p125)],
        &[Message::Ping(Bytes::from(p125.clone()))],
        None,
    );
    case(
        "2.5 ping 126",
        &cfg(),
        &[ping(vec![0; 126])],
        &[],
        Some(1002),
    );
    case(
        "2.6 fragmented ping",
        &cfg(),
        &[fr(false, 9, b"a"), fr(true, 0, b"b")],
        &[],
        Some(1002),
    );
    case(
        "2.7 unsolicited pong",
        &cfg(),
        &[pong(b"x"), text("after")],
        &[Message::Pong(Bytes::from_static(b"x")), t("after")],
        None,
    );
    case(
        "2.8 pong 126",
        &cfg(),
        &[pong(vec![0; 126])],
        &[],
        Some(1002),
    );
    let many: Vec<F> = (0..10).map(|i| ping([i])).collect();
    let want: Vec<Message> = (0..10)
        .map(|i| Message::Ping(Bytes::from(vec![i])))
        .collect();
    case("2.10 ten pings", &cfg(), &many, &want, None);
}

#[test]
fn c2_pong_reply_encoding() {
    for role in [Role::Server, Role::Client] {
        let mut c = Codec::new(role, cfg());
        let mut input = BytesMut::from(&wire(role, &[ping(b"payload")])[..]);
        let m = c.decode(&mut input).unwrap().unwrap();
        let mut out = BytesMut::new();
        c.encode(&m.pong_reply().unwrap(), &mut out).unwrap();
        let (msgs, err) = run(peer(role), &cfg(), &out);
        assert_eq!(
            (msgs, err),
            (vec![Message::Pong(Bytes::from_static(b"payload"))], None)
        );
        assert_eq!(
            c.encode(&Message::Ping(Bytes::from(vec![0; 126])), &mut out),
            Err(EncodeError::ControlTooLong)
        );
    }
}

// ------------------------------------------------------------ 3 reserved bits

#[test]
fn c3_reserved_bits() {
    for bits in 1..8u8 {
        case(
            "3.1 text",
            &cfg(),
            &[text("ok"), rsv(text("x"), bits), text("no")],
            &[t("ok")],
            Some(1002),
        );
        case(
            "3.5 binary",
            &cfg(),
            &[rsv(bin([1, 2]), bits)],
            &[],
            Some(1002),
        );
        case(
            "3.6 ping",
            &cfg(),
            &[rsv(ping(b"x"), bits)],
            &[],
            Some(1002),
        );
        case(
            "3.7 close",
            &cfg(),
            &[rsv(close(1000, b""), bits)],
            &[],
            Some(1002),
        );
    }
    // With deflate negotiated, RSV1 is fine on a data frame but not on
    // control or continuation frames, and RSV2/3 are still errors.
    let d = Config {
        deflate: Some(DeflateConfig::default()),
        ..cfg()
    };
    case(
        "3.x rsv1 ping deflate",
        &d,
        &[rsv(ping(b"x"), 4)],
        &[],
        Some(1002),
    );
    case(
        "3.x rsv2 deflate",
        &d,
        &[rsv(text("x"), 2)],
        &[],
        Some(1002),
    );
    case(
        "3.x rsv1 continuation",
        &d,
        &[fr(false, 1, b"a"), rsv(fr(true, 0, b"b"), 4)],
        &[],
        Some(1002),
    );
}

// ------------------------------------------------------------ 4 opcodes

#[test]
fn c4_reserved_opcodes() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        case(
            "4.x",
            &cfg(),
            &[text("before"), fr(true, op, b"x"), ping(b"after")],
            &[t("before")],
            Some(1002),
        );
        case("4.x empty", &cfg(), &[fr(true, op, b"")], &[], Some(1002));
    }
}

// ------------------------------------------------------------ 5 fragmentation

#[test]
fn c5_fragmentation() {
    case(
        "5.1 fragmented ping",
        &cfg(),
        &[fr(false, 9, b"a"), fr(true, 0, b"b")],
        &[],
        Some(1002),
    );
    case(
        "5.2 fragmented pong",
        &cfg(),
        &[fr(false, 10, b"a"), fr(true, 0, b"b")],
        &[],
        Some(1002),
    );
    case(
        "5.3 text 2 frags",
        &cfg(),
        &[fr(false, 1, b"frag"), fr(true, 0, b"ment")],
        &[t("fragment")],
        None,
    );
    case(
        "5.5 binary 1 byte frags",
        &cfg(),
        &[
            fr(false, 2, b"a"),
            fr(false, 0, b"b"),
            fr(false, 0, b""),
            fr(true, 0, b"c"),
        ],
        &[b(b"abc")],
        None,
    );
    case(
        "5.6 ping interleaved",
        &cfg(),
        &[fr(false, 1, b"frag"), ping(b"p"), fr(true, 0, b"ment")],
        &[Message::Ping(Bytes::from_static(b"p")), t("fragment")],
        None,
    );
    case(
        "5.7 pong interleaved",
        &cfg(),
        &[
            fr(false, 2, b"a"),
            pong(b""),
            fr(false, 0, b"b"),
            ping(b""),
            fr(true, 0, b"c"),
        ],
        &[
            Message::Pong(Bytes::new()),
            Message::Ping(Bytes::new()),
            b(b"abc"),
        ],
        None,
    );
    case(
        "5.9 continuation without start",
        &cfg(),
        &[fr(true, 0, b"x")],
        &[],
        Some(1002),
    );
    case(
        "5.10 non-final continuation without start",
        &cfg(),
        &[fr(false, 0, b"x"), text("y")],
        &[],
        Some(1002),
    );
    case(
        "5.15 new text before end",
        &cfg(),
        &[fr(false, 1, b"a"), text("b")],
        &[],
        Some(1002),
    );
    case(
        "5.16 new binary before end",
        &cfg(),
        &[fr(false, 1, b"a"), fr(false, 2, b"b")],
        &[],
        Some(1002),
    );
    case(
        "5.x empty fragments",
        &cfg(),
        &[fr(false, 1, b""), fr(false, 0, b""), fr(true, 0, b"")],
        &[t("")],
        None,
    );
    case(
        "5.x message after message",
        &cfg(),
        &[
            fr(false, 1, b"a"),
            fr(true, 0, b"b"),
            fr(false, 2, b"c"),
            fr(true, 0, b"d"),
        ],
        &[t("ab"), b(b"cd")],
        None,
    );
    case(
        "5.x close interleaved",
        &cfg(),
        &[fr(false, 1, b"a"), close(1000, b"")],
        &[Message::Close(Some(CloseFrame::new(1000, "")))],
        None,
    );
}

// ------------------------------------------------------------ 6 UTF-8

const VALID: &[&[u8]] = &[
    b"",
    b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
    "κόσμε".as_bytes(),
    &[0xc2, 0x80],
    &[0xe0, 0xa0, 0x80],
    &[0xf0, 0x90, 0x80, 0x80],
    &[0x7f],
    &[0xdf, 0xbf],
    &[0xef, 0xbf, 0xbf],
    &[0xf4, 0x8f, 0xbf, 0xbf],
    &[0xed, 0x9f, 0xbf],
    &[0xee, 0x80, 0x80],
    &[0xef, 0xbf, 0xbd],
];

const INVALID: &[&[u8]] = &[
    &[
        0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65,
        0x64, 0x69, 0x74, 0x65, 0x64,
    ],
    &[0x80],
    &[0xbf],
    &[0x80, 0xbf, 0x80],
    &[0xc0, 0x20],
    &[0xe0, 0x20],
    &[0xf8, 0x88, 0x80, 0x80, 0x80],
    &[0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
    &[0xfe],
    &[0xff],
    &[0xc0, 0xaf],
    &[0xe0, 0x80, 0xaf],
    &[0xf0, 0x80, 0x80, 0xaf],
    &[0xc1, 0xbf],
    &[0xe0, 0x9f, 0xbf],
    &[0xed, 0xa0, 0x80],
    &[0xed, 0xbf, 0xbf],
    &[0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80],
    &[0xf4, 0x90, 0x80, 0x80],
    &[0xc2],
    &[0xe0, 0xa0],
    &[0xf0, 0x90, 0x80],
    &[b'a', 0xc2],
];

#[test]
fn c6_utf8_single_and_fragmented() {
    for v in VALID {
        let s = std::str::from_utf8(v).unwrap();
        case("6 valid", &cfg(), &[text(v)], &[t(s)], None);
        // One byte per fragment.
        let mut frames: Vec<F> = Vec::new();
        for (i, byte) in v.iter().enumerate() {
            frames.push(fr(i + 1 == v.len(), if i == 0 { 1 } else { 0 }, [*byte]));
        }
        if !frames.is_empty() {
            case("6 valid per byte", &cfg(), &frames, &[t(s)], None);
        }
    }
    for inv in INVALID {
        case("6 invalid", &cfg(), &[text(inv)], &[], Some(1007));
        let mut frames: Vec<F> = Vec::new();
        for (i, byte) in inv.iter().enumerate() {
            frames.push(fr(i + 1 == inv.len(), if i == 0 { 1 } else { 0 }, [*byte]));
        }
        case("6 invalid per byte", &cfg(), &frames, &[], Some(1007));
    }
}

#[test]
fn c6_utf8_fail_fast() {
    // 6.4.1: invalid in the first fragment; the message never ends.
    case(
        "6.4.1",
        &cfg(),
        &[fr(false, 1, [b'a', 0xf4, 0x90]), ping(b"")],
        &[],
        Some(1007),
    );
    // 6.4.2: invalid at the start of the second fragment.
    case(
        "6.4.2",
        &cfg(),
        &[fr(false, 1, [0xce, 0xba, 0xf4]), fr(false, 0, [0x90])],
        &[],
        Some(1007),
    );
    // 6.4.3/4: the frame is not complete yet but its prefix is invalid.
    for role in [Role::Server, Role::Client] {
        let mut full = wire(
            role,
            &[text(
                [b"abc".as_slice(), &[0xed, 0xa0, 0x80], &[b'x'; 100]].concat(),
            )],
        );
        full.truncate(full.len() - 90);
        assert_eq!(run(role, &cfg(), &full), (vec![], Some(1007)));
    }
}

#[test]
fn c6_close_reason_utf8() {
    case(
        "7.5.1 invalid reason",
        &cfg(),
        &[close(1000, &[0xce, 0xba, 0xed, 0xa0, 0x80])],
        &[],
        Some(1007),
    );
    case(
        "valid reason",
        &cfg(),
        &[close(1000, "κόσμε".as_bytes())],
        &[Message::Close(Some(CloseFrame::new(1000, "κόσμε")))],
        None,
    );
}

// ------------------------------------------------------------ 7 close

#[test]
fn c7_close_codes() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ] {
        for role in [Role::Server, Role::Client] {
            let mut c = Codec::new(role, cfg());
            let mut input = BytesMut::from(&wire(role, &[close(code, b"bye")])[..]);
            let m = c.decode(&mut input).unwrap();
            assert_eq!(m, Some(Message::Close(Some(CloseFrame::new(code, "bye")))));
            assert_eq!(c.close_state(), CloseState::CloseReceived);
            let reply = c.close_reply().unwrap();
            assert_eq!(reply, Message::Close(Some(CloseFrame::new(code, ""))));
            let mut out = BytesMut::new();
            assert_eq!(c.encode(&t("late"), &mut out), Err(EncodeError::Closed));
            c.encode(&reply, &mut out).unwrap();
            assert!(c.is_closed());
            let (msgs, err) = run(peer(role), &cfg(), &out);
            assert_eq!((msgs, err), (vec![reply], None));
        }
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        case(
            "7.9 invalid code",
            &cfg(),
            &[close(code, b"")],
            &[],
            Some(1002),
        );
    }
}

#[test]
fn c7_close_payloads() {
    case(
        "7.3.1 empty close",
        &cfg(),
        &[close_raw(b"")],
        &[Message::Close(None)],
        None,
    );
    case(
        "7.3.2 1-byte close",
        &cfg(),
        &[close_raw([0x03])],
        &[],
        Some(1002),
    );
    case(
        "7.3.6 close 126",
        &cfg(),
        &[close(1000, &[b'a'; 124])],
        &[],
        Some(1002),
    );
    case(
        "7.3.5 close 125",
        &cfg(),
        &[close(1000, &[b'a'; 123])],
        &[Message::Close(Some(CloseFrame::new(1000, "a".repeat(123))))],
        None,
    );
    // 7.1.x: nothing after close is processed.
    case(
        "7.1.3 data after close",
        &cfg(),
        &[
            close(1000, b""),
            text("after"),
            ping(b"x"),
            fr(true, 5, b"garbage"),
        ],
        &[Message::Close(Some(CloseFrame::new(1000, "")))],
        None,
    );
    // Reply to an empty close is 1000.
    let mut c = Codec::new(Role::Server, cfg());
    let mut input = BytesMut::from(&wire(Role::Server, &[close_raw(b"")])[..]);
    c.decode(&mut input).unwrap();
    assert_eq!(
        c.close_reply(),
        Some(Message::Close(Some(CloseFrame::new(1000, ""))))
    );
}

#[test]
fn c7_we_close_first() {
    for role in [Role::Server, Role::Client] {
        let mut c = Codec::new(role, cfg());
        let mut out = BytesMut::new();
        c.encode(
            &Message::Close(Some(CloseFrame::new(1001, "going"))),
            &mut out,
        )
        .unwrap();
        assert_eq!(c.close_state(), CloseState::CloseSent);
        assert_eq!(c.encode(&t("x"), &mut out), Err(EncodeError::Closed));
        assert_eq!(
            c.encode(&Message::Close(None), &mut out),
            Err(EncodeError::Closed)
        );
        // Data is discarded, control frames still come through, then the Close.
        let mut input =
            BytesMut::from(&wire(role, &[text("dropped"), ping(b"p"), close(1000, b"")])[..]);
        assert_eq!(
            c.decode(&mut input).unwrap(),
            Some(Message::Ping(Bytes::from_static(b"p")))
        );
        assert_eq!(
            c.decode(&mut input).unwrap(),
            Some(Message::Close(Some(CloseFrame::new(1000, ""))))
        );
        assert!(c.is_closed());
        assert_eq!(c.close_reply(), None);
        assert_eq!(
            Codec::new(role, cfg())
                .encode(&Message::Close(Some(CloseFrame::new(1005, ""))), &mut out),
            Err(EncodeError::InvalidCloseCode(1005))
        );
    }
}

#[test]
fn c7_error_close_message() {
    let mut c = Codec::new(Role::Server, cfg());
    let mut input = BytesMut::from(&wire(Role::Server, &[fr(true, 3, b"")])[..]);
    let e = c.decode(&mut input).unwrap_err();
    assert_eq!(e.close_code(), 1002);
    let mut out = BytesMut::new();
    c.encode(&e.close_message(), &mut out).unwrap();
    assert_eq!(&out[..], &[0x88, 0x02, 0x03, 0xea]);
    assert!(matches!(e, ProtocolError::Protocol(_)));
}

// ------------------------------------------------------------ 9 limits

#[test]
fn c9_limits() {
    let small = Config {
        max_frame_size: 1000,
        max_message_size: 3000,
        ..cfg()
    };
    let k = vec![b'z'; 1000];
    let ks = String::from_utf8(k.clone()).unwrap();
    case("frame at limit", &small, &[text(&k)], &[t(&ks)], None);
    case(
        "frame over limit",
        &small,
        &[text(vec![b'z'; 1001])],
        &[],
        Some(1009),
    );
    case(
        "message at limit",
        &small,
        &[fr(false, 1, &k), fr(false, 0, &k), fr(true, 0, &k)],
        &[t(&ks.repeat(3))],
        None,
    );
    case(
        "message over limit",
        &small,
        &[
            fr(false, 2, &k),
            fr(false, 0, &k),
            fr(false, 0, &k),
            fr(true, 0, b"!"),
        ],
        &[],
        Some(1009),
    );
    // Header claiming a huge 64-bit length fails before any payload arrives.
    for role in [Role::Server, Role::Client] {
        let mut f = bin(b"");
        f.raw_len = Some(1 << 40);
        let w = wire(role, &[f]);
        assert_eq!(run(role, &small, &w), (vec![], Some(1009)));
    }
}

#[test]
fn c9_big_and_many_fragments() {
    let big = Config {
        max_frame_size: 4 << 20,
        max_message_size: 4 << 20,
        ..cfg()
    };
    let data: Vec<u8> = (0..(4 << 20)).map(|i: u32| (i * 13) as u8).collect();
    for role in [Role::Server, Role::Client] {
        assert_eq!(
            run(role, &big, &wire(role, &[bin(&data)])),
            (vec![b(&data)], None)
        );
    }
    // 9.x: 1 MiB message in fragments of 64 bytes .. 64 KiB.
    let msg: Vec<u8> = (0..(1 << 20)).map(|i: u32| b'a' + (i % 26) as u8).collect();
    let s = String::from_utf8(msg.clone()).unwrap();
    for frag in [64usize, 256, 4096, 65536] {
        let mut frames: Vec<F> = msg.chunks(frag).map(|c| fr(false, 0, c)).collect();
        frames[0].b0 |= 1;
        let last = frames.len() - 1;
        frames[last].b0 |= 0x80;
        for role in [Role::Server, Role::Client] {
            assert_eq!(run(role, &cfg(), &wire(role, &frames)), (vec![t(&s)], None));
        }
    }
}

// ------------------------------------------------------------ 10 auto-fragmentation

#[test]
fn c10_auto_fragmentation() {
    for role in [Role::Server, Role::Client] {
        for frag in [1usize, 7, 125, 126, 1000] {
            for len in [0usize, 1, 7, 999, 1000, 1001, 5000] {
                let s: String = (0..len)
                    .map(|i| if i % 5 == 0 { 'é' } else { 'x' })
                    .collect();
                let c = Config {
                    auto_fragment_size: Some(frag),
                    ..cfg()
                };
                let mut tx = Codec::new(role, c);
                let mut out = BytesMut::new();
                tx.encode(&t(&s), &mut out).unwrap();
                tx.encode(&b(s.as_bytes()), &mut out).unwrap();
                let (msgs, err) = run_split(peer(role), &cfg(), &out, &[]);
                assert_eq!((msgs, err), (vec![t(&s), b(s.as_bytes())], None));
                // Count the frames by walking the headers.
                let expected_frames = s.len().div_ceil(frag).max(1);
                let mut buf = out.clone();
                let mut n = 0;
                while !buf.is_empty() {
                    let (h, hl) =
                        percore_ws::frame::FrameHeader::decode(&buf, peer(role), usize::MAX)
                            .unwrap()
                            .unwrap();
                    bytes::Buf::advance(&mut buf, hl + h.payload_len as usize);
                    n += 1;
                }
                assert_eq!(n, 2 * expected_frames);
            }
        }
    }
}

// ------------------------------------------------------------ 12/13 permessage-deflate

fn deflate_pair(server_nct: bool, client_nct: bool, frag: Option<usize>) -> (Config, Config) {
    let prefs = DeflateConfig {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        ..DeflateConfig::context_takeover()
    };
    let (neg, _) = negotiate(
        &prefs,
        &parse_offers(["permessage-deflate; client_max_window_bits"]),
    )
    .unwrap();
    let c = Config {
        deflate: Some(neg),
        auto_fragment_size: frag,
        ..cfg()
    };
    (c.clone(), c)
}

#[test]
fn c12_13_deflate_round_trips() {
    let sizes = [
        0usize, 1, 16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072,
    ];
    for (snct, cnct) in [(false, false), (true, false), (false, true), (true, true)] {
        for frag in [None, Some(100), Some(4096)] {
            let (scfg, ccfg) = deflate_pair(snct, cnct, frag);
            for role in [Role::Server, Role::Client] {
                let mut tx = Codec::new(
                    role,
                    if role == Role::Server {
                        scfg.clone()
                    } else {
                        ccfg.clone()
                    },
                );
                let rx_cfg = if role == Role::Server {
                    ccfg.clone()
                } else {
                    scfg.clone()
                };
                let mut out = BytesMut::new();
                let mut want = Vec::new();
                for &size in &sizes {
                    let s: String = (0..size)
                        .map(|i| ["ab", "ü", "€", "𝄞"][(i / 7) % 4])
                        .collect::<String>();
                    let m = t(&s);
                    tx.encode(&m, &mut out).unwrap();
                    want.push(m);
                    let bin: Vec<u8> = (0..size).map(|i| (i * i / 3) as u8).collect();
                    tx.encode(&b(&bin), &mut out).unwrap();
                    want.push(b(&bin));
                    tx.encode(&Message::Ping(Bytes::from_static(b"p")), &mut out)
                        .unwrap();
                    want.push(Message::Ping(Bytes::from_static(b"p")));
                }
                // RSV1 set on the first frame.
                assert_eq!(out[0] & 0x40, 0x40);
                let cuts: Vec<usize> = (1..out.len()).step_by(997).collect();
                let (msgs, err) = run_split(peer(role), &rx_cfg, &out, &cuts);
                assert_eq!(err, None, "snct {snct} cnct {cnct} frag {frag:?} {role:?}");
                assert_eq!(msgs, want, "snct {snct} cnct {cnct} frag {frag:?} {role:?}");
            }
        }
    }
}

#[test]
fn c12_rfc7692_examples() {
    let d = Config {
        deflate: Some(DeflateConfig::context_takeover()),
        ..cfg()
    };
    // §7.2.3.1 compressed "Hello", unfragmented and fragmented; §7.2.3.2
    // context takeover; §7.2.3.3 stored block; §7.2.3.6 empty.
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    case(
        "7692 hello",
        &d,
        &[rsv(text(hello), 4)],
        &[t("Hello")],
        None,
    );
    case(
        "7692 hello frag",
        &d,
        &[rsv(fr(false, 1, &hello[..3]), 4), fr(true, 0, &hello[3..])],
        &[t("Hello")],
        None,
    );
    case(
        "7692 takeover",
        &d,
        &[
            rsv(text(hello), 4),
            rsv(text([0xf2, 0x00, 0x11, 0x00, 0x00]), 4),
        ],
        &[t("Hello"), t("Hello")],
        None,
    );
    case(
        "7692 stored",
        &d,
        &[rsv(
            text([
                0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00,
            ]),
            4,
        )],
        &[t("Hello")],
        None,
    );
    case("7692 empty", &d, &[rsv(bin([0x00]), 4)], &[b(b"")], None);
    case(
        "7692 final block",
        &d,
        &[
            rsv(text([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 4),
            rsv(text(hello), 4),
        ],
        &[t("Hello"), t("Hello")],
        None,
    );
    case(
        "uncompressed message with deflate",
        &d,
        &[text("plain")],
        &[t("plain")],
        None,
    );
    case(
        "corrupt deflate",
        &d,
        &[rsv(bin([0xff, 0xff, 0xff]), 4)],
        &[],
        Some(1002),
    );
    case(
        "rsv1 without deflate",
        &cfg(),
        &[rsv(text(hello), 4)],
        &[],
        Some(1002),
    );
    // Compressed invalid UTF-8 → 1007.
    let mut z = percore_ws::Codec::new(
        Role::Client,
        Config {
            deflate: Some(DeflateConfig::context_takeover()),
            ..cfg()
        },
    );
    let mut out = BytesMut::new();
    z.encode(
        &Message::binary(Bytes::from_static(&[b'a', 0xed, 0xa0, 0x80])),
        &mut out,
    )
    .unwrap();
    out[0] = (out[0] & 0xf0) | 1; // turn into text
    assert_eq!(run(Role::Server, &d, &out), (vec![], Some(1007)));
}

#[test]
fn c13_zip_bomb() {
    let limit = 1 << 20;
    let small = Config {
        deflate: Some(DeflateConfig {
            level: 9,
            ..Default::default()
        }),
        max_message_size: limit,
        ..cfg()
    };
    let mut tx = Codec::new(
        Role::Client,
        Config {
            max_message_size: usize::MAX,
            ..small.clone()
        },
    );
    let mut out = BytesMut::new();
    tx.encode(&b(&vec![0u8; 64 << 20]), &mut out).unwrap();
    assert!(out.len() < 100_000, "compressed {}", out.len());
    assert_eq!(
        run_split(Role::Server, &small, &out, &[]),
        (vec![], Some(1009))
    );
    // Exactly at the limit passes.
    let mut tx = Codec::new(Role::Client, small.clone());
    let mut out = BytesMut::new();
    tx.encode(&b(&vec![0u8; limit]), &mut out).unwrap();
    assert_eq!(
        run_split(Role::Server, &small, &out, &[3]),
        (vec![b(&vec![0u8; limit])], None)
    );
    // Fragmented bomb: limit counted across fragments.
    let mut tx = Codec::new(
        Role::Client,
        Config {
            auto_fragment_size: Some(50),
            max_message_size: usize::MAX,
            ..small.clone()
        },
    );
    let mut out = BytesMut::new();
    tx.encode(&b(&vec![0u8; 8 << 20]), &mut out).unwrap();
    assert_eq!(
        run_split(Role::Server, &small, &out, &[]),
        (vec![], Some(1009))
    );
}

#[test]
fn c13_negotiation_answers() {
    let prefs = DeflateConfig::context_takeover();
    let answer = |offer: &str| negotiate(&prefs, &parse_offers([offer])).map(|x| x.1);
    assert_eq!(
        answer("permessage-deflate").as_deref(),
        Some("permessage-deflate")
    );
    assert_eq!(
        answer("permessage-deflate; client_no_context_takeover").as_deref(),
        Some("permessage-deflate; client_no_context_takeover")
    );
    assert_eq!(
        answer("permessage-deflate; server_no_context_takeover").as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    assert_eq!(
        answer("permessage-deflate; server_max_window_bits=15").as_deref(),
        Some("permessage-deflate; server_max_window_bits=15")
    );
    assert_eq!(answer("permessage-deflate; server_max_window_bits=8"), None);
    assert_eq!(
        answer("permessage-deflate; client_max_window_bits=8").as_deref(),
        Some("permessage-deflate; client_max_window_bits=8")
    );
    assert_eq!(answer("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover").as_deref(), Some("permessage-deflate; server_no_context_takeover"));
    assert_eq!(answer("deflate-frame"), None);
    // The defaults ask for no context takeover both ways and 12-bit
    // windows, whatever the client offered.
    let lean = DeflateConfig::default();
    let (neg, answer) = negotiate(
        &lean,
        &parse_offers(["permessage-deflate; client_max_window_bits"]),
    )
    .unwrap();
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=12; client_max_window_bits=12"
    );
    assert!(neg.server_no_context_takeover && neg.client_no_context_takeover);
}

#[test]
fn c13_threshold_sends_short_messages_uncompressed() {
    let c = Config {
        deflate: Some(DeflateConfig {
            threshold: 64,
            ..DeflateConfig::default()
        }),
        ..cfg()
    };
    for role in [Role::Server, Role::Client] {
        let mut tx = Codec::new(role, c.clone());
        let short = t(&"a".repeat(63));
        let long = t(&"a".repeat(64));
        let mut out = BytesMut::new();
        tx.encode(&short, &mut out).unwrap();
        assert_eq!(out[0] & 0x40, 0, "{role:?}: short message without RSV1");
        let split = out.len();
        tx.encode(&long, &mut out).unwrap();
        assert_eq!(out[split] & 0x40, 0x40, "{role:?}: long message with RSV1");
        assert!(
            out.len() - split < 2 + 4 + 64,
            "{role:?}: long message compressed"
        );
        let (msgs, err) = run(peer(role), &c, &out);
        assert_eq!((msgs, err), (vec![short, long], None));
    }
}

// ------------------------------------------------------------ misc

#[test]
fn client_mask_source_and_key_variety() {
    let mut keys = Vec::new();
    let mut c = Codec::new(Role::Client, cfg());
    for _ in 0..16 {
        let mut out = BytesMut::new();
        c.encode(&b(b"abcd"), &mut out).unwrap();
        keys.push([out[2], out[3], out[4], out[5]]);
    }
    keys.sort_unstable();
    keys.dedup();
    assert!(keys.len() > 12, "masking keys repeat: {keys:?}");
    let mut c = Codec::new(Role::Client, cfg()).with_mask_source(|| [9, 8, 7, 6]);
    let mut out = BytesMut::new();
    c.encode(&b(b""), &mut out).unwrap();
    assert_eq!(&out[..], &[0x82, 0x80, 9, 8, 7, 6]);
}

#[test]
fn unlimited_message_size_with_deflate() {
    let c = Config {
        deflate: Some(DeflateConfig::default()),
        max_message_size: usize::MAX,
        max_frame_size: usize::MAX,
        ..cfg()
    };
    let mut tx = Codec::new(Role::Client, c.clone());
    let mut out = BytesMut::new();
    tx.encode(&t("hello hello hello"), &mut out).unwrap();
    assert_eq!(
        run(Role::Server, &c, &out),
        (vec![t("hello hello hello")], None)
    );
}

#[test]
fn handshake_to_codec_with_deflate() {
    use percore_ws::handshake::{
        accept, client_request_headers, validate_upgrade, verify_response,
    };
    let prefs = DeflateConfig {
        client_no_context_takeover: true,
        ..Default::default()
    };
    let (key, req) = client_request_headers("example.com", &[], Some(&prefs)).unwrap();
    let up = validate_upgrade(&http::Method::GET, http::Version::HTTP_11, &req).unwrap();
    let acc = accept(&up, &[], Some(&DeflateConfig::default()));
    let neg = verify_response(
        http::StatusCode::SWITCHING_PROTOCOLS,
        &acc.headers,
        &key,
        &[],
        Some(&prefs),
    )
    .unwrap();
    assert_eq!(neg.deflate, acc.deflate);
    let mut client = Codec::new(
        Role::Client,
        Config {
            deflate: neg.deflate,
            ..cfg()
        },
    );
    let mut server = Codec::new(
        Role::Server,
        Config {
            deflate: acc.deflate,
            ..cfg()
        },
    );
    let mut wire = BytesMut::new();
    for i in 0..5 {
        let m = t(&format!("message {i} message {i} message {i}"));
        client.encode(&m, &mut wire).unwrap();
        assert_eq!(server.decode(&mut wire).unwrap(), Some(m.clone()));
        server.encode(&m, &mut wire).unwrap();
        assert_eq!(client.decode(&mut wire).unwrap(), Some(m));
    }
}
