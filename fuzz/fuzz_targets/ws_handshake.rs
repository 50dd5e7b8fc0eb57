//! Arbitrary opening-handshake header values into the WebSocket server's
//! checks (`validate_upgrade`, `validate_h2_upgrade`, `accept`) and the
//! client's check of a server's `Sec-WebSocket-Extensions` answer
//! (`deflate::parse_response`), with preferences picked by the first bytes.
//!
//! Checks: no panic; an accepted upgrade has a key that decodes to 16 bytes
//! and an answer whose `Sec-WebSocket-Accept` is that key's; every
//! negotiated window is 9–15 bits; the answer the server gives parses back
//! as one offer with the parameters it negotiated; and when the server
//! answers our own client's offer, that client accepts the answer and
//! agrees with the server on every negotiated parameter.
#![no_main]
use http::{HeaderMap, HeaderValue, Method, Version};
use libfuzzer_sys::fuzz_target;
use percore_ws::deflate::{client_offer, negotiate, parse_offers, parse_response};
use percore_ws::handshake::{accept, accept_key, validate_h2_upgrade, validate_upgrade};
use percore_ws::DeflateConfig;

/// The handshake's header names, one picked per input line.
const NAMES: [&str; 7] = [
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "origin",
];

/// Preferences from one byte: each flag a bit, windows and level from the rest.
fn prefs(b: u8) -> DeflateConfig {
    DeflateConfig {
        server_no_context_takeover: b & 1 != 0,
        client_no_context_takeover: b & 2 != 0,
        server_max_window_bits: 8 + (b >> 2 & 7),
        client_max_window_bits: 8 + (b >> 5),
        ..DeflateConfig::default()
    }
}

fn bits_ok(c: &DeflateConfig) -> bool {
    (9..=15).contains(&c.server_max_window_bits) && (9..=15).contains(&c.client_max_window_bits)
}

/// The server's answer to `offers`, parsed back, says what it negotiated.
fn answer_round_trips(server: &DeflateConfig, offers_text: &[&str]) {
    let offers = parse_offers(offers_text.iter().copied());
    let Some((cfg, answer)) = negotiate(server, &offers) else {
        return;
    };
    assert!(bits_ok(&cfg), "{cfg:?}");
    let back = parse_offers([answer.as_str()]);
    assert_eq!(back.len(), 1, "{answer}");
    let a = back[0];
    assert_eq!(a.server_no_context_takeover, cfg.server_no_context_takeover);
    assert_eq!(a.client_no_context_takeover, cfg.client_no_context_takeover);
    assert_eq!(
        a.server_max_window_bits.unwrap_or(15),
        cfg.server_max_window_bits
    );
    if a.client_max_window_bits_offered {
        assert_eq!(a.client_max_window_bits, Some(cfg.client_max_window_bits));
    } else {
        assert_eq!(cfg.client_max_window_bits, 15, "{answer}");
    }
}

/// Our client's offer, answered by our server: both sides agree.
fn client_and_server_agree(client: &DeflateConfig, server: &DeflateConfig) {
    let offer = client_offer(client);
    let offers = parse_offers([offer.as_str()]);
    let (on_server, answer) = negotiate(server, &offers).expect("our own offer is acceptable");
    let on_client = parse_response(&answer, client).expect("our own server's answer is valid");
    assert_eq!(
        (
            on_server.server_no_context_takeover,
            on_server.client_no_context_takeover,
            on_server.server_max_window_bits,
            on_server.client_max_window_bits
        ),
        (
            on_client.server_no_context_takeover,
            on_client.client_no_context_takeover,
            on_client.server_max_window_bits,
            on_client.client_max_window_bits
        ),
        "offer {offer:?}, answer {answer:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let (server, client) = (prefs(*a), prefs(*b));
    client_and_server_agree(&client, &server);

    // Lines `N<value>`: N picks the header name, the rest is its value.
    let text = String::from_utf8_lossy(rest);
    let mut headers = HeaderMap::new();
    let mut extension_values = Vec::new();
    for line in text.split('\n') {
        let Some(first) = line.chars().next() else {
            continue;
        };
        let name = NAMES[first as usize % NAMES.len()];
        let value = &line[first.len_utf8()..];
        if name == "sec-websocket-extensions" {
            extension_values.push(value);
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(name, v);
        }
    }

    // The client side reads any answer without panicking; what it accepts
    // has windows a deflate stream can use.
    for value in &extension_values {
        if let Some(cfg) = parse_response(value, &client) {
            assert!((8..=15).contains(&cfg.server_max_window_bits), "{cfg:?}");
        }
    }
    answer_round_trips(&server, &extension_values);

    let method = if a & 0x80 != 0 {
        Method::GET
    } else {
        Method::POST
    };
    if let Ok(req) = validate_upgrade(&method, Version::HTTP_11, &headers) {
        assert_eq!(req.key.len(), 24);
        let accepted = accept(&req, &["chat", "v2"], Some(&server));
        assert_eq!(
            accepted.headers["sec-websocket-accept"],
            accept_key(&req.key).as_str()
        );
        if let Some(p) = &accepted.protocol {
            assert!(req.protocols.iter().any(|o| o == p));
        }
        if let Some(cfg) = &accepted.deflate {
            assert!(bits_ok(cfg), "{cfg:?}");
        }
    }
    if let Ok(req) = validate_h2_upgrade(&Method::CONNECT, Some("websocket"), &headers) {
        assert!(req.key.is_empty());
        let accepted = accept(&req, &["chat"], Some(&server));
        assert!(accepted.headers.get("sec-websocket-accept").is_none());
    }
});
