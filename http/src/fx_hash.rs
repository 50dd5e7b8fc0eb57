//! [`FxHasher`]: a fast, unkeyed hash for tables whose keys an attacker
//! does not choose at scale (a connection's stream ids, a client's
//! origins, an app's own routes).
//!
//! The default `SipHash` is keyed against hash flooding and costs a
//! couple of hundred instructions per short key; this one folds a key in
//! eight bytes at a time with a rotate, a xor and a multiply (the
//! Firefox/rustc "Fx" hash), a few instructions per word. Use it only
//! where a crafted key can cost at most its own probe sequence: a table
//! whose keys come from the program itself, or whose size is capped per
//! connection.

use std::hash::{BuildHasherDefault, Hasher};

/// Fx-style hashing: each word folded in with a rotate, a xor and a
/// multiply; a key's last 1–7 bytes are read as one word (overlapping
/// loads, no `memcpy` call) with their count folded in.
///
/// ```
/// use std::collections::HashMap;
/// use std::hash::{BuildHasher, Hasher};
/// use percore_http::{FxBuildHasher, FxHasher};
///
/// let mut routes: HashMap<&str, u32, FxBuildHasher> = HashMap::default();
/// routes.insert("/plaintext", 1);
/// assert_eq!(routes.get("/plaintext"), Some(&1));
///
/// // Unkeyed: the same bytes give the same hash in every hasher.
/// let (mut a, mut b) = (FxHasher::default(), FxHasher::default());
/// a.write(b"127.0.0.1");
/// b.write(b"127.0.0.1");
/// assert_eq!(a.finish(), b.finish());
/// assert_eq!(FxBuildHasher::default().hash_one(7u32), FxBuildHasher::default().hash_one(7u32));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

/// Builds [`FxHasher`]s: the `S` of a `HashMap<K, V, S>`.
pub type FxBuildHasher = BuildHasherDefault<FxHasher>;

impl FxHasher {
    /// The Fx multiplier (from the Firefox/rustc hasher).
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

/// The first four bytes of `b` (at least four long) as a little-endian word.
#[inline]
fn first4(b: &[u8]) -> u64 {
    match b {
        [a, b, c, d, ..] => u64::from(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => 0,
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            self.add(u64::from_le_bytes(w));
        }
        // The last 1–7 bytes as one word from fixed-size loads: the first
        // and last four (overlapping) or the first, middle and last byte;
        // given the count, the word tells every byte apart.
        let rest = words.remainder();
        let n = rest.len();
        let tail = match n {
            0 => return,
            1..=3 => {
                let at = |i: usize| u64::from(rest.get(i).copied().unwrap_or(0));
                at(0) | at(n / 2) << 8 | at(n - 1) << 16
            }
            _ => first4(rest) | first4(rest.get(n - 4..).unwrap_or_default()) << 32,
        };
        self.add(tail ^ (n as u64) << 59);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    /// Rotated so a table's bucket index (the low bits) gets the
    /// product's well-mixed high bits, as rustc-hash 2 does (odd stream
    /// ids times an odd multiplier would all be odd otherwise).
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn hash_of(bytes: &[u8]) -> u64 {
        let mut h = FxHasher::default();
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn equal_keys_hash_alike_and_the_hasher_is_unkeyed() {
        let a = FxBuildHasher::default().hash_one("127.0.0.1");
        let b = FxBuildHasher::default().hash_one(String::from("127.0.0.1"));
        assert_eq!(a, b);
        assert_eq!(hash_of(b"abc"), hash_of(b"abc"));
    }

    /// Every prefix of a 40-byte key (each tail length over each number
    /// of whole words), and keys one byte apart at every position, hash
    /// apart: no byte of the tail is lost, nor its length.
    #[test]
    fn every_byte_and_the_length_count() {
        let key: Vec<u8> = (1..=40u8).collect();
        let prefixes: HashSet<u64> = (0..=key.len()).map(|n| hash_of(&key[..n])).collect();
        assert_eq!(prefixes.len(), key.len() + 1, "prefixes collide");
        for n in 1..=key.len() {
            for i in 0..n {
                let mut other = key[..n].to_vec();
                other[i] ^= 0x5a;
                assert_ne!(hash_of(&key[..n]), hash_of(&other), "len {n}, byte {i}");
            }
        }
        // Trailing zero bytes are not the same key as none.
        assert_ne!(hash_of(b"/pl"), hash_of(b"/pl\0"));
        assert_ne!(hash_of(b"\0"), hash_of(b""));
    }

    /// Odd stream ids (a client's, or a server's peer's) spread over the
    /// low bits a table indexes by.
    #[test]
    fn odd_ids_use_the_low_bits() {
        let low: HashSet<u64> = (0..256u32)
            .map(|i| FxBuildHasher::default().hash_one(2 * i + 1) & 0xff)
            .collect();
        assert!(low.len() > 128, "{} of 256 buckets", low.len());
    }

    #[test]
    fn integer_writes_fold_one_word_each() {
        let mut a = FxHasher::default();
        7u16.hash(&mut a);
        let mut b = FxHasher::default();
        b.write_u64(7);
        assert_eq!(a.finish(), b.finish());
    }
}
