//! Incremental UTF-8 validation across message fragments.
//!
//! WebSocket text messages may be split into frames at arbitrary byte
//! positions, even inside a multi-byte character. [`Utf8Validator`] carries
//! the unfinished character from one fragment to the next and rejects the
//! message as soon as a byte makes the received prefix invalid (overlong
//! forms, surrogates, code points above U+10FFFF, stray continuation bytes),
//! without waiting for the end of the message.

/// Error returned by [`Utf8Validator`]: the text is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Utf8Error {
    /// A byte sequence can never be part of valid UTF-8.
    Invalid,
    /// The message ended inside a multi-byte character.
    Incomplete,
}

impl std::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Utf8Error::Invalid => f.write_str("invalid UTF-8 sequence"),
            Utf8Error::Incomplete => f.write_str("UTF-8 sequence truncated at end of message"),
        }
    }
}

impl std::error::Error for Utf8Error {}

/// Streaming UTF-8 validator.
///
/// Feed the pieces of a message with [`feed`](Self::feed) and call
/// [`finish`](Self::finish) at the end of the message.
///
/// ```
/// use percore_ws::utf8::{Utf8Error, Utf8Validator};
/// let mut v = Utf8Validator::new();
/// let euro = "€".as_bytes(); // e2 82 ac
/// v.feed(&euro[..1]).unwrap();
/// v.feed(&euro[1..]).unwrap();
/// v.finish().unwrap();
///
/// // A surrogate (ED A0 ..) is rejected at its second byte.
/// let mut v = Utf8Validator::new();
/// v.feed(&[0xed]).unwrap();
/// assert_eq!(v.feed(&[0xa0]), Err(Utf8Error::Invalid));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any pending partial character (start of a new message).
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// True when no partial character is pending.
    pub fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Validates the next piece of the message.
    ///
    /// Returns [`Utf8Error::Invalid`] as soon as the bytes seen so far cannot
    /// be the prefix of valid UTF-8. A character cut at the end of `bytes` is
    /// remembered and completed by the next call.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Utf8Error> {
        if self.partial_len > 0 {
            // Complete the pending character one byte at a time; at most 3 bytes.
            while let Some((&b, rest)) = bytes.split_first() {
                let n = self.partial_len as usize;
                self.partial[n] = b;
                self.partial_len += 1;
                bytes = rest;
                match std::str::from_utf8(&self.partial[..n + 1]) {
                    Ok(_) => {
                        self.partial_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(Utf8Error::Invalid),
                    Err(_) if n + 1 >= 4 => return Err(Utf8Error::Invalid),
                    Err(_) => {}
                }
            }
            if self.partial_len > 0 {
                return Ok(());
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error::Invalid),
            Err(e) => {
                // Valid prefix followed by a truncated (but so far valid) character.
                let tail = &bytes[e.valid_up_to()..];
                if tail.len() > 3 {
                    return Err(Utf8Error::Invalid);
                }
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the message: fails with [`Utf8Error::Incomplete`] if it stopped
    /// inside a character. The validator is reset either way.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(Utf8Error::Incomplete)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let whole = v.feed(bytes).and_then(|_| v.finish());
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut v = Utf8Validator::new();
                let r = v
                    .feed(&bytes[..i])
                    .and_then(|_| v.feed(&bytes[i..j]))
                    .and_then(|_| v.feed(&bytes[j..]))
                    .and_then(|_| v.finish());
                assert_eq!(r, whole, "{bytes:02x?} split {i} {j}");
            }
        }
        whole
    }

    #[test]
    fn valid_texts() {
        for s in [
            "",
            "a",
            "héllo",
            "κόσμε",
            "€uro",
            "𝄞 clef",
            "\u{10FFFF}",
            "\u{FFFF}",
        ] {
            assert_eq!(check_all_splits(s.as_bytes()), Ok(()), "{s}");
        }
    }

    #[test]
    fn invalid_texts() {
        let cases: &[&[u8]] = &[
            &[0x80],
            &[0xc0, 0x80],
            &[0xc1, 0xbf],
            &[0xe0, 0x80, 0x80],
            &[0xed, 0xa0, 0x80],
            &[0xf4, 0x90, 0x80, 0x80],
            &[0xf5],
            &[0xff],
            &[
                b'a', 0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0,
                0x80, 0x65,
            ],
        ];
        for c in cases {
            assert_eq!(check_all_splits(c), Err(Utf8Error::Invalid), "{c:02x?}");
        }
    }

    #[test]
    fn incomplete_at_end() {
        for c in [&[0xe2u8, 0x82][..], &[0xf0, 0x9d, 0x84], &[b'a', 0xc3]] {
            assert_eq!(check_all_splits(c), Err(Utf8Error::Incomplete));
        }
    }

    #[test]
    fn errors_name_their_reason() {
        assert_eq!(Utf8Error::Invalid.to_string(), "invalid UTF-8 sequence");
        assert_eq!(
            Utf8Error::Incomplete.to_string(),
            "UTF-8 sequence truncated at end of message"
        );
    }

    #[test]
    fn pending_character_is_reported_and_reset_forgets_it() {
        let mut v = Utf8Validator::new();
        assert!(v.is_complete());
        v.feed(b"a\xe2\x82").unwrap();
        assert!(!v.is_complete());
        v.feed(b"\xac").unwrap();
        assert!(v.is_complete());
        // A new message after a cut one: the pending E2 is dropped, so the
        // ASCII byte that would have been an invalid continuation is fine.
        v.feed(b"\xe2").unwrap();
        assert!(!v.is_complete());
        v.reset();
        assert!(v.is_complete());
        assert_eq!(v.feed(b"b"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
        // Without the reset the same bytes are invalid.
        let mut v = Utf8Validator::new();
        v.feed(b"\xe2").unwrap();
        assert_eq!(v.feed(b"b"), Err(Utf8Error::Invalid));
    }

    #[test]
    fn fails_fast() {
        // Overlong 3-byte form is rejected at its second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[b'x', 0xe0]), Ok(()));
        assert_eq!(v.feed(&[0x9f]), Err(Utf8Error::Invalid));
        // > U+10FFFF rejected at second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xf4, 0x90]), Err(Utf8Error::Invalid));
    }
}
