//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! Decoding walks a 4-bit-at-a-time state machine built once from the code
//! table; it rejects the EOS symbol and padding that is longer than 7 bits
//! or not a prefix of EOS (all ones).
//!
//! ```
//! use percore_http::h2::hpack::huffman;
//! let mut enc = Vec::new();
//! huffman::encode(b"www.example.com", &mut enc);
//! assert_eq!(enc, [0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]);
//! assert_eq!(huffman::encoded_len(b"www.example.com"), 12);
//! let mut dec = Vec::new();
//! huffman::decode(&enc, &mut dec).unwrap();
//! assert_eq!(dec, b"www.example.com");
//! ```

use std::sync::OnceLock;

use bytes::BufMut;

use super::huffman_table::CODES;
use super::HpackError;

/// The length in octets of the Huffman encoding of `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` (padded with ones) to `dst`.
pub fn encode<B: BufMut>(src: &[u8], dst: &mut B) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.put_u8((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        dst.put_u8(((acc << (8 - bits)) as u8) | (0xffu8 >> bits));
    }
}

const EMIT: u8 = 1;
const FAIL: u8 = 2;

#[derive(Clone, Copy, Default)]
struct Step {
    next: u8,
    sym: u8,
    flags: u8,
}

struct Machine {
    steps: Vec<[Step; 16]>,
    /// States where the input may end: the bits since the last symbol are
    /// at most 7 ones.
    accept: Vec<bool>,
}

/// A child in the code tree: an internal node or a symbol.
#[derive(Clone, Copy)]
enum Child {
    None,
    Node(usize),
    Leaf(u16),
}

fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(|| {
        // Build the code tree; node 0 is the root.
        let mut nodes: Vec<[Child; 2]> = vec![[Child::None; 2]];
        let mut accept = vec![true];
        for (sym, &(code, len)) in CODES.iter().enumerate() {
            let mut cur = 0usize;
            for i in (0..len).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[cur][bit] = Child::Leaf(sym as u16);
                } else {
                    cur = match nodes[cur][bit] {
                        Child::Node(n) => n,
                        _ => {
                            let n = nodes.len();
                            nodes.push([Child::None; 2]);
                            let depth = usize::from(len) - i as usize;
                            accept.push(depth <= 7 && bit == 1 && accept[cur]);
                            nodes[cur][bit] = Child::Node(n);
                            n
                        }
                    };
                }
            }
        }
        let steps = (0..nodes.len())
            .map(|state| {
                let mut row = [Step::default(); 16];
                for (nibble, step) in row.iter_mut().enumerate() {
                    let mut cur = state;
                    for i in (0..4).rev() {
                        match nodes[cur][(nibble >> i) & 1] {
                            Child::Leaf(256) | Child::None => step.flags |= FAIL,
                            Child::Leaf(sym) => {
                                step.sym = sym as u8;
                                step.flags |= EMIT;
                                cur = 0;
                            }
                            Child::Node(n) => cur = n,
                        }
                    }
                    step.next = cur as u8;
                }
                row
            })
            .collect();
        Machine { steps, accept }
    })
}

/// Appends the decoding of `src` to `dst`.
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HpackError> {
    let m = machine();
    dst.reserve(src.len() * 8 / 5);
    let mut state = 0usize;
    for &b in src {
        for nibble in [b >> 4, b & 0xf] {
            let step = m.steps[state][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HpackError::InvalidHuffman);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = usize::from(step.next);
        }
    }
    if m.accept[state] {
        Ok(())
    } else {
        Err(HpackError::InvalidHuffman)
    }
}
