//! The programs' command lines (the demo and the echo server): every
//! mistake — an unknown flag, a missing value, a malformed address, too few
//! or too many cores, an unknown driver, from `--driver` or from
//! `PERCORE_DRIVER` — exits with status 2, one `error:` line naming it and
//! the usage, before anything binds; `--help` lists every flag with its
//! default and `--version` prints the version, both with status 0; the flags
//! that parse reach the program, on both drivers.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use percore::available_cores;

const PROGRAMS: [&str; 2] = ["demo", "echo"];

/// `program` with `args`, and `PERCORE_DRIVER` only when `env_driver` sets it.
fn command(program: &str, args: &[&str], env_driver: Option<&str>) -> Command {
    let mut cmd = Command::new(example_binary(program));
    cmd.args(args).env_remove("PERCORE_DRIVER");
    if let Some(driver) = env_driver {
        cmd.env("PERCORE_DRIVER", driver);
    }
    cmd
}

/// Runs `cmd` to its end (10 s at most: a program still running then did not
/// refuse its command line, and the test fails).
fn run_to_exit(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still runs after 10 s; stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Runs `program args` and checks that it refuses them: status 2, stderr
/// starting with an `error:` line that contains every one of `messages`,
/// the usage, and nothing on stdout (no `listening on`). Unless `args` name
/// an address, the program is given one on a port this test holds open, so
/// a program that went on to bind would fail differently (status 1,
/// "Address in use") or print `listening on`.
fn assert_refused(program: &str, args: &[&str], env_driver: Option<&str>, messages: &[&str]) {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();
    let mut all = Vec::new();
    if !args.iter().any(|a| a.starts_with("--listen")) {
        all.extend(["--listen", listen.as_str()]);
    }
    all.extend_from_slice(args);
    let out = run_to_exit(command(program, &all, env_driver));
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    let what = format!("{program} {all:?} (PERCORE_DRIVER={env_driver:?})");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: stdout {stdout:?}, stderr {stderr:?}"
    );
    assert_eq!(stdout, "", "{what}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{what}: {stderr}");
    for message in messages {
        assert!(
            stderr.contains(message),
            "{what}: no {message:?} in {stderr}"
        );
    }
    assert!(
        stderr.contains(&format!("Usage: {program} [OPTIONS]")),
        "{what}: no usage in {stderr}"
    );
    // The held port is still ours alone: nothing connected to it either.
    held.set_nonblocking(true).unwrap();
    assert!(held.accept().is_err(), "{what}: something connected");
}

#[test]
fn unknown_flags_and_stray_words_are_refused() {
    for program in PROGRAMS {
        // The issue's own example: an unknown flag between known ones.
        assert_refused(
            program,
            &["--listen", "127.0.0.1:1", "--bogus", "1", "--cores", "1"],
            None,
            &["unexpected argument '--bogus'"],
        );
        assert_refused(
            program,
            &["--core", "1"],
            None,
            &[
                "unexpected argument '--core'",
                "similar argument exists: '--cores'",
            ],
        );
        assert_refused(
            program,
            &["--drivr", "epoll"],
            None,
            &[
                "unexpected argument '--drivr'",
                "similar argument exists: '--driver'",
            ],
        );
        assert_refused(program, &["serve"], None, &["unexpected argument 'serve'"]);
        assert_refused(
            program,
            &["--cores", "1", "--cores", "1"],
            None,
            &["'--cores <N>' cannot be used multiple times"],
        );
    }
}

#[test]
fn missing_values_are_refused() {
    for program in PROGRAMS {
        for flag in ["--listen <ADDR>", "--cores <N>", "--driver <DRIVER>"] {
            let name = flag.split(' ').next().unwrap();
            assert_refused(
                program,
                &[name],
                None,
                &[&format!("a value is required for '{flag}'")],
            );
        }
    }
}

#[test]
fn malformed_addresses_are_refused() {
    for program in PROGRAMS {
        for addr in [
            "127.0.0.1",
            "8080",
            "localhost:8080",
            "127.0.0.1:65536",
            "127.0.0.256:80",
            "[::1]",
            "",
        ] {
            let inline = format!("--listen={addr}");
            assert_refused(
                program,
                &[&inline],
                None,
                &[&format!("invalid value '{addr}' for '--listen <ADDR>'")],
            );
        }
    }
}

#[test]
fn core_counts_outside_what_the_process_may_use_are_refused() {
    let allowed = available_cores();
    let too_many = (allowed + 1).to_string();
    for program in PROGRAMS {
        assert_refused(
            program,
            &["--cores", "0"],
            None,
            &["invalid value '0' for '--cores <N>'", "at least 1 core"],
        );
        assert_refused(
            program,
            &["--cores", &too_many],
            None,
            &[
                &format!("invalid value '{too_many}' for '--cores <N>'"),
                &format!("this process may use {allowed} core"),
            ],
        );
        assert_refused(
            program,
            &["--cores=-1"],
            None,
            &["invalid value '-1' for '--cores <N>'"],
        );
        assert_refused(
            program,
            &["--cores", "two"],
            None,
            &["\"two\" is not a number of cores"],
        );
    }
}

#[test]
fn more_cores_than_taskset_allows_are_refused() {
    // `taskset -c 0` leaves the program one core, whatever the machine has.
    if Command::new("taskset").arg("-V").output().is_err() {
        panic!("taskset (util-linux) is missing");
    }
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0"])
        .arg(example_binary("demo"))
        .args(["--listen", &listen, "--cores", "2"])
        .env_remove("PERCORE_DRIVER");
    let out = run_to_exit(cmd);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this process may use 1 core (its CPU affinity mask)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_drivers_are_refused_from_the_flag_and_from_the_environment() {
    for program in PROGRAMS {
        assert_refused(
            program,
            &["--driver", "kqueue"],
            None,
            &[
                "invalid value 'kqueue' for '--driver <DRIVER>'",
                "possible values: uring, epoll, auto",
            ],
        );
        assert_refused(
            program,
            &[],
            Some("kqueue"),
            &[
                "invalid value 'kqueue' for '--driver <DRIVER>'",
                "the value comes from the environment variable PERCORE_DRIVER",
            ],
        );
    }
}

#[test]
fn echo_refuses_its_own_mistakes() {
    assert_refused(
        "echo",
        &["--buffer", "0"],
        None,
        &["invalid value '0' for '--buffer <BYTES>'"],
    );
    assert_refused(
        "echo",
        &["--canned", "--unmask"],
        None,
        &["'--canned' cannot be used with '--unmask'"],
    );
    assert_refused(
        "echo",
        &["--unmask=yes"],
        None,
        &["unexpected value 'yes' for '--unmask'"],
    );
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let cores_default = format!("[default: {}]", available_cores());
    for (program, listen_default, own) in [
        ("demo", "[default: 127.0.0.1:8080]", &[][..]),
        (
            "echo",
            "[default: 127.0.0.1:7000]",
            &[
                "--buffer <BYTES>",
                "[default: 16384]",
                "--unmask",
                "--canned",
            ][..],
        ),
    ] {
        let out = run_to_exit(command(program, &["--help"], None));
        let help = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stderr(&out), "");
        let common = [
            &format!("Usage: {program} [OPTIONS]"),
            "--listen <ADDR>",
            listen_default,
            "--cores <N>",
            &cores_default,
            "--driver <DRIVER>",
            "[default: auto]",
            "uring",
            "epoll",
            "[env: PERCORE_DRIVER=]",
            "--help",
            "--version",
        ];
        for text in common.iter().copied().chain(own.iter().copied()) {
            assert!(
                help.contains(text),
                "{program} --help lacks {text:?}:\n{help}"
            );
        }
        // The summary (-h) is help too.
        let out = run_to_exit(command(program, &["-h"], None));
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("[default: auto]"), "{}", stdout(&out));
    }
}

#[test]
fn version_prints_the_version() {
    for program in PROGRAMS {
        for flag in ["--version", "-V"] {
            let out = run_to_exit(command(program, &[flag], None));
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            assert_eq!(
                stdout(&out),
                format!("{program} {}\n", env!("CARGO_PKG_VERSION"))
            );
        }
    }
}

/// The driver named in a `listening on ... driver: D)` line.
fn driver_in(line: &str) -> &str {
    line.split("driver: ")
        .nth(1)
        .and_then(|rest| rest.split([')', ' ']).next())
        .unwrap_or_else(|| panic!("no driver in {line:?}"))
}

#[test]
fn percore_driver_picks_the_driver_unless_the_flag_does() {
    for program in PROGRAMS {
        for (env, flag, expected) in [
            ("epoll", None, "epoll"),
            ("uring", None, "io_uring"),
            ("IO_URING", None, "io_uring"),
            ("uring", Some("--driver=epoll"), "epoll"),
            ("epoll", Some("--driver=uring"), "io_uring"),
        ] {
            let mut args = vec!["--listen=127.0.0.1:0", "--cores=1"];
            args.extend(flag);
            let (_running, line) = start_listening(&mut command(program, &args, Some(env)));
            assert_eq!(driver_in(&line), expected, "{program} {args:?}: {line}");
            assert!(line.contains("cores: 1"), "{line}");
        }
    }
}

/// Sends `request` and reads until `expected_len` bytes came back.
fn exchange(addr: std::net::SocketAddr, request: &[u8], expected_len: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut got = vec![0; expected_len];
    s.read_exact(&mut got).unwrap();
    got
}

/// The echo server on one core of `driver`, on a free port, with `extra` flags.
fn start_echo(driver: &str, extra: &[&str]) -> (Running, std::net::SocketAddr) {
    let driver = format!("--driver={driver}");
    let mut args = vec!["--listen=127.0.0.1:0", "--cores=1", &driver];
    args.extend_from_slice(extra);
    let (running, line) = start_listening(&mut command("echo", &args, None));
    (running, listening_addr(&line))
}

#[test]
fn echo_flags_reach_the_server_on_both_drivers() {
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    for driver in ["uring", "epoll"] {
        // A 7-byte buffer and the unmask pass still echo every byte.
        let (_echo, addr) = start_echo(driver, &["--buffer", "7", "--unmask"]);
        assert_eq!(exchange(addr, &payload, payload.len()), payload, "{driver}");

        // --canned answers each request head with the demo's /plaintext
        // answer, dated (115 bytes: the date is 29).
        let (_canned, addr) = start_echo(driver, &["--canned"]);
        const LEN: usize = 115;
        let two = exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
            2 * LEN,
        );
        assert_eq!(two.len(), 2 * LEN, "{driver}");
        for answer in two.chunks(LEN) {
            let text = std::str::from_utf8(answer).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert_eq!(body, "Hello, World!", "{driver}");
            let lines: Vec<&str> = head.split("\r\n").collect();
            assert_eq!(lines[0], "HTTP/1.1 200 OK", "{driver}");
            assert!(
                lines[1].starts_with("date: ") && lines[1].ends_with(" GMT"),
                "{head}"
            );
            assert_eq!(
                lines[2..],
                ["content-type: text/plain", "content-length: 13"],
                "{driver}"
            );
        }
    }
}
