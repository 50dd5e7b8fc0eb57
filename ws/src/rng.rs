//! Masking-key source for clients.
//!
//! RFC 6455 §5.3 asks for unpredictable masking keys so that a script cannot
//! choose the bytes a proxy sees. The default source is a splitmix64 PRNG
//! seeded from `std::collections::hash_map::RandomState` (which the standard
//! library seeds from OS entropy), a process-wide counter and the clock. It is
//! fast but not cryptographically secure; use
//! [`Codec::with_mask_source`](crate::Codec::with_mask_source) for a CSPRNG.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh, hard-to-predict 64-bit seed.
pub(crate) fn seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    h.write_u64(now);
    h.finish()
}

/// splitmix64 step.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where client masking keys come from.
pub(crate) enum MaskSource {
    Prng { state: u64, spare: Option<[u8; 4]> },
    Custom(Box<dyn FnMut() -> [u8; 4] + Send>),
}

impl MaskSource {
    pub(crate) fn new() -> Self {
        MaskSource::Prng {
            state: seed(),
            spare: None,
        }
    }

    pub(crate) fn next_key(&mut self) -> [u8; 4] {
        match self {
            MaskSource::Custom(f) => f(),
            MaskSource::Prng { state, spare } => {
                if let Some(k) = spare.take() {
                    return k;
                }
                let v = splitmix(state).to_ne_bytes();
                *spare = Some([v[4], v[5], v[6], v[7]]);
                [v[0], v[1], v[2], v[3]]
            }
        }
    }
}
