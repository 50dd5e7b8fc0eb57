//! A one-core `Workers` run on the calling thread, with SIGINT/SIGTERM
//! relayed by a task of its core (no signal thread): each case runs in a
//! child process (this test binary again, `ONE_CORE_CHILD` naming the
//! case), since signal handlers and the signal thread are process-wide.
//! The child prints what it reaches; the parent signals it and checks.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use percore_runtime::{current_core, DriverChoice, Workers};

const CHILD: &str = "ONE_CORE_CHILD";

/// This process's threads, io_uring's kernel workers (`iou-*`) left out.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| {
        d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| !name.starts_with("iou-"))
            .count()
    })
}

fn driver(name: &str) -> DriverChoice {
    match name {
        "uring" => DriverChoice::Uring,
        _ => DriverChoice::Epoll,
    }
}

/// Runs `cores` cores until a signal raises their shutdown; prints
/// `ready` once every core runs, then `stopped N` with the cores that saw
/// the shutdown.
fn run_until_signal(d: DriverChoice, cores: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let before = threads();
    let (running, stopped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, s) = (running.clone(), stopped.clone());
    Workers::new()
        .cores(cores)
        .driver(d)
        .run(move |w| {
            let (r, s) = (r.clone(), s.clone());
            async move {
                assert_eq!(current_core(), Some(w.index));
                if r.fetch_add(1, Ordering::SeqCst) + 1 == w.cores {
                    if w.cores == 1 {
                        println!("threads {before} {}", threads());
                    }
                    println!("ready");
                }
                w.shutdown.wait().await;
                s.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("the run");
    assert_eq!(current_core(), None);
    println!("stopped {}", stopped.load(Ordering::SeqCst));
}

/// A one-core run whose core blocks its thread once it runs (as a
/// handler in an endless loop would): its signal relay never runs.
fn stuck_core(d: DriverChoice) {
    Workers::new()
        .cores(1)
        .driver(d)
        .run(|_| async {
            println!("ready");
            std::thread::sleep(Duration::from_secs(30));
            println!("still alive");
        })
        .expect("the run");
}

/// The child's side: the runs `ONE_CORE_CHILD` lists (`DRIVER:CORES,...`),
/// one after the other, each ended by a signal; then waits for the signal
/// that must end the process.
#[test]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    let (d, runs) = case.split_once(':').expect("DRIVER:CORES,...");
    if runs == "stuck" {
        stuck_core(driver(d));
    }
    for cores in runs.split(',') {
        run_until_signal(driver(d), cores.parse().expect("cores"));
    }
    println!("waiting");
    std::thread::sleep(Duration::from_secs(30));
    println!("still alive");
}

/// A child process, killed if the test fails before it ends.
struct Kid(Option<Child>);

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The child running `case`, with its stdout's lines.
fn spawn_child(case: &str) -> (Kid, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary again");
    let out: ChildStdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Kid(Some(child)), rx)
}

/// The next line with `marker`, from there on (the harness writes too,
/// `test child ... ` before the child's first line).
fn expect_line(rx: &mpsc::Receiver<String>, marker: &str, case: &str) -> String {
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(marker) => return line[line.find(marker).unwrap()..].into(),
            Ok(_) => {}
            Err(e) => panic!("{case}: no line with {marker:?} from the child ({e})"),
        }
    }
}

fn signal(child: &Kid, sig: libc::c_int) {
    let pid = child.0.as_ref().expect("running").id();
    // SAFETY: sends a signal to our own child process.
    let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
    assert_eq!(rc, 0);
}

/// Waits (at most 20 s) for the child's end; its exit code.
fn exit_code(mut kid: Kid, case: &str) -> Option<i32> {
    let child = kid.0.as_mut().expect("running");
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            kid.0 = None;
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{case}: the child did not exit");
}

/// Runs the child's `runs` (cores per run) on `d`, ends each with `sig`,
/// and checks the signal after the last one ends the process (128 + sig).
fn check(d: &str, runs: &[usize], sig: libc::c_int) {
    let list: Vec<String> = runs.iter().map(usize::to_string).collect();
    let case = format!("{d}:{}", list.join(","));
    let (child, rx) = spawn_child(&case);
    for &cores in runs {
        if cores == 1 {
            // No thread is started for a one-core run: not a worker, not
            // the signal thread (unless an earlier run started it).
            let line = expect_line(&rx, "threads ", &case);
            let n: Vec<usize> = line[8..].split(' ').map(|n| n.parse().unwrap()).collect();
            if runs[0] == 1 {
                assert_eq!(n[0], n[1], "{case}: threads before and during the run");
            }
        }
        expect_line(&rx, "ready", &case);
        signal(&child, sig);
        let stopped = expect_line(&rx, "stopped ", &case);
        assert_eq!(stopped, format!("stopped {cores}"), "{case}");
    }
    expect_line(&rx, "waiting", &case);
    signal(&child, sig);
    assert_eq!(exit_code(child, &case), Some(128 + sig), "{case}");
}

// SIGINT ends a one-core run gracefully; the next SIGINT, with nothing
// left to shut down, ends the process (the handler stays installed after
// the run, and no relay reads any more).
#[test]
fn sigint_stops_a_one_core_run_then_ends_the_process() {
    for d in ["uring", "epoll"] {
        check(d, &[1], libc::SIGINT);
    }
}

#[test]
fn sigterm_stops_a_one_core_run_then_ends_the_process() {
    for d in ["uring", "epoll"] {
        check(d, &[1], libc::SIGTERM);
    }
}

// After a one-core run, a multi-core run in the same process (which
// starts the signal thread) still stops gracefully on SIGINT; so do two
// one-core runs in a row.
#[test]
fn a_run_after_a_one_core_run_still_stops_gracefully() {
    for d in ["uring", "epoll"] {
        check(d, &[1, 2], libc::SIGINT);
        check(d, &[1, 1], libc::SIGINT);
    }
}

// With the signal thread running (a multi-core run first), a one-core run
// is relayed by both the thread and its own task: one signal, one stop.
#[test]
fn a_one_core_run_after_a_multi_core_run_stops_gracefully() {
    for d in ["uring", "epoll"] {
        check(d, &[2, 1], libc::SIGINT);
    }
}

// A one-core run whose core is stuck never reads the first signal: the
// second one, finding the first still unread, ends the process at once
// (as the second Ctrl-C does when the core runs).
#[test]
fn a_second_signal_ends_a_process_whose_one_core_is_stuck() {
    for d in ["uring", "epoll"] {
        let case = format!("{d}:stuck");
        let (child, rx) = spawn_child(&case);
        expect_line(&rx, "ready", &case);
        signal(&child, libc::SIGINT);
        std::thread::sleep(Duration::from_millis(100));
        signal(&child, libc::SIGINT);
        assert_eq!(exit_code(child, &case), Some(128 + libc::SIGINT), "{case}");
    }
}
