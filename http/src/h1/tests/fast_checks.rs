//! The scanner's shortcuts against the checks they stand for: the field
//! names that decide framing compared a word at a time
//! (`fields::same_name`) against `eq_ignore_ascii_case`, and the `Host`
//! values the wide scan passes (`wide::simple_host`) against
//! `target::valid_host`, on every one-byte change of a set of names and
//! values.

use super::super::fields::{maybe_framing, same_name, FieldKind};
use super::super::scan::{class, PATH, QUERY};
use super::super::target::valid_host;
use super::super::wide::simple_host;

const KNOWN: [&[u8]; 9] = [
    b"te",
    b"via",
    b"age",
    b"host",
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"expect",
    b"upgrade",
];

#[test]
fn a_name_is_known_in_any_case_and_only_then() {
    for known in KNOWN {
        let upper = known.to_ascii_uppercase();
        assert!(same_name(known, known));
        assert!(same_name(&upper, known));
        for at in 0..known.len() {
            for b in 0..=255u8 {
                let mut name = known.to_vec();
                name[at] = b;
                assert_eq!(
                    same_name(&name, known),
                    name.eq_ignore_ascii_case(known),
                    "{:?} against {:?}",
                    String::from_utf8_lossy(&name),
                    String::from_utf8_lossy(known)
                );
                let mut name = upper.clone();
                name[at] = b;
                assert_eq!(same_name(&name, known), name.eq_ignore_ascii_case(known));
            }
        }
        assert!(!same_name(&known[1..], known));
        assert!(!same_name(&[known, b"x"].concat(), known));
    }
}

#[test]
fn every_framing_name_passes_the_first_letter_filter() {
    // Every name `FieldKind::of_raw` knows, in any case, and every one-byte
    // change of them: the filter lets through at least those it knows.
    for known in KNOWN {
        for name in [known.to_vec(), known.to_ascii_uppercase()] {
            for at in 0..name.len() {
                for b in 0..=255u8 {
                    let mut changed = name.clone();
                    changed[at] = b;
                    for name in [&name, &changed] {
                        if FieldKind::of_raw(name) != FieldKind::Other {
                            assert!(maybe_framing(name), "{:?}", String::from_utf8_lossy(name));
                        }
                    }
                }
            }
        }
    }
    assert!(!maybe_framing(b"user-agent"));
    assert!(!maybe_framing(b"accept"));
    assert!(!maybe_framing(b""));
}

#[test]
fn origin_form_bytes_are_ascii() {
    // The scan skips the UTF-8 check of a target its path and query runs
    // covered: their classes hold ASCII bytes only.
    for b in 0x80..=0xffu8 {
        assert_eq!(class(b) & (PATH | QUERY), 0, "{b:#x}");
    }
}

/// `value` in a buffer as the scanner sees it, followed by the line's end
/// and `pad` more bytes.
fn in_buffer(value: &[u8], pad: usize) -> Vec<u8> {
    let mut data = b"Host: ".to_vec();
    data.extend_from_slice(value);
    data.extend_from_slice(b"\r\n");
    data.extend(std::iter::repeat_n(b'x', pad));
    data
}

#[test]
fn a_host_passed_at_once_is_a_good_host() {
    let hosts: [&[u8]; 10] = [
        b"127.0.0.1:31005",
        b"localhost",
        b"example.com:8080",
        b"a",
        b"",
        b"a-b.c:",
        b":80",
        b"[::1]:8080",
        b"0123456789abcdef",
        b"0123456789abcdefg",
    ];
    for host in hosts {
        for at in 0..host.len() {
            for b in 0..=255u8 {
                let mut value = host.to_vec();
                value[at] = b;
                for pad in [0, 16] {
                    let data = in_buffer(&value, pad);
                    if simple_host(&data, 6, 6 + value.len()) {
                        assert!(
                            valid_host(&value),
                            "{:?} passed",
                            String::from_utf8_lossy(&value)
                        );
                    }
                }
            }
        }
    }
    // The common ones pass at once where there is a wide scan.
    let wide = cfg!(all(target_arch = "x86_64", not(miri)));
    for host in [
        &b"127.0.0.1:31005"[..],
        b"localhost",
        b"a-b.c:",
        b":80",
        b"",
    ] {
        let data = in_buffer(host, 16);
        assert_eq!(simple_host(&data, 6, 6 + host.len()), wide);
    }
    // Not the others (checked byte by byte instead).
    for host in [&b"[::1]:8080"[..], b"a_b", b"a:8x", b"0123456789abcdefg"] {
        let data = in_buffer(host, 16);
        assert!(!simple_host(&data, 6, 6 + host.len()));
    }
}
