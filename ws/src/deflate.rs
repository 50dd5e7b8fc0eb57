//! permessage-deflate (RFC 7692): negotiation and per-message compression.
//!
//! The compressor is flate2's raw deflate with its default (pure Rust)
//! backend, which always uses a 32 KiB window (15 bits) and cannot be told to
//! use a smaller one. Negotiation therefore:
//!
//! * declines an offer whose `server_max_window_bits` is below 15 (we would
//!   have to compress with a smaller window) and takes the next offer;
//! * answers `server_max_window_bits=15` to an offer of exactly 15;
//! * never sends `client_max_window_bits` (our inflater accepts any window up
//!   to 15 bits, so the client may use whatever it offered);
//! * honours `server_no_context_takeover` (our compressor is reset after every
//!   message) and answers `client_no_context_takeover` when the client offers
//!   it or our configuration asks for it (our inflater is then reset after
//!   every message, which frees its window).
//!
//! On the client side a response asking us to use `client_max_window_bits`
//! (which we never offer) is rejected.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The 4 bytes that end a sync flush; stripped by the sender, re-appended by
/// the receiver (RFC 7692 §7.2.1-2).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Negotiated (or, as input to [`negotiate`] / [`client_offer`], preferred)
/// permessage-deflate parameters.
///
/// ```
/// use percore_ws::deflate::DeflateConfig;
/// let cfg = DeflateConfig { server_no_context_takeover: true, ..DeflateConfig::default() };
/// assert_eq!(cfg.level, 6);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Window bits the server compresses with (8..=15). Informational: our
    /// inflater always accepts 15.
    pub server_max_window_bits: u8,
    /// Window bits the client compresses with (8..=15). Informational.
    pub client_max_window_bits: u8,
    /// Compression level 0-9 used by our compressor.
    pub level: u32,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
        }
    }
}

/// One syntactically valid `permessage-deflate` offer from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Offer {
    /// `server_no_context_takeover` present.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover` present.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits=N`.
    pub server_max_window_bits: Option<u8>,
    /// `client_max_window_bits` present (with or without a value).
    pub client_max_window_bits_offered: bool,
    /// The value of `client_max_window_bits`, if given.
    pub client_max_window_bits: Option<u8>,
}

/// Extension parameters: lower-cased name and optional (unquoted) value.
type Params = Vec<(String, Option<String>)>;

/// Splits a `Sec-WebSocket-Extensions` value into extensions, each a name and
/// its `(param, value)` list. Quoted values are unquoted.
fn parse_extensions(value: &str) -> Vec<(String, Params)> {
    let mut out = Vec::new();
    for ext in value.split(',') {
        let mut parts = ext.split(';');
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let params = parts
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(v);
                        (k.trim().to_ascii_lowercase(), Some(v.to_string()))
                    }
                    None => (p.to_ascii_lowercase(), None),
                }
            })
            .collect();
        out.push((name.to_ascii_lowercase(), params));
    }
    out
}

/// Parses a window-bits value: 8..=15 without leading zeros.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

fn parse_offer(params: &[(String, Option<String>)]) -> Option<Offer> {
    let mut o = Offer::default();
    let mut seen = [false; 4];
    for (k, v) in params {
        let idx = match k.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return None,
        };
        if std::mem::replace(&mut seen[idx], true) {
            return None; // duplicate parameter
        }
        match (idx, v) {
            (0, None) => o.server_no_context_takeover = true,
            (1, None) => o.client_no_context_takeover = true,
            (2, Some(v)) => o.server_max_window_bits = Some(window_bits(v)?),
            (3, None) => o.client_max_window_bits_offered = true,
            (3, Some(v)) => {
                o.client_max_window_bits_offered = true;
                o.client_max_window_bits = Some(window_bits(v)?);
            }
            _ => return None,
        }
    }
    Some(o)
}

/// Parses the `permessage-deflate` offers of `Sec-WebSocket-Extensions`
/// header values, in preference order. Other extensions and invalid offers
/// (unknown or duplicate parameters, bad window bits) are skipped.
///
/// ```
/// use percore_ws::deflate::parse_offers;
/// let offers = parse_offers(["permessage-deflate; client_max_window_bits, x-foo"]);
/// assert_eq!(offers.len(), 1);
/// assert!(offers[0].client_max_window_bits_offered);
/// ```
pub fn parse_offers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Offer> {
    let mut offers = Vec::new();
    for value in values {
        for (name, params) in parse_extensions(value) {
            if name == "permessage-deflate" {
                if let Some(o) = parse_offer(&params) {
                    offers.push(o);
                }
            }
        }
    }
    offers
}

/// Server side: picks the first acceptable offer.
///
/// `prefs` carries our preferences: its `*_no_context_takeover` flags are
/// added to the answer even if the client did not ask, and `level` is copied.
/// Returns the negotiated parameters and the `Sec-WebSocket-Extensions`
/// response value, or `None` (answer without the extension).
///
/// ```
/// use percore_ws::deflate::{negotiate, parse_offers, DeflateConfig};
/// let offers = parse_offers([
///     "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover",
/// ]);
/// let (cfg, answer) = negotiate(&DeflateConfig::default(), &offers).unwrap();
/// assert_eq!(answer, "permessage-deflate; client_no_context_takeover");
/// assert!(cfg.client_no_context_takeover);
/// ```
pub fn negotiate(prefs: &DeflateConfig, offers: &[Offer]) -> Option<(DeflateConfig, String)> {
    for o in offers {
        if matches!(o.server_max_window_bits, Some(b) if b < 15) {
            continue; // we cannot compress with a smaller window
        }
        let cfg = DeflateConfig {
            server_no_context_takeover: o.server_no_context_takeover
                || prefs.server_no_context_takeover,
            client_no_context_takeover: o.client_no_context_takeover
                || prefs.client_no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits: o.client_max_window_bits.unwrap_or(15),
            level: prefs.level,
        };
        let mut answer = String::from("permessage-deflate");
        if cfg.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if cfg.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if o.server_max_window_bits.is_some() {
            answer.push_str("; server_max_window_bits=15");
        }
        return Some((cfg, answer));
    }
    None
}

/// Client side: the `Sec-WebSocket-Extensions` offer for our preferences.
///
/// ```
/// use percore_ws::deflate::{client_offer, DeflateConfig};
/// let prefs = DeflateConfig { client_no_context_takeover: true, ..Default::default() };
/// assert_eq!(client_offer(&prefs), "permessage-deflate; client_no_context_takeover");
/// ```
pub fn client_offer(prefs: &DeflateConfig) -> String {
    let mut s = String::from("permessage-deflate");
    if prefs.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if prefs.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    s
}

/// Client side: checks the server's answer to [`client_offer`]`(prefs)`.
///
/// `value` is the whole `Sec-WebSocket-Extensions` response value. Returns the
/// negotiated parameters; `None` when the answer is invalid (must fail the
/// connection): not exactly one `permessage-deflate`, unknown or duplicate
/// parameters, `client_max_window_bits` (never offered by us), or a missing
/// `server_no_context_takeover` that we asked for.
pub fn parse_response(value: &str, prefs: &DeflateConfig) -> Option<DeflateConfig> {
    let exts = parse_extensions(value);
    let [(name, params)] = exts.as_slice() else {
        return None;
    };
    if name != "permessage-deflate" {
        return None;
    }
    let o = parse_offer(params)?;
    if o.client_max_window_bits_offered {
        return None;
    }
    if prefs.server_no_context_takeover && !o.server_no_context_takeover {
        return None;
    }
    Some(DeflateConfig {
        server_no_context_takeover: o.server_no_context_takeover,
        client_no_context_takeover: o.client_no_context_takeover
            || prefs.client_no_context_takeover,
        server_max_window_bits: o.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: 15,
        level: prefs.level,
    })
}

/// Why inflation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Output would exceed the limit.
    TooBig,
    /// The compressed data is invalid.
    Corrupt,
}

/// Per-connection compressor for outgoing messages.
pub(crate) struct Deflater {
    c: Compress,
    no_context_takeover: bool,
}

impl Deflater {
    pub(crate) fn new(level: u32, no_context_takeover: bool) -> Self {
        Deflater {
            c: Compress::new(Compression::new(level.min(9)), false),
            no_context_takeover,
        }
    }

    /// Compresses one whole message into `out` (cleared first), without the
    /// trailing `00 00 ff ff`. Returns false on an internal compressor error.
    pub(crate) fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        let mut consumed = 0usize;
        loop {
            let pos = out.len();
            let room = ((data.len() - consumed) / 2).clamp(256, 64 * 1024);
            out.resize(pos + room, 0);
            let (in0, out0) = (self.c.total_in(), self.c.total_out());
            let res = self
                .c
                .compress(&data[consumed..], &mut out[pos..], FlushCompress::Sync);
            let read = (self.c.total_in() - in0) as usize;
            let written = (self.c.total_out() - out0) as usize;
            consumed += read;
            out.truncate(pos + written);
            if res.is_err() {
                self.c.reset();
                return false;
            }
            if consumed >= data.len() && written < room {
                break;
            }
            if read == 0 && written == 0 {
                self.c.reset();
                return false;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.no_context_takeover {
            self.c.reset();
        }
        true
    }
}

/// Per-connection decompressor for incoming messages.
pub(crate) struct Inflater {
    d: Decompress,
    no_context_takeover: bool,
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(no_context_takeover: bool) -> Self {
        Inflater {
            d: Decompress::new(false),
            no_context_takeover,
            ended: false,
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
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let res = self
                .d
                .decompress(&input[consumed..], &mut out[pos..], FlushDecompress::Sync);
            let read = (self.d.total_in() - in0) as usize;
            let written = (self.d.total_out() - out0) as usize;
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

    /// Ends the message: feeds the tail and resets if required.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let r = self.inflate(&TAIL, out, limit);
        if self.no_context_takeover || self.ended {
            self.d.reset(false);
            self.ended = false;
        }
        r
    }

    /// Resets after an error.
    pub(crate) fn reset(&mut self) {
        self.d.reset(false);
        self.ended = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_hello() {
        // RFC 7692 §7.2.3.1: "Hello" compressed is f2 48 cd c9 c9 07 00.
        let mut inf = Inflater::new(false);
        let mut out = Vec::new();
        inf.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        inf.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
        // Context takeover: second "Hello" is f2 00 11 00 00.
        let mut out = Vec::new();
        inf.inflate(&[0xf2, 0x00, 0x11, 0x00, 0x00], &mut out, 100)
            .unwrap();
        inf.finish(&mut out, 100).unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn round_trip_and_limit() {
        for nct in [false, true] {
            let mut d = Deflater::new(6, nct);
            let mut i = Inflater::new(nct);
            for size in [0usize, 1, 100, 10_000, 300_000] {
                let data: Vec<u8> = (0..size)
                    .map(|x| (x % 251) as u8 ^ (x / 1000) as u8)
                    .collect();
                let mut z = Vec::new();
                assert!(d.compress(&data, &mut z));
                let mut out = Vec::new();
                i.inflate(&z, &mut out, size).unwrap();
                i.finish(&mut out, size).unwrap();
                assert_eq!(out, data);
            }
        }
        let mut d = Deflater::new(9, true);
        let zeros = vec![0u8; 10 << 20];
        let mut z = Vec::new();
        assert!(d.compress(&zeros, &mut z));
        assert!(z.len() < 20_000);
        let mut i = Inflater::new(true);
        let mut out = Vec::new();
        assert_eq!(i.inflate(&z, &mut out, 1 << 20), Err(InflateError::TooBig));
        assert!(out.capacity() <= (1 << 20) + 1);
    }

    #[test]
    fn negotiation() {
        let prefs = DeflateConfig::default();
        let cases: &[(&str, Option<&str>)] = &[
            ("permessage-deflate", Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                Some("permessage-deflate; server_max_window_bits=15"),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"15\"",
                Some("permessage-deflate; server_max_window_bits=15"),
            ),
            ("permessage-deflate; server_max_window_bits=9", None),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; server_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits=015", None),
            ("permessage-deflate; client_max_window_bits=7", None),
            ("permessage-deflate; foo", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            ("permessage-deflate; server_no_context_takeover=1", None),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                "permessage-deflate; server_max_window_bits=10, permessage-deflate",
                Some("permessage-deflate"),
            ),
            ("x-webkit-deflate-frame", None),
            ("", None),
        ];
        for (offer, want) in cases {
            let got = negotiate(&prefs, &parse_offers([*offer])).map(|x| x.1);
            assert_eq!(got.as_deref(), *want, "offer {offer:?}");
        }
        let forced = DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..prefs
        };
        let (cfg, s) = negotiate(&forced, &parse_offers(["permessage-deflate"])).unwrap();
        assert!(cfg.server_no_context_takeover && cfg.client_no_context_takeover);
        assert_eq!(
            s,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn client_response() {
        let prefs = DeflateConfig::default();
        assert!(parse_response("permessage-deflate", &prefs).is_some());
        let c = parse_response("permessage-deflate; server_max_window_bits=10", &prefs).unwrap();
        assert_eq!(c.server_max_window_bits, 10);
        assert!(parse_response("permessage-deflate; client_max_window_bits=10", &prefs).is_none());
        assert!(parse_response("permessage-deflate, permessage-deflate", &prefs).is_none());
        assert!(parse_response("x-foo", &prefs).is_none());
        let snct = DeflateConfig {
            server_no_context_takeover: true,
            ..prefs
        };
        assert!(parse_response("permessage-deflate", &snct).is_none());
    }
}
