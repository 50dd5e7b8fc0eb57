//! permessage-deflate negotiation (RFC 7692 §5, §7.1): the preferred or
//! agreed parameters, parsing offers and answers, choosing one.

/// Negotiated (or, as input to [`negotiate`] / [`client_offer`], preferred)
/// permessage-deflate parameters.
///
/// The default costs no compression state on an idle connection (see the
/// [module docs](super)); [`context_takeover`](Self::context_takeover) gives
/// the best ratio. Pick per route with
/// [`WebSocketUpgrade::deflate_config`](crate::WebSocketUpgrade::deflate_config).
///
/// ```
/// use percore_ws::deflate::DeflateConfig;
/// let lean = DeflateConfig::default();
/// assert!(lean.server_no_context_takeover && lean.client_no_context_takeover);
/// let best = DeflateConfig::context_takeover();
/// assert_eq!((best.server_max_window_bits, best.mem_level), (15, 8));
/// let custom = DeflateConfig { threshold: 0, level: 9, ..DeflateConfig::default() };
/// assert_eq!(custom.server_max_window_bits, 12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// Window bits the server compresses with (9..=15).
    pub server_max_window_bits: u8,
    /// Window bits the client compresses with (9..=15); asked of the client
    /// only when it offers `client_max_window_bits`.
    pub client_max_window_bits: u8,
    /// Compression level 0-9 used by our compressor.
    pub level: u32,
    /// zlib `memLevel` (1..=9) of our compressor: sizes its literal
    /// buffers (zlib-rs keeps a fixed 64 Ki-entry hash table).
    pub mem_level: u8,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    /// No context takeover, 12-bit windows, `memLevel` 5, level 6, messages
    /// under 128 bytes sent as they are.
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            level: 6,
            mem_level: 5,
            threshold: 128,
        }
    }
}

impl DeflateConfig {
    /// Best ratio: context takeover both ways, full 15-bit windows,
    /// `memLevel` 8, every message compressed. Costs per connection the
    /// compressor and decompressor state (about 340 KiB).
    ///
    /// ```
    /// use percore_ws::DeflateConfig;
    /// assert!(!DeflateConfig::context_takeover().server_no_context_takeover);
    /// ```
    pub fn context_takeover() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            level: 6,
            mem_level: 8,
            threshold: 0,
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
pub(super) fn parse_extensions(value: &str) -> Vec<(String, Params)> {
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
pub(super) fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

pub(super) fn parse_offer(params: &[(String, Option<String>)]) -> Option<Offer> {
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
/// added to the answer even if the client did not ask, its window bits are
/// upper bounds, and `level`, `mem_level` and `threshold` are copied.
/// Returns the negotiated parameters and the `Sec-WebSocket-Extensions`
/// response value, or `None` (answer without the extension).
///
/// ```
/// use percore_ws::deflate::{negotiate, parse_offers, DeflateConfig};
/// let offers = parse_offers([
///     "permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits",
/// ]);
/// let (cfg, answer) = negotiate(&DeflateConfig::default(), &offers).unwrap();
/// assert_eq!(
///     answer,
///     "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
///      server_max_window_bits=12; client_max_window_bits=12"
/// );
/// assert!(cfg.client_no_context_takeover);
/// ```
pub fn negotiate(prefs: &DeflateConfig, offers: &[Offer]) -> Option<(DeflateConfig, String)> {
    let ours_server = prefs.server_max_window_bits.clamp(9, 15);
    let ours_client = prefs.client_max_window_bits.clamp(9, 15);
    for o in offers {
        if matches!(o.server_max_window_bits, Some(b) if b < 9) {
            continue; // raw deflate cannot compress with an 8-bit window
        }
        let server_bits = o.server_max_window_bits.unwrap_or(15).min(ours_server);
        // Without `client_max_window_bits` in the offer we may not limit
        // the client's window: it may use 15 bits.
        let client_bits = if o.client_max_window_bits_offered {
            o.client_max_window_bits.unwrap_or(15).min(ours_client)
        } else {
            15
        };
        let cfg = DeflateConfig {
            server_no_context_takeover: o.server_no_context_takeover
                || prefs.server_no_context_takeover,
            client_no_context_takeover: o.client_no_context_takeover
                || prefs.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
            ..*prefs
        };
        let mut answer = String::from("permessage-deflate");
        if cfg.server_no_context_takeover {
            answer.push_str("; server_no_context_takeover");
        }
        if cfg.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if o.server_max_window_bits.is_some() || server_bits < 15 {
            answer.push_str(&format!("; server_max_window_bits={server_bits}"));
        }
        if o.client_max_window_bits_offered
            && (o.client_max_window_bits.is_some() || client_bits < 15)
        {
            answer.push_str(&format!("; client_max_window_bits={client_bits}"));
        }
        return Some((cfg, answer));
    }
    None
}

/// Client side: the `Sec-WebSocket-Extensions` offer for our preferences.
///
/// ```
/// use percore_ws::deflate::{client_offer, DeflateConfig};
/// let prefs = DeflateConfig { client_no_context_takeover: true, ..DeflateConfig::context_takeover() };
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
        ..*prefs
    })
}
