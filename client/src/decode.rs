//! Content decoding of response bodies: gzip, deflate (zlib-wrapped or
//! raw, as servers send both) and brotli, fed in small slices so one piece
//! of input never inflates into more than a few MiB at once.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

/// Input bytes fed to an inflater at a time: bounds what one call can
/// produce (deflate expands at most ~1032:1).
const SLICE: usize = 4 * 1024;

/// A content coding this client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
    Brotli,
}

impl Coding {
    /// The coding a `Content-Encoding` value names, when this client
    /// decodes it (a single coding; lists are left alone).
    pub(crate) fn from_header(value: &[u8]) -> Option<Coding> {
        let v = value.trim_ascii();
        if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if v.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else if v.eq_ignore_ascii_case(b"br") {
            Some(Coding::Brotli)
        } else {
            None
        }
    }
}

/// The `Accept-Encoding` the client sends when it decodes.
pub(crate) const ACCEPT_ENCODING: &str = "gzip, deflate, br";

enum Inner {
    /// Deflate before its first byte says zlib or raw.
    DeflateUnknown,
    Gzip(GzDecoder<Vec<u8>>),
    Zlib(ZlibDecoder<Vec<u8>>),
    Raw(DeflateDecoder<Vec<u8>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
}

/// A streaming decoder of one body.
pub(crate) struct Decoder {
    inner: Inner,
}

impl Decoder {
    pub(crate) fn new(coding: Coding) -> Decoder {
        let inner = match coding {
            Coding::Gzip => Inner::Gzip(GzDecoder::new(Vec::new())),
            Coding::Deflate => Inner::DeflateUnknown,
            Coding::Brotli => Inner::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Vec::new(), SLICE),
            )),
        };
        Decoder { inner }
    }

    /// Decodes `input` (all of it); returns what it produced.
    pub(crate) fn feed(&mut self, input: &[u8]) -> io::Result<Bytes> {
        if input.is_empty() {
            return Ok(Bytes::new());
        }
        if let Inner::DeflateUnknown = self.inner {
            // A zlib header: CM = 8, CINFO <= 7, and a check over 2 bytes.
            let cmf = input[0];
            let zlib = cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && input.get(1).map_or(true, |&flg| {
                    (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0
                });
            self.inner = if zlib {
                Inner::Zlib(ZlibDecoder::new(Vec::new()))
            } else {
                Inner::Raw(DeflateDecoder::new(Vec::new()))
            };
        }
        let mut out = Vec::new();
        for piece in input.chunks(SLICE) {
            match &mut self.inner {
                Inner::DeflateUnknown => {}
                Inner::Gzip(d) => {
                    d.write_all(piece)?;
                    out.append(d.get_mut());
                }
                Inner::Zlib(d) => {
                    d.write_all(piece)?;
                    out.append(d.get_mut());
                }
                Inner::Raw(d) => {
                    d.write_all(piece)?;
                    out.append(d.get_mut());
                }
                Inner::Brotli(d) => {
                    d.write_all(piece)?;
                    out.append(d.get_mut());
                }
            }
        }
        Ok(Bytes::from(out))
    }

    /// The input has ended: the rest of the output, or an error when the
    /// coded stream was cut short.
    pub(crate) fn finish(&mut self) -> io::Result<Bytes> {
        let mut out = Vec::new();
        match &mut self.inner {
            Inner::DeflateUnknown => {}
            Inner::Gzip(d) => {
                d.try_finish()?;
                out.append(d.get_mut());
            }
            Inner::Zlib(d) => {
                d.try_finish()?;
                out.append(d.get_mut());
            }
            Inner::Raw(d) => {
                d.try_finish()?;
                out.append(d.get_mut());
            }
            Inner::Brotli(d) => {
                d.close()?;
                out.append(d.get_mut());
            }
        }
        Ok(Bytes::from(out))
    }
}
