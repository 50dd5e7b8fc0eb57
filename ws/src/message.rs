//! Messages exchanged with the codec, and the UTF-8 validated byte string.

use bytes::Bytes;
use std::fmt;

/// Immutable, cheaply clonable bytes known to be valid UTF-8.
///
/// ```
/// use percore_ws::Utf8Bytes;
/// let t = Utf8Bytes::try_from(bytes::Bytes::from_static(b"hi")).unwrap();
/// assert_eq!(t.as_str(), "hi");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// Wraps bytes the caller has already validated.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&b).is_ok());
        Utf8Bytes(b)
    }

    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// A `'static` string without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor either takes a `str`/`String` or checks
        // the bytes with `std::str::from_utf8` / the codec's incremental
        // validator, and the inner `Bytes` is never mutated.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Unwraps the underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        std::str::from_utf8(&b)?;
        Ok(Utf8Bytes(b))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Payload of a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Status code (RFC 6455 §7.4).
    pub code: u16,
    /// Reason, at most 123 bytes on the wire.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with `code` and `reason`.
    ///
    /// ```
    /// use percore_ws::CloseFrame;
    /// let c = CloseFrame::new(1000, "bye");
    /// assert_eq!((c.code, c.reason.as_str()), (1000, "bye"));
    /// ```
    pub fn new(code: u16, reason: impl Into<Utf8Bytes>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Whether `code` may appear in a Close frame on the wire: 1000-1003,
/// 1007-1014 and 3000-4999.
///
/// 1012-1014 (Service Restart, Try Again Later, Bad Gateway) are not in RFC
/// 6455 but are registered with IANA and accepted by current Autobahn
/// TestSuite versions. 1004 (reserved), 1005, 1006 and 1015 (never sent on
/// the wire), the rest of 1016-2999 (unassigned) and codes below 1000 or
/// from 5000 are invalid.
///
/// ```
/// use percore_ws::is_valid_close_code;
/// assert!(is_valid_close_code(1000) && is_valid_close_code(4999));
/// assert!(!is_valid_close_code(1005) && !is_valid_close_code(2999));
/// ```
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A complete WebSocket message, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text message (validated UTF-8).
    Text(Utf8Bytes),
    /// Binary message.
    Binary(Bytes),
    /// Ping; the driver answers with `Message::Pong` of the same payload
    /// (see [`Message::pong_reply`]).
    Ping(Bytes),
    /// Pong (unsolicited pongs are simply returned and may be ignored).
    Pong(Bytes),
    /// Close, with its code and reason if the payload was not empty.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    ///
    /// ```
    /// use percore_ws::Message;
    /// let m = Message::text("hello");
    /// assert!(matches!(m, Message::Text(ref t) if t == "hello"));
    /// ```
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Message::Text(s.into())
    }

    /// A binary message.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }

    /// For a `Ping`, the `Pong` that answers it.
    ///
    /// ```
    /// use percore_ws::Message;
    /// let ping = Message::Ping(bytes::Bytes::from_static(b"x"));
    /// assert_eq!(ping.pong_reply(), Some(Message::Pong(bytes::Bytes::from_static(b"x"))));
    /// ```
    pub fn pong_reply(&self) -> Option<Message> {
        match self {
            Message::Ping(p) => Some(Message::Pong(p.clone())),
            _ => None,
        }
    }

    /// True for Ping, Pong and Close.
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            Message::Ping(_) | Message::Pong(_) | Message::Close(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bytes_accessors() {
        let t = Utf8Bytes::from("héllo");
        assert_eq!(t.as_str(), "héllo");
        assert_eq!(t.as_bytes(), "héllo".as_bytes());
        assert_eq!(t.len(), 6);
        assert!(!t.is_empty());
        assert!(Utf8Bytes::new().is_empty() && Utf8Bytes::default().is_empty());
        // Deref to `str`.
        assert_eq!(&*t, "héllo");
        assert_eq!(t.to_uppercase(), "HÉLLO");
        assert_eq!(
            t.clone().into_bytes(),
            Bytes::from_static("héllo".as_bytes())
        );
        assert_eq!(format!("{t}"), "héllo");
        assert_eq!(format!("{t:?}"), "\"héllo\"");
        assert_eq!(Utf8Bytes::from_static("x").as_str(), "x");
        assert_eq!(Utf8Bytes::from(String::from("ab")).as_str(), "ab");
    }

    #[test]
    fn utf8_bytes_compare_with_str() {
        let t = Utf8Bytes::from("ab");
        assert!(t == *"ab" && t != *"ba");
        assert!(t == "ab" && t != "abc");
    }

    #[test]
    fn utf8_bytes_from_bytes_is_checked() {
        let ok = Utf8Bytes::try_from(Bytes::from_static(b"ok")).unwrap();
        assert_eq!(ok.as_str(), "ok");
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"a\xc3")).is_err());
    }

    #[test]
    fn control_messages_and_pong_replies() {
        let p = Bytes::from_static(b"p");
        for (m, control) in [
            (Message::text("t"), false),
            (Message::binary(vec![1u8]), false),
            (Message::Ping(p.clone()), true),
            (Message::Pong(p.clone()), true),
            (Message::Close(None), true),
        ] {
            assert_eq!(m.is_control(), control, "{m:?}");
            let reply = m.pong_reply();
            match m {
                Message::Ping(_) => assert_eq!(reply, Some(Message::Pong(p.clone()))),
                _ => assert_eq!(reply, None, "{m:?}"),
            }
        }
    }
}
