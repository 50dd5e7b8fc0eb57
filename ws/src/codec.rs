//! The sans-IO codec: frames ⇄ messages, fragmentation, compression, close
//! handshake.

use crate::deflate::{DeflateConfig, Deflater, Inflater};
use crate::frame::FrameHeader;
use crate::message::{CloseFrame, Message};
use crate::rng::MaskSource;
use crate::utf8::Utf8Validator;
use crate::ProtocolError;

mod decode;
mod encode;

/// Which end of the connection this codec is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked frames.
    Server,
    /// Receives unmasked frames, sends masked frames.
    Client,
}

/// Codec limits and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest accepted frame payload (default 16 MiB); larger → 1009.
    pub max_frame_size: usize,
    /// Largest accepted message, after decompression (default 64 MiB);
    /// larger → 1009.
    pub max_message_size: usize,
    /// Split outgoing data messages into frames of at most this many payload
    /// bytes (`None`: one frame per message).
    pub auto_fragment_size: Option<usize>,
    /// Negotiated permessage-deflate parameters, `None` if not negotiated.
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            auto_fragment_size: None,
            deflate: None,
        }
    }
}

/// Close handshake progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseState {
    /// No Close sent or received.
    Open,
    /// We sent a Close; incoming data messages are discarded, control frames
    /// are still returned, until the peer's Close arrives.
    CloseSent,
    /// The peer sent a Close; we must answer with [`Codec::close_reply`] and
    /// send nothing else. Further input is ignored.
    CloseReceived,
    /// Both Close frames exchanged: the driver closes the TCP connection.
    Closed,
}

/// The data message being received.
#[derive(Debug, Clone, Copy)]
struct InMessage {
    text: bool,
    compressed: bool,
    /// Payload bytes received on the wire for this message so far.
    wire_len: usize,
    /// Number of frames so far.
    frames: usize,
}

/// A connection's permessage-deflate state.
struct Compression {
    deflater: Deflater,
    inflater: Inflater,
    /// What a message is compressed into before it is framed.
    scratch: Vec<u8>,
}

/// Sans-IO WebSocket codec for one connection.
///
/// The driver reads bytes into a `BytesMut`, calls [`decode`](Self::decode)
/// until it returns `Ok(None)`, and writes what [`encode`](Self::encode) puts
/// into its output buffer. Driver duties:
///
/// * on `Message::Ping(p)` encode `Message::Pong(p)` ([`Message::pong_reply`]);
/// * on `Message::Close(_)` encode [`close_reply`](Self::close_reply), then
///   close TCP when [`is_closed`](Self::is_closed) (a server closes TCP first);
/// * on `Err(e)` encode `Message::Close(Some(CloseFrame::new(e.close_code(),
///   "")))` ([`ProtocolError::close_message`]) and close TCP. The error is
///   sticky: later `decode` calls return it again.
///
/// ```
/// use bytes::BytesMut;
/// use percore_ws::{Codec, Config, Message, Role};
///
/// let mut client = Codec::new(Role::Client, Config::default());
/// let mut server = Codec::new(Role::Server, Config::default());
/// let mut wire = BytesMut::new();
/// client.encode(&Message::text("hello"), &mut wire).unwrap();
/// assert_eq!(server.decode(&mut wire).unwrap(), Some(Message::text("hello")));
/// assert_eq!(server.decode(&mut wire).unwrap(), None);
/// ```
pub struct Codec {
    role: Role,
    config: Config,
    /// Header of the frame whose payload is being received.
    frame: Option<FrameHeader>,
    /// Payload bytes of `frame` already unmasked (and validated) in the buffer.
    frame_done: usize,
    msg: Option<InMessage>,
    /// Reassembly buffer for fragmented or compressed messages.
    assembly: Vec<u8>,
    utf8: Utf8Validator,
    /// permessage-deflate's state, if negotiated: boxed, so that a plain
    /// connection does not carry it.
    compression: Option<Box<Compression>>,
    close: CloseState,
    /// The code to echo in our reply to the peer's Close.
    close_reply: Option<u16>,
    failed: Option<ProtocolError>,
    mask: MaskSource,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("role", &self.role)
            .field("config", &self.config)
            .field("close", &self.close)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Codec {
    /// A codec for `role` with `config`.
    ///
    /// A client masks outgoing frames with keys from a fast, non-cryptographic
    /// PRNG (splitmix64 seeded from `std`'s `RandomState`, a process counter
    /// and the clock); see [`with_mask_source`](Self::with_mask_source).
    pub fn new(role: Role, config: Config) -> Self {
        let server = role == Role::Server;
        Codec {
            role,
            compression: config.deflate.map(|d| {
                Box::new(Compression {
                    deflater: Deflater::new(&d, server),
                    inflater: Inflater::new(&d, server),
                    scratch: Vec::new(),
                })
            }),
            config,
            frame: None,
            frame_done: 0,
            msg: None,
            assembly: Vec::new(),
            utf8: Utf8Validator::new(),
            close: CloseState::Open,
            close_reply: None,
            failed: None,
            mask: MaskSource::new(),
        }
    }

    /// Uses `f` to produce client masking keys (e.g. a CSPRNG).
    pub fn with_mask_source(mut self, f: impl FnMut() -> [u8; 4] + Send + 'static) -> Self {
        self.mask = MaskSource::Custom(Box::new(f));
        self
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Close handshake state.
    pub fn close_state(&self) -> CloseState {
        self.close
    }

    /// True when both Close frames were exchanged: close the TCP connection.
    pub fn is_closed(&self) -> bool {
        self.close == CloseState::Closed
    }

    /// The error that failed the connection, if any.
    pub fn error(&self) -> Option<&ProtocolError> {
        self.failed.as_ref()
    }

    /// After a Close was received and before the reply is sent: the Close to
    /// send back (the peer's code echoed, 1000 if it sent none).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_ws::{CloseFrame, Codec, Config, Message, Role};
    /// let mut client = Codec::new(Role::Client, Config::default());
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut wire = BytesMut::new();
    /// client.encode(&Message::Close(Some(CloseFrame::new(4000, "bye"))), &mut wire).unwrap();
    /// server.decode(&mut wire).unwrap();
    /// let reply = server.close_reply().unwrap();
    /// assert_eq!(reply, Message::Close(Some(CloseFrame::new(4000, ""))));
    /// server.encode(&reply, &mut wire).unwrap();
    /// assert!(server.is_closed());
    /// client.decode(&mut wire).unwrap();
    /// assert!(client.is_closed());
    /// ```
    pub fn close_reply(&self) -> Option<Message> {
        match self.close {
            CloseState::CloseReceived => Some(Message::Close(
                self.close_reply
                    .map(|code| CloseFrame::new(code, crate::Utf8Bytes::new())),
            )),
            _ => None,
        }
    }

    /// How many more bytes the frame being received needs beyond the
    /// `buffered` bytes already in the decode buffer (0 between frames): a
    /// driver reserves that much room so a large frame is read without
    /// repeated buffer growth.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use percore_ws::{Codec, Config, Message, Role};
    /// let mut client = Codec::new(Role::Client, Config::default());
    /// let mut server = Codec::new(Role::Server, Config::default());
    /// let mut wire = BytesMut::new();
    /// client.encode(&Message::binary(vec![0u8; 1000]), &mut wire).unwrap();
    /// let mut partial = wire.split_to(108); // 8 header bytes + 100 payload bytes
    /// assert_eq!(server.decode(&mut partial).unwrap(), None);
    /// assert_eq!(server.frame_bytes_wanted(partial.len()), 900);
    /// ```
    pub fn frame_bytes_wanted(&self, buffered: usize) -> usize {
        self.frame
            .map_or(0, |h| (h.payload_len as usize).saturating_sub(buffered))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseFrame;
    use bytes::BytesMut;

    fn pair() -> (Codec, Codec) {
        (
            Codec::new(Role::Client, Config::default()),
            Codec::new(Role::Server, Config::default()),
        )
    }

    #[test]
    fn accessors() {
        let config = Config {
            max_frame_size: 1234,
            ..Config::default()
        };
        let codec = Codec::new(Role::Server, config);
        assert_eq!(codec.config().max_frame_size, 1234);
        assert_eq!(codec.role(), Role::Server);
        let debug = format!("{codec:?}");
        assert!(
            debug.starts_with("Codec {") && debug.contains("Server"),
            "{debug}"
        );
    }

    #[test]
    fn closed_only_after_both_close_frames() {
        let (mut client, mut server) = pair();
        let mut wire = BytesMut::new();
        assert!(!client.is_closed() && !server.is_closed());
        client
            .encode(&Message::Close(Some(CloseFrame::new(1000, ""))), &mut wire)
            .unwrap();
        assert!(!client.is_closed());
        server.decode(&mut wire).unwrap();
        assert!(!server.is_closed());
        server
            .encode(&server.close_reply().unwrap(), &mut wire)
            .unwrap();
        assert!(server.is_closed());
        client.decode(&mut wire).unwrap();
        assert!(client.is_closed());
    }

    #[test]
    fn error_is_kept() {
        let (_, mut server) = pair();
        assert_eq!(server.error(), None);
        // An unmasked frame from a client.
        let mut wire = BytesMut::from(&[0x81, 0x00][..]);
        let e = server.decode(&mut wire).unwrap_err();
        assert_eq!(server.error(), Some(&e));
    }

    #[test]
    fn frame_bytes_wanted_counts_down() {
        let (mut client, mut server) = pair();
        let mut wire = BytesMut::new();
        assert_eq!(server.frame_bytes_wanted(0), 0);
        client
            .encode(&Message::binary(vec![7u8; 300]), &mut wire)
            .unwrap();
        // 2 + 2 length + 4 mask octets of header, then 300 of payload.
        let mut partial = wire.split_to(8 + 100);
        assert_eq!(server.decode(&mut partial).unwrap(), None);
        assert_eq!(server.frame_bytes_wanted(partial.len()), 200);
        assert_eq!(server.frame_bytes_wanted(300), 0);
        partial.unsplit(wire);
        assert!(server.decode(&mut partial).unwrap().is_some());
        assert_eq!(server.frame_bytes_wanted(0), 0);
    }

    #[test]
    fn payloads_from_16_kib_are_not_copied() {
        for (len, uncopied) in [(16 * 1024 - 1, false), (16 * 1024, true)] {
            let mut server = Codec::new(Role::Server, Config::default());
            let mut out = BytesMut::new();
            let msg = Message::binary(vec![1u8; len]);
            let rest = server.encode_vectored(&msg, &mut out).unwrap();
            assert_eq!(rest.is_some(), uncopied, "{len}");
            assert_eq!(out.len(), if uncopied { 4 } else { 4 + len });
        }
    }
}
