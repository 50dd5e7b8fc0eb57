//! The scanner's wide byte loops (`h1::wide`, SSE2 on x86_64) against its
//! byte-at-a-time table loop: every byte value at every position of runs
//! up to past two chunks, from several starting points, for every run.

use super::super::scan::{class, skip, skip_run, PATH, QUERY, TOKEN, VALUE};
use super::super::wide::{first_flagged, Run};

const RUNS: [(Run, u8); 4] = [
    (Run::Token, TOKEN),
    (Run::Path, PATH),
    (Run::Query, QUERY),
    (Run::Value, VALUE),
];

#[test]
fn every_byte_at_every_position_ends_a_run_where_the_table_does() {
    for (run, mask) in RUNS {
        // A byte of the class that no run flags, and one it flags (but
        // which is in the class).
        for filler in [b'a', b'-'] {
            assert_ne!(class(filler) & mask, 0);
            for len in 0..=34 {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut data = vec![filler; len];
                        data[at] = b;
                        for start in [0, 1, 17] {
                            assert_eq!(
                                skip_run(&data, start, mask, run),
                                skip(&data, start, mask),
                                "{run:?} byte {b:#x} at {at} of {len} from {start}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn no_byte_outside_a_class_goes_unflagged() {
    for (run, mask) in RUNS {
        for b in 0..=255u8 {
            let chunk = [b; 16];
            let flagged = first_flagged(&chunk, 0, run) == 0;
            if class(b) & mask == 0 {
                // Where there is no wide scan, nothing is skipped at all.
                assert!(flagged, "{run:?} skips {b:#x}");
            }
        }
    }
}

#[test]
fn ordinary_bytes_are_skipped_a_chunk_at_a_time() {
    // Where the wide scan exists, a chunk of letters passes at once; the
    // bytes after the last whole chunk are left to the caller.
    let data = [b'a'; 40];
    for (run, _) in RUNS {
        let expected = if cfg!(all(target_arch = "x86_64", not(miri))) {
            32
        } else {
            0
        };
        assert_eq!(first_flagged(&data, 0, run), expected, "{run:?}");
        assert_eq!(first_flagged(&data, 30, run), 30, "{run:?}");
    }
}
