//! What a body decoder produces: shared by the body, chunk and trailer
//! decoders, so that none of them imports another's output.

use bytes::Bytes;
use http::HeaderMap;

/// What the decoder produced.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes, split off the input buffer (no copy). Never empty.
    Data(Bytes),
    /// The input holds no complete next piece: read more into the buffer
    /// and call again.
    NeedMore,
    /// The body is complete; bytes after it stay in the buffer (they are
    /// the next pipelined request).
    End {
        /// Trailer fields of a chunked body, when it had any.
        trailers: Option<HeaderMap>,
    },
}
