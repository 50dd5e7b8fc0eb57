//! HTTP/2 (h2c) against real clients — curl, nghttp, h2load, Python `h2`
//! and `httpx` — including the attack scenarios, on both drivers.

mod common;
use common::*;

use std::process::Command;
use std::time::Duration;

use percore::{DriverChoice, Limits};

fn python_h2(srv: &TestServer, mode: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/h2_client.py");
    let out = run(Command::new("timeout").args(["60", "python3", script, &srv.url(""), mode]));
    assert_eq!(stdout(&out).trim(), "ok");
}

both_drivers!(curl_prior_knowledge_routes, |d: DriverChoice| {
    let srv = TestServer::start(d);
    // One URL per run: curl 7.88 (Debian 12) fails to reuse a
    // prior-knowledge connection for a second URL (curl/curl#10634, fixed
    // in 7.89); nghttp and h2load below cover connection reuse.
    for (path, body) in [
        ("/plaintext", "Hello, World!"),
        ("/json", "{\"message\":\"Hello, World!\"}"),
    ] {
        let out =
            run(Command::new("curl").args(["-sv", "--http2-prior-knowledge", &srv.url(path)]));
        assert_eq!(stdout(&out), body);
        let err = stderr(&out);
        assert!(err.contains("< HTTP/2 200"), "{err}");
    }
    // HEAD: headers only.
    let out =
        run(Command::new("curl").args(["-sI", "--http2-prior-knowledge", &srv.url("/plaintext")]));
    let text = stdout(&out);
    assert!(text.starts_with("HTTP/2 200"), "{text}");
    assert!(text.contains("content-length: 13"), "{text}");
});

both_drivers!(curl_upgrade_to_h2c, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("curl").args([
        "-sv",
        "--http2",
        &srv.url("/json"),
        &srv.url("/plaintext"),
    ]));
    assert_eq!(stdout(&out), "{\"message\":\"Hello, World!\"}Hello, World!");
    let err = stderr(&out);
    assert!(err.contains("101 Switching Protocols"), "{err}");
    assert!(err.contains("< HTTP/2 200"), "{err}");
});

both_drivers!(curl_echoes_8_mib_over_h2, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let file = TempFile::new("h2-echo", &data);
    let out = run(Command::new("curl").args([
        "-s",
        "--http2-prior-knowledge",
        "-H",
        "content-type: application/x-test",
        "--data-binary",
        &format!("@{}", file.0.display()),
        &srv.url("/echo"),
    ]));
    assert!(
        out.stdout == data,
        "8 MiB echo differs ({} bytes back)",
        out.stdout.len()
    );
});

both_drivers!(nghttp_sees_settings_and_response, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("nghttp").args(["-nv", &srv.url("/plaintext")]));
    let text = stdout(&out);
    assert!(text.contains("recv SETTINGS frame"), "{text}");
    assert!(text.contains(":status: 200"), "{text}");
    assert!(
        text.contains("recv DATA frame <length=13, flags=0x01"),
        "{text}"
    );
});

both_drivers!(h2load_many_streams, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("h2load").args([
        "-n",
        "20000",
        "-c",
        "8",
        "-m",
        "50",
        &srv.url("/plaintext"),
    ]));
    let text = stdout(&out);
    assert!(
        text.contains("20000 succeeded, 0 failed, 0 errored"),
        "{text}"
    );
    assert!(text.contains("status codes: 20000 2xx"), "{text}");
});

both_drivers!(
    python_h2_streams_flow_control_and_httpx,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_h2(&srv, "basic");
    }
);

both_drivers!(rapid_reset_is_cut_off, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "rapid-reset");
});

both_drivers!(settings_flood_is_cut_off, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "settings-flood");
});

both_drivers!(continuation_flood_is_cut_off, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "continuation-flood");
});

both_drivers!(streams_beyond_the_limit_are_refused, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "stream-limit");
});

both_drivers!(python_h2_trailers_both_ways, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "trailers");
});

both_drivers!(a_window_kept_shut_resets_the_stream, |d: DriverChoice| {
    let limits = Limits::default().h2_send_window_timeout(Duration::from_secs(1));
    let srv = TestServer::with_limits(d, limits);
    python_h2(&srv, "window-stall");
});

both_drivers!(slow_and_unfinished_request_bodies_end, |d: DriverChoice| {
    let limits = Limits::default()
        .body_read_timeout(Duration::from_millis(500))
        .min_body_rate(1000)
        .keep_alive_timeout(Duration::from_secs(1));
    let srv = TestServer::with_limits(d, limits);
    python_h2(&srv, "slow-bodies");
});

both_drivers!(a_client_that_stops_reading_is_cut_off, |d: DriverChoice| {
    let limits = Limits::default().write_timeout(Duration::from_millis(500));
    let srv = TestServer::with_limits(d, limits);
    python_h2(&srv, "stops-reading");
});

both_drivers!(pings_do_not_keep_an_idle_connection, |d: DriverChoice| {
    let limits = Limits::default().keep_alive_timeout(Duration::from_secs(1));
    let srv = TestServer::with_limits(d, limits);
    python_h2(&srv, "pings-do-not-hold");
});

both_drivers!(
    a_client_that_half_closes_gets_its_answer,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_h2(&srv, "half-close");
    }
);

both_drivers!(http1_still_works_beside_h2, |d: DriverChoice| {
    let srv = TestServer::start(d);
    let out = run(Command::new("curl").args(["-s", "--http1.1", &srv.url("/plaintext")]));
    assert_eq!(stdout(&out), "Hello, World!");
});

// Streams answered before their request ends (RFC 9113 §8.1): the request
// is drained, its frames still checked, whatever the timing. Each case
// waits for the complete answer before it sends the frame under test.

both_drivers!(early_answer_data_after_clients_reset, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "early-rst-then-data");
});

both_drivers!(
    early_answer_headers_after_clients_reset,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_h2(&srv, "early-rst-then-headers");
    }
);

both_drivers!(
    early_answer_second_headers_without_end_stream,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_h2(&srv, "early-second-headers");
    }
);

both_drivers!(
    early_answer_trailers_with_a_pseudo_header,
    |d: DriverChoice| {
        let srv = TestServer::start(d);
        python_h2(&srv, "early-pseudo-trailers");
    }
);

both_drivers!(early_answer_window_update_overflow, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "early-window-overflow");
});

both_drivers!(early_answer_content_length_mismatch, |d: DriverChoice| {
    let srv = TestServer::start(d);
    python_h2(&srv, "early-content-length");
});

both_drivers!(
    early_answer_request_is_drained_within_bounds,
    |d: DriverChoice| {
        let limits = Limits::default().h2_initial_window_size(65_535);
        let srv = TestServer::with_limits(d, limits);
        python_h2(&srv, "early-drain");
    }
);
