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

/// A streaming decoder of one body. Its state is boxed: a response
/// carries an `Option<Decoder>` and is moved a few times on its way out,
/// and most responses are not coded.
pub(crate) struct Decoder {
    inner: Box<Inner>,
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
        Decoder {
            inner: Box::new(inner),
        }
    }

    /// Decodes `input` (all of it); returns what it produced.
    pub(crate) fn feed(&mut self, input: &[u8]) -> io::Result<Bytes> {
        if input.is_empty() {
            return Ok(Bytes::new());
        }
        if let Inner::DeflateUnknown = *self.inner {
            // A zlib header: CM = 8, CINFO <= 7, and a check over 2 bytes.
            let cmf = input[0];
            let zlib = cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && input
                    .get(1)
                    .is_none_or(|&flg| (u16::from(cmf) * 256 + u16::from(flg)) % 31 == 0);
            *self.inner = if zlib {
                Inner::Zlib(ZlibDecoder::new(Vec::new()))
            } else {
                Inner::Raw(DeflateDecoder::new(Vec::new()))
            };
        }
        let mut out = Vec::new();
        for piece in input.chunks(SLICE) {
            match &mut *self.inner {
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
        match &mut *self.inner {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn decode_in_pieces(coding: Coding, coded: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut d = Decoder::new(coding);
        let mut out = Vec::new();
        for p in coded.chunks(piece) {
            out.extend_from_slice(&d.feed(p)?);
        }
        out.extend_from_slice(&d.finish()?);
        Ok(out)
    }

    fn text() -> Vec<u8> {
        (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect()
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_round_trip() {
        let plain = text();
        let level = flate2::Compression::default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
        gz.write_all(&plain).unwrap();
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), level);
        zlib.write_all(&plain).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), level);
        raw.write_all(&plain).unwrap();
        let cases = [
            (Coding::Gzip, gz.finish().unwrap()),
            (Coding::Deflate, zlib.finish().unwrap()),
            (Coding::Deflate, raw.finish().unwrap()),
        ];
        for (coding, coded) in &cases {
            for piece in [1, 7, 4096, coded.len()] {
                assert_eq!(decode_in_pieces(*coding, coded, piece).unwrap(), plain);
            }
        }
    }

    #[test]
    fn truncated_or_corrupt_streams_fail() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text()).unwrap();
        let coded = gz.finish().unwrap();
        assert!(decode_in_pieces(Coding::Gzip, &coded[..coded.len() / 2], 100).is_err());
        assert!(decode_in_pieces(Coding::Gzip, b"not gzip at all", 100).is_err());
    }

    #[test]
    fn brotli_uncompressed_meta_block() {
        // WBITS 16, one uncompressed meta-block of 5 bytes, then ISLAST +
        // ISLASTEMPTY (RFC 7932 §9.2), written bit by bit.
        let coded = [0x40, 0x00, 0x10, b'h', b'e', b'l', b'l', b'o', 0x03];
        assert_eq!(
            decode_in_pieces(Coding::Brotli, &coded, 1).unwrap(),
            b"hello"
        );
        assert!(decode_in_pieces(Coding::Brotli, &coded[..6], 3).is_err());
    }

    #[test]
    fn codings_by_name() {
        assert_eq!(Coding::from_header(b" GZIP "), Some(Coding::Gzip));
        assert_eq!(Coding::from_header(b"x-gzip"), Some(Coding::Gzip));
        assert_eq!(Coding::from_header(b"br"), Some(Coding::Brotli));
        assert_eq!(Coding::from_header(b"gzip, br"), None);
        assert_eq!(Coding::from_header(b"identity"), None);
    }
}
