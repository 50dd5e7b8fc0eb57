//! permessage-deflate (RFC 7692): negotiation and per-message compression.
//!
//! Compression uses zlib-rs (pure Rust zlib), which takes any window from 9
//! to 15 bits and any `memLevel`. What a connection costs at rest depends on
//! context takeover:
//!
//! * **No context takeover** (the default, [`DeflateConfig::default`]): the
//!   server answers `server_no_context_takeover; client_no_context_takeover`
//!   (RFC 7692 lets a server add both even when the client did not offer
//!   them). Every message is compressed by this core's shared compressor,
//!   which is reset after it, and decompressed by a decompressor lent from
//!   this core's pool for the length of the message: an idle connection
//!   holds no compression state at all.
//! * **Context takeover** ([`DeflateConfig::context_takeover`]): better ratio
//!   on streams of similar messages, at the price of a compressor (allocated
//!   on the first compressed message) and a decompressor (on the first
//!   compressed message received) kept per connection. Measured RSS per idle
//!   connection (BENCHMARKS.md): about 190 KiB with 12-bit windows and
//!   `memLevel` 5, about 340 KiB with 15 bits and 8; zlib-rs keeps a fixed
//!   128 KiB hash table whatever `memLevel` says.
//!
//! Messages shorter than [`DeflateConfig::threshold`] are sent uncompressed.
//!
//! Negotiation (server): an offer whose `server_max_window_bits` is 8 is
//! declined (raw deflate has no 8-bit window) and the next one taken; the
//! server window is the smaller of ours and the offer's, and is answered when
//! below 15 or when offered; `client_max_window_bits` is answered (the
//! smaller of ours and the client's) only when the client offered it.
//!
//! On the client side a response asking us to use `client_max_window_bits`
//! (which we never offer) is rejected.

use std::cell::RefCell;

use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Method, Status, Strategy};

/// The 4 bytes that end a sync flush; stripped by the sender, re-appended by
/// the receiver (RFC 7692 §7.2.1-2).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

mod negotiation;

pub use negotiation::{
    client_offer, negotiate, parse_offers, parse_response, DeflateConfig, Offer,
};

/// Why inflation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Output would exceed the limit.
    TooBig,
    /// The compressed data is invalid.
    Corrupt,
}

/// How a compressor is built: level, window and `memLevel`, clamped to what
/// raw deflate accepts (window 9..=15, memLevel 1..=9, level 0..=9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeflateParams {
    level: i32,
    window_bits: i32,
    mem_level: i32,
}

impl DeflateParams {
    fn new(level: u32, window_bits: u8, mem_level: u8) -> Self {
        DeflateParams {
            level: level.min(9) as i32,
            window_bits: i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
        }
    }

    fn build(self) -> Box<Deflate> {
        Box::new(Deflate::new_with_config(zlib_rs::DeflateConfig {
            level: self.level,
            method: Method::Deflated,
            window_bits: -self.window_bits, // negative: raw deflate
            mem_level: self.mem_level,
            strategy: Strategy::Default,
        }))
    }
}

/// Most shared compressors (one per parameter set) a core keeps.
const MAX_SHARED_DEFLATERS: usize = 4;
/// Most idle decompressors a core keeps for reuse.
const MAX_POOLED_INFLATERS: usize = 16;

thread_local! {
    /// This core's compressors for connections without context takeover:
    /// a message is compressed in one call and the compressor reset, so all
    /// such connections with the same parameters share one.
    static SHARED_DEFLATERS: RefCell<Vec<(DeflateParams, Box<Deflate>)>> =
        const { RefCell::new(Vec::new()) };
    /// This core's idle 15-bit decompressors for connections whose peer
    /// resets its context: one is lent for the length of a message (which
    /// may span frames, so several can be out at once).
    // Boxed: a decompressor moves between the pool and a connection.
    #[allow(clippy::vec_box)]
    static POOLED_INFLATERS: RefCell<Vec<Box<Inflate>>> = const { RefCell::new(Vec::new()) };
}

/// What [`Deflater::compress`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compressed {
    /// `out` holds the compressed message: send it with RSV1.
    Yes,
    /// The message is under the threshold: send it as is, without RSV1.
    Skipped,
    /// The compressor failed.
    Failed,
}

/// Per-connection compressor for outgoing messages.
///
/// Without context takeover it holds no state: it borrows this core's shared
/// compressor for one message. With context takeover it allocates its own on
/// the first compressed message and keeps it (the window is the context).
pub(crate) struct Deflater {
    params: DeflateParams,
    no_context_takeover: bool,
    threshold: usize,
    own: Option<Box<Deflate>>,
}

impl Deflater {
    /// A compressor for our side of the negotiated `cfg`.
    pub(crate) fn new(cfg: &DeflateConfig, server: bool) -> Self {
        let (window_bits, no_context_takeover) = if server {
            (cfg.server_max_window_bits, cfg.server_no_context_takeover)
        } else {
            (cfg.client_max_window_bits, cfg.client_no_context_takeover)
        };
        Deflater {
            params: DeflateParams::new(cfg.level, window_bits, cfg.mem_level),
            no_context_takeover,
            threshold: cfg.threshold,
            own: None,
        }
    }

    /// Whether this connection holds compressor state of its own.
    #[cfg(test)]
    fn holds_state(&self) -> bool {
        self.own.is_some()
    }

    /// Whether the compressor's window carries over from one message to
    /// the next (context takeover).
    pub(crate) fn keeps_context(&self) -> bool {
        !self.no_context_takeover
    }

    /// Compresses one whole message into `out` (cleared first), without the
    /// trailing `00 00 ff ff`, unless it is shorter than the threshold.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> Compressed {
        out.clear();
        if data.len() < self.threshold {
            return Compressed::Skipped;
        }
        let ok = if self.no_context_takeover {
            let params = self.params;
            SHARED_DEFLATERS.with_borrow_mut(|shared| {
                let i = match shared.iter().position(|(p, _)| *p == params) {
                    Some(i) => i,
                    None => {
                        if shared.len() == MAX_SHARED_DEFLATERS {
                            shared.remove(0);
                        }
                        shared.push((params, params.build()));
                        shared.len() - 1
                    }
                };
                let c = &mut shared[i].1;
                let ok = compress_into(c, data, out);
                c.reset();
                ok
            })
        } else {
            let c = self.own.get_or_insert_with(|| self.params.build());
            let ok = compress_into(c, data, out);
            if !ok {
                c.reset();
            }
            ok
        };
        if !ok {
            return Compressed::Failed;
        }
        if out.is_empty() {
            // zlib emits nothing for an empty message right after a flush;
            // the receiver appends the tail, which alone is not a valid
            // block. Send an empty stored block (the stream is byte-aligned).
            out.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        Compressed::Yes
    }
}

/// Compresses `data` with a sync flush, appending to `out`.
fn compress_into(c: &mut Deflate, data: &[u8], out: &mut Vec<u8>) -> bool {
    let mut consumed = 0usize;
    loop {
        let pos = out.len();
        let room = ((data.len() - consumed) / 2).clamp(256, 64 * 1024);
        out.resize(pos + room, 0);
        let (in0, out0) = (c.total_in(), c.total_out());
        let res = c.compress(&data[consumed..], &mut out[pos..], DeflateFlush::SyncFlush);
        let read = (c.total_in() - in0) as usize;
        let written = (c.total_out() - out0) as usize;
        consumed += read;
        out.truncate(pos + written);
        if res.is_err() {
            return false;
        }
        if consumed >= data.len() && written < room {
            return true;
        }
        if read == 0 && written == 0 {
            return false;
        }
    }
}

/// Per-connection decompressor for incoming messages.
///
/// It is allocated when the first compressed message arrives. When the peer
/// resets its context after every message, it is borrowed from this core's
/// pool at the start of a message and given back (reset) at its end, so an
/// idle connection holds none; otherwise it is kept (the window is the
/// context).
pub(crate) struct Inflater {
    /// Window for our own decompressor (context takeover only).
    window_bits: u8,
    no_context_takeover: bool,
    d: Option<Box<Inflate>>,
    ended: bool,
}

impl Inflater {
    /// A decompressor for the peer's side of the negotiated `cfg`.
    pub(crate) fn new(cfg: &DeflateConfig, server: bool) -> Self {
        let (window_bits, no_context_takeover) = if server {
            (cfg.client_max_window_bits, cfg.client_no_context_takeover)
        } else {
            (cfg.server_max_window_bits, cfg.server_no_context_takeover)
        };
        Inflater {
            // A peer told 8 may still use 9 (zlib has no 8-bit raw
            // deflate): decompress such streams with the full window.
            window_bits: if window_bits < 9 { 15 } else { window_bits },
            no_context_takeover,
            d: None,
            ended: false,
        }
    }

    /// Whether this connection holds decompressor state of its own.
    #[cfg(test)]
    fn holds_state(&self) -> bool {
        self.d.is_some()
    }

    fn state(&mut self) -> &mut Inflate {
        let (nct, bits) = (self.no_context_takeover, self.window_bits);
        self.d.get_or_insert_with(|| {
            let pooled = if nct {
                POOLED_INFLATERS.with_borrow_mut(Vec::pop)
            } else {
                None
            };
            pooled.unwrap_or_else(|| Box::new(Inflate::new(false, if nct { 15 } else { bits })))
        })
    }

    /// Gives a borrowed decompressor back to the pool, reset.
    fn release(&mut self) {
        if let Some(mut d) = self.d.take() {
            d.reset(false);
            POOLED_INFLATERS.with_borrow_mut(|pool| {
                if pool.len() < MAX_POOLED_INFLATERS {
                    pool.push(d);
                }
            });
        }
    }

    /// Inflates `input` (part of the current message) appending to `out`,
    /// never letting `out` grow beyond `limit` bytes: the capacity is grown
    /// with `reserve_exact` and capped at `limit + 1`.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let mut consumed = 0usize;
        while !self.ended {
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let pos = out.len();
            let allowed = (limit - pos).saturating_add(1); // +1 detects overflow
            let want = ((input.len() - consumed).saturating_mul(4)).clamp(4096, 256 * 1024);
            let room = want.min(allowed);
            if out.capacity() - pos < room {
                // Geometric growth, but never past limit + 1.
                let target = (out.capacity() * 2)
                    .max(pos + room)
                    .min(limit.saturating_add(1));
                out.reserve_exact(target - pos);
            }
            out.resize(pos + room, 0);
            let d = self.state();
            let (in0, out0) = (d.total_in(), d.total_out());
            let res = d.decompress(&input[consumed..], &mut out[pos..], InflateFlush::SyncFlush);
            let read = (d.total_in() - in0) as usize;
            let written = (d.total_out() - out0) as usize;
            consumed += read;
            out.truncate(pos + written);
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match res {
                Err(_) => return Err(InflateError::Corrupt),
                Ok(Status::StreamEnd) => {
                    // A final block (BFINAL) ends the stream; the rest of the
                    // message (normally the re-appended tail) is ignored.
                    self.ended = true;
                }
                Ok(_) => {}
            }
            if consumed >= input.len() && written < room {
                break;
            }
            if read == 0 && written == 0 {
                if consumed >= input.len() {
                    break;
                }
                return Err(InflateError::Corrupt);
            }
        }
        Ok(())
    }

    /// Ends the message: feeds the tail and resets (or gives the state back
    /// to the pool) if required.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let r = self.inflate(&TAIL, out, limit);
        if self.no_context_takeover {
            self.release();
        } else if self.ended {
            let bits = self.window_bits;
            // A final block ended the stream: start a fresh one.
            self.d = Some(Box::new(Inflate::new(false, bits)));
        }
        self.ended = false;
        r
    }

    /// Resets after an error.
    pub(crate) fn reset(&mut self) {
        if self.no_context_takeover {
            self.release();
        } else {
            self.d = None;
        }
        self.ended = false;
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if self.no_context_takeover {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests;
