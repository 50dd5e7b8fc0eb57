//! Unit tests of the WebSocket handshake.

use super::*;

fn good() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(UPGRADE, "websocket".parse().unwrap());
    h.insert(CONNECTION, "Upgrade".parse().unwrap());
    h.insert(
        SEC_WEBSOCKET_KEY,
        "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
    );
    h.insert(SEC_WEBSOCKET_VERSION, "13".parse().unwrap());
    h
}

#[test]
fn h2_answers_are_checked() {
    let offer = DeflateConfig::default();
    let ok = |h: &HeaderMap, d| verify_h2_response(StatusCode::OK, h, &["a", "b"], d);
    assert_eq!(ok(&HeaderMap::new(), None).unwrap().protocol, None);
    let mut h = HeaderMap::new();
    h.insert(SEC_WEBSOCKET_PROTOCOL, "b".parse().unwrap());
    assert_eq!(ok(&h, None).unwrap().protocol.as_deref(), Some("b"));
    h.insert(SEC_WEBSOCKET_PROTOCOL, "c".parse().unwrap());
    assert!(ok(&h, None).is_err(), "a subprotocol not offered");
    h.insert(SEC_WEBSOCKET_PROTOCOL, "a, b".parse().unwrap());
    assert!(ok(&h, None).is_err(), "two subprotocols");
    let mut h = HeaderMap::new();
    let answer = "permessage-deflate; server_no_context_takeover";
    h.insert(SEC_WEBSOCKET_EXTENSIONS, answer.parse().unwrap());
    assert!(ok(&h, None).is_err(), "an extension not offered");
    assert!(ok(&h, Some(&offer)).unwrap().deflate.is_some());
    h.insert(
        SEC_WEBSOCKET_EXTENSIONS,
        "permessage-deflate; server_max_window_bits=99"
            .parse()
            .unwrap(),
    );
    assert!(ok(&h, Some(&offer)).is_err(), "a malformed extension");
    for status in [StatusCode::SWITCHING_PROTOCOLS, StatusCode::FORBIDDEN] {
        let e = verify_h2_response(status, &HeaderMap::new(), &[], None).unwrap_err();
        assert_eq!(e.status(), status);
    }
    let h = client_h2_request_headers(&["a", "b"], Some(&offer)).unwrap();
    assert_eq!(h[SEC_WEBSOCKET_PROTOCOL], "a, b");
    assert!(h.contains_key(SEC_WEBSOCKET_EXTENSIONS));
    assert!(!h.contains_key(UPGRADE) && !h.contains_key(SEC_WEBSOCKET_KEY));
    assert!(client_h2_request_headers(&["a\nb"], None).is_err());
}

#[test]
fn errors_name_their_reason() {
    let e = validate_upgrade(&Method::POST, Version::HTTP_11, &good()).unwrap_err();
    assert_eq!(e.reason(), "method is not GET");
    assert_eq!(
        e.to_string(),
        "websocket handshake failed (400 Bad Request): method is not GET"
    );
}

#[test]
fn a_key_of_24_characters_must_decode_to_16_bytes() {
    let mut h = good();
    // 24 characters of base64 without padding: 18 bytes.
    h.insert(
        SEC_WEBSOCKET_KEY,
        "AAAAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
    );
    let e = validate_upgrade(&Method::GET, Version::HTTP_11, &h).unwrap_err();
    assert_eq!(e.reason(), "invalid Sec-WebSocket-Key");
}

#[test]
fn h2_requests_are_checked() {
    let mut h = HeaderMap::new();
    h.insert(SEC_WEBSOCKET_VERSION, "13".parse().unwrap());
    let check = |m: &Method, p| validate_h2_upgrade(m, p, &h);
    let req = check(&Method::CONNECT, Some("WebSocket")).unwrap();
    assert!(req.key.is_empty());
    let e = check(&Method::GET, Some("websocket")).unwrap_err();
    assert_eq!(
        (e.status(), e.reason()),
        (StatusCode::BAD_REQUEST, "method is not CONNECT")
    );
    for protocol in [None, Some("chat")] {
        let e = check(&Method::CONNECT, protocol).unwrap_err();
        assert_eq!(e.reason(), "no `:protocol: websocket`", "{protocol:?}");
    }
    let e = validate_h2_upgrade(&Method::CONNECT, Some("websocket"), &HeaderMap::new());
    assert_eq!(e.unwrap_err().status(), StatusCode::UPGRADE_REQUIRED);
}

#[test]
fn our_first_offered_subprotocol_is_selected() {
    let offered = ["b".to_string(), "a".to_string()];
    assert_eq!(select_protocol(&offered, &["a", "b"]), Some("a"));
    assert_eq!(select_protocol(&offered, &["c", "b"]), Some("b"));
    assert_eq!(select_protocol(&offered[..1], &["a"]), None);
    assert_eq!(select_protocol(&[], &["a"]), None);
}

#[test]
fn rfc_accept_key() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn server_validation_table() {
    let g = |f: &dyn Fn(&mut HeaderMap)| {
        let mut h = good();
        f(&mut h);
        validate_upgrade(&Method::GET, Version::HTTP_11, &h).map_err(|e| e.status().as_u16())
    };
    assert!(g(&|_| {}).is_ok());
    assert!(g(&|h| {
        h.insert(UPGRADE, "foo, WebSocket".parse().unwrap());
        h.insert(CONNECTION, "keep-alive,UPGRADE".parse().unwrap());
    })
    .is_ok());
    assert!(g(&|h| {
        h.remove(CONNECTION);
        h.append(CONNECTION, "keep-alive".parse().unwrap());
        h.append(CONNECTION, "upgrade".parse().unwrap());
    })
    .is_ok());
    assert_eq!(
        g(&|h| {
            h.remove(UPGRADE);
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.insert(UPGRADE, "websockets".parse().unwrap());
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.insert(CONNECTION, "keep-alive".parse().unwrap());
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.remove(SEC_WEBSOCKET_KEY);
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.insert(SEC_WEBSOCKET_KEY, "abc".parse().unwrap());
        })
        .unwrap_err(),
        400
    );
    // base64 of 15 bytes
    assert_eq!(
        g(&|h| {
            h.insert(SEC_WEBSOCKET_KEY, "AAAAAAAAAAAAAAAAAAAA".parse().unwrap());
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.append(
                SEC_WEBSOCKET_KEY,
                "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
            );
        })
        .unwrap_err(),
        400
    );
    assert_eq!(
        g(&|h| {
            h.remove(SEC_WEBSOCKET_VERSION);
        })
        .unwrap_err(),
        426
    );
    assert_eq!(
        g(&|h| {
            h.insert(SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
        })
        .unwrap_err(),
        426
    );
    let h = good();
    assert_eq!(
        validate_upgrade(&Method::POST, Version::HTTP_11, &h)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        validate_upgrade(&Method::GET, Version::HTTP_10, &h)
            .unwrap_err()
            .status(),
        400
    );
    let mut h = good();
    h.remove(SEC_WEBSOCKET_VERSION);
    let e = validate_upgrade(&Method::GET, Version::HTTP_11, &h).unwrap_err();
    assert_eq!(e.response_headers()[SEC_WEBSOCKET_VERSION], "13");
    let mut h = good();
    h.insert(ORIGIN, "http://example.com".parse().unwrap());
    h.append(SEC_WEBSOCKET_PROTOCOL, "a, b".parse().unwrap());
    h.append(SEC_WEBSOCKET_PROTOCOL, "c".parse().unwrap());
    let r = validate_upgrade(&Method::GET, Version::HTTP_11, &h).unwrap();
    assert_eq!(r.protocols, ["a", "b", "c"]);
    assert_eq!(r.origin.as_deref(), Some("http://example.com"));
}

#[test]
fn client_round_trip() {
    let prefs = DeflateConfig::default();
    let (key, mut req) = client_request_headers("h", &["p1", "p2"], Some(&prefs)).unwrap();
    assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);
    req.insert(CONNECTION, "upgrade".parse().unwrap());
    let up = validate_upgrade(&Method::GET, Version::HTTP_11, &req).unwrap();
    let acc = accept(&up, &["p2"], Some(&prefs));
    let n = verify_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &acc.headers,
        &key,
        &["p1", "p2"],
        Some(&prefs),
    )
    .unwrap();
    assert_eq!(n.protocol.as_deref(), Some("p2"));
    assert_eq!(n.deflate, acc.deflate);
    // wrong key
    assert!(verify_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &acc.headers,
        "x",
        &["p1", "p2"],
        Some(&prefs)
    )
    .is_err());
    // protocol not offered / extension not offered
    assert!(verify_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &acc.headers,
        &key,
        &["p1"],
        Some(&prefs)
    )
    .is_err());
    assert!(verify_response(
        StatusCode::SWITCHING_PROTOCOLS,
        &acc.headers,
        &key,
        &["p2"],
        None
    )
    .is_err());
    assert!(verify_response(StatusCode::OK, &acc.headers, &key, &["p2"], Some(&prefs)).is_err());
    assert!(client_request_headers("bad\nhost", &[], None).is_err());
}
