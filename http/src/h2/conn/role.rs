//! What differs between the two ends of a connection. The core
//! (`Connection<R>`) asks its role which end it is (who sends the
//! preface, which frames its decoder refuses), who may open which
//! streams, which stream ids are still idle, what a stream's head means
//! (request or response validation), how GOAWAY and PING answers are
//! handled, and how events are shaped; everything else — frames, HPACK,
//! flow control, stream states, limits — is shared.

use std::fmt;

use bytes::Bytes;
use http::HeaderMap;

use super::{Connection, HeaderBlock};
use crate::h2::frame::{self, GoAway};
use crate::h2::hpack::HeaderField;
use crate::h2::{ErrorCode, H2Error};

/// One end of a connection: [`super::server::Server`] or
/// [`super::client::Client`].
pub(super) trait Role: Sized + fmt::Debug {
    /// Which end this is: a client sends the connection preface, a
    /// server expects it; the frame decoder's rules depend on it too.
    const SIDE: frame::Role;
    /// What the connection tells its driver.
    type Event: fmt::Debug;

    /// Body bytes arrived on a stream.
    fn data_event(stream_id: u32, data: Bytes, end_stream: bool) -> Self::Event;
    /// Trailers arrived: the peer's side of the stream is complete.
    fn trailers_event(stream_id: u32, trailers: HeaderMap) -> Self::Event;
    /// The stream was reset, by the peer or by us for a stream error.
    fn reset_event(stream_id: u32, code: ErrorCode) -> Self::Event;

    /// Whether the peer may not yet refer to `stream_id` (RFC 9113 §5.1:
    /// frames other than HEADERS/PRIORITY on an idle stream are a
    /// connection error).
    fn is_idle(conn: &Connection<Self>, stream_id: u32) -> bool;

    /// HEADERS arrived for a stream that is not in the table: `Ok` when
    /// the block is to be decoded (a new stream, or a late block of a
    /// stream we reset).
    fn check_unknown_stream(conn: &Connection<Self>, stream_id: u32) -> Result<(), H2Error>;

    /// A complete header block that is not trailers: a server's request
    /// head, a client's response head. `fields` is `Err` when the header
    /// list was too large (the HPACK state is intact).
    fn on_head(
        conn: &mut Connection<Self>,
        block: HeaderBlock,
        fields: Result<Vec<HeaderField>, H2Error>,
    ) -> Result<(), H2Error>;

    /// The peer sent GOAWAY.
    fn on_goaway(conn: &mut Connection<Self>, goaway: GoAway);

    /// The peer answered one of our PINGs.
    fn on_ping_ack(conn: &mut Connection<Self>, payload: [u8; 8]);

    /// The peer reset a stream: whether it counts towards the rapid-reset
    /// limit (a server's concern: the client made it do work for nothing).
    const COUNTS_PEER_RESETS: bool;

    /// After our END_STREAM on a stream the peer is still sending on,
    /// whether the rest of its side is unwanted and drained: a server's
    /// complete response makes the rest of the request unwanted (its
    /// frames are still checked, its DATA discarded and its window given
    /// back, within bounds, then the stream is reset with NO_ERROR); a
    /// client waits for its response.
    const DRAIN_AFTER_LOCAL_END: bool;
}
