//! A memo of the last request head a connection parsed: a client that
//! sends the same head bytes again (keep-alive polling, health checks,
//! load generators) gets the previous head's verdict and offsets after one
//! comparison of the buffer's first bytes with the previous head's.
//!
//! Exact, not a heuristic: a head is accepted at its empty line, and the
//! scanner's verdict on an accepted head is a function of its bytes and of
//! the limits only (every decision it made looked at bytes before the
//! head's end; a window a limit cuts covered the whole head). So a buffer
//! whose first bytes equal an accepted head, under equal limits, gets that
//! same head back from the scanner, and the memo answers it without
//! scanning. A buffer holding only part of the head, or a head differing
//! in any byte, or other limits, is scanned as usual. What a head parsed
//! into is kept once its bytes came twice in a row (before that, only the
//! bytes are), so heads that all differ cost a failed comparison and a
//! copy of the bytes, not the keeping of parsed heads; after a run of
//! them, only one head in [`MEMO_SAMPLE`] is kept for comparison
//! ([`MEMO_STREAK`]), so most cost neither. The tests in
//! `h1/tests/memo.rs` and the fuzz target `h1_head_memo` compare the memo
//! with a fresh parse.

use bytes::{Buf, BytesMut};

use super::error::ParseError;
use super::head::RawHead;
use super::parse::skip_empty_lines;
use super::scan::scan;
use crate::Limits;

/// The longest head the memo keeps (a longer one is parsed every time).
pub const MEMO_MAX_HEAD: usize = 256;

/// After this many accepted heads in a row that each differed from the
/// one before, the memo keeps the bytes of only one head in
/// [`MEMO_SAMPLE`] (the others cost no copy, and the head after them no
/// comparison): a client whose heads all differ pays for a comparison and
/// a copy once in [`MEMO_SAMPLE`] heads, and one that starts repeating its
/// head is answered by the memo again within [`MEMO_SAMPLE`] + 2 heads.
pub(super) const MEMO_STREAK: u32 = 8;

/// See [`MEMO_STREAK`].
pub(super) const MEMO_SAMPLE: u32 = 8;

/// How many heads in a row a memo did not answer, and the rule that
/// follows from it: after [`MEMO_STREAK`] of them, only one head in
/// [`MEMO_SAMPLE`] is kept. Shared by the request memo ([`HeadMemo`]) and
/// the client's response memo.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct MissStreak(u32);

impl MissStreak {
    /// The memo answered: the streak ends.
    #[inline(always)]
    pub(super) fn hit(&mut self) {
        self.0 = 0;
    }

    /// The memo did not answer: whether this head is kept for the next
    /// comparison (wrapping count).
    #[inline(always)]
    pub(super) fn miss_keeps(&mut self) -> bool {
        self.0 = self.0.wrapping_add(1);
        self.0 <= MEMO_STREAK || self.0.is_multiple_of(MEMO_SAMPLE)
    }
}

/// The limits the scanner reads (every one of them: a head accepted under
/// one set may be refused under another).
#[derive(Clone, Copy, PartialEq, Eq)]
struct LimitsKey {
    head: usize,
    uri: usize,
    headers: usize,
    body: u64,
}

impl LimitsKey {
    fn of(limits: &Limits) -> LimitsKey {
        LimitsKey {
            head: limits.max_head_size,
            uri: limits.max_uri_len,
            headers: limits.max_headers,
            body: limits.max_body_size,
        }
    }
}

/// The last accepted request head of a connection (see the [module
/// documentation](self)); [`HeadMemo::parse`] is
/// [`parse_raw_head`](super::parse_raw_head) with it. Kept inline (no
/// allocation); heads over [`MEMO_MAX_HEAD`] bytes are
/// not kept.
///
/// ```
/// use bytes::{Buf, Bytes, BytesMut};
/// use percore_http::{h1::HeadMemo, Limits};
/// let limits = Limits::default();
/// let mut memo = HeadMemo::new();
/// let mut buf = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"[..].repeat(3)[..]);
/// let first = memo.parse(&mut buf, &limits).unwrap().unwrap(); // bytes kept
/// let second = memo.parse(&mut buf, &limits).unwrap().unwrap(); // the head kept
/// let third = memo.parse(&mut buf, &limits).unwrap().unwrap(); // from the memo
/// assert_eq!((first.path(), third.path()), ("/a", "/a"));
/// assert!(buf.is_empty());
/// ```
#[derive(Clone)]
pub struct HeadMemo {
    /// What the kept bytes parsed into (on a copy of them), once they
    /// came twice in a row: the heads given out are this one, shared.
    head: Option<RawHead>,
    /// The limits the kept bytes were accepted under.
    key: LimitsKey,
    /// How many bytes are kept (0: none).
    len: usize,
    /// The buffer being parsed starts with the kept bytes (under the same
    /// limits).
    repeat: bool,
    /// Accepted heads in a row that differed from the one before.
    misses: MissStreak,
    bytes: [u8; MEMO_MAX_HEAD],
    /// How many heads came from the memo (for the tests).
    #[cfg(test)]
    pub(super) hits: usize,
}

impl Default for HeadMemo {
    fn default() -> Self {
        HeadMemo::new()
    }
}

impl std::fmt::Debug for HeadMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadMemo")
            .field("head", &self.head)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl HeadMemo {
    /// An empty memo.
    pub fn new() -> HeadMemo {
        HeadMemo {
            head: None,
            key: LimitsKey {
                head: 0,
                uri: 0,
                headers: 0,
                body: 0,
            },
            len: 0,
            repeat: false,
            misses: MissStreak::default(),
            bytes: [0; MEMO_MAX_HEAD],
            #[cfg(test)]
            hits: 0,
        }
    }

    /// [`parse_raw_head`](super::parse_raw_head): the same result and the same effect on `buf`,
    /// without scanning when `buf` starts with the last head this memo
    /// kept (under the same limits).
    ///
    /// An accepted head's bytes are kept for the next call (after a run of
    /// differing heads, those of one head in eight); what it was
    /// parsed into is kept only once the same bytes came twice in a row,
    /// so that a client whose heads all differ pays at most for a
    /// comparison and a copy of the bytes, not for keeping parsed heads
    /// nobody asks for again.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<RawHead>, ParseError> {
        skip_empty_lines(buf);
        let kept = self.bytes.get(..self.len).unwrap_or_default();
        self.repeat = self.len > 0
            && buf.get(..kept.len()) == Some(kept)
            && self.key == LimitsKey::of(limits);
        if self.repeat {
            if let Some(head) = &self.head {
                #[cfg(test)]
                {
                    self.hits += 1;
                }
                // The head is the memo's, shared (its bytes, the memo's
                // copy, equal those in the buffer, which are passed over).
                buf.advance(self.len);
                return Ok(Some(head.clone()));
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        scan(buf, limits, Some(self))
    }

    /// The scanner accepted `bytes` under `limits`: whether they are the
    /// bytes kept (then the caller shows the head to [`HeadMemo::keep_head`]);
    /// if not, they are kept instead (if short enough, and not skipped
    /// after a run of differing heads, [`MEMO_STREAK`]; else nothing is)
    /// and the parsed head kept before is forgotten.
    #[inline(always)]
    pub(super) fn accepted(&mut self, bytes: &[u8], limits: &Limits) -> bool {
        if self.repeat && bytes.len() == self.len {
            self.misses.hit();
            return true;
        }
        self.head = None;
        if !self.misses.miss_keeps() {
            self.len = 0;
            return false;
        }
        self.keep_bytes(bytes, limits);
        false
    }

    /// Keeps `bytes` (accepted under `limits`) for the next comparison, if
    /// short enough (else nothing).
    fn keep_bytes(&mut self, bytes: &[u8], limits: &Limits) {
        match self.bytes.get_mut(..bytes.len()) {
            Some(room) => {
                room.copy_from_slice(bytes);
                self.len = bytes.len();
                self.key = LimitsKey::of(limits);
            }
            None => self.len = 0,
        }
    }

    /// Keeps what the kept bytes parsed into, on a copy of the bytes: the
    /// heads it answers share it.
    #[cold]
    pub(super) fn keep_head(&mut self, head: &RawHead) {
        self.head = Some(head.kept_copy());
    }
}
